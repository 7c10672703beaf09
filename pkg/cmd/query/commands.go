package query

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
	"github.com/extmetrics/extmetrics/pkg/cmd/connflags"
	"github.com/extmetrics/extmetrics/pkg/provider"
)

// NewCommands returns the query, list and status commands.
func NewCommands() []*cobra.Command {
	return []*cobra.Command{NewCommand(), NewListCommand(), NewStatusCommand()}
}

// newProvider turns connection-flag problems into usage errors (exit 2).
// newProvider validates the flags and builds the provider; a dangerous
// setting (provider.ConnInfo.Warning) is written to stderr.
func newProvider(f *connflags.Flags, stderr io.Writer) (*provider.Provider, error) {
	if err := f.Validate(); err != nil {
		return nil, cmdutil.Usage(err)
	}
	p, err := f.NewProvider()
	if err != nil {
		return nil, cmdutil.Usage(err)
	}
	if w := p.Info().Warning; w != "" {
		fmt.Fprintln(stderr, "WARNING:", w)
	}
	return p, nil
}

// checkOutput validates -o against the formats a command supports; "text"
// is accepted for "table" (the word analyze uses), so one set of -o values
// works everywhere: table|text, json, yaml.
func checkOutput(output *string, allowed ...string) error {
	if *output == "text" && slices.Contains(allowed, "table") {
		*output = "table"
	}
	for _, a := range allowed {
		if *output == a {
			return nil
		}
	}
	return cmdutil.Usagef("--output: unknown format %q (want %s)", *output, strings.Join(allowed, ", "))
}

// writeStructured prints v as indented JSON or as YAML.
func writeStructured(w io.Writer, format string, v any) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("unknown format %q", format)
}

// errMessage is the one-line stderr message for a provider error:
// "<query>: <kind>: <server message>".
func errMessage(err error) string {
	var pe *provider.Error
	if errors.As(err, &pe) && pe.Kind != nil {
		return pe.Summary()
	}
	return err.Error()
}

// commandContext is the command's context (cancelled by SIGINT/SIGTERM in main).
func commandContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
