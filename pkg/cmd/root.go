// Package cmd assembles the extmetrics command tree from one package per
// subcommand, as kind does; main only calls Main.
package cmd

import (
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/extmetrics/extmetrics/pkg/cmd/analyze"
	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
	"github.com/extmetrics/extmetrics/pkg/cmd/demo"
	"github.com/extmetrics/extmetrics/pkg/cmd/devserver"
	"github.com/extmetrics/extmetrics/pkg/cmd/doctor"
	"github.com/extmetrics/extmetrics/pkg/cmd/gate"
	"github.com/extmetrics/extmetrics/pkg/cmd/loadtest"
	"github.com/extmetrics/extmetrics/pkg/cmd/migrate"
	"github.com/extmetrics/extmetrics/pkg/cmd/query"
	"github.com/extmetrics/extmetrics/pkg/cmd/version"
)

// NewRoot returns the root command with every subcommand.
func NewRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "extmetrics",
		Short:         "Judge canaries with metrics from the Kubernetes External Metrics API",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	if strings.HasPrefix(filepath.Base(os.Args[0]), "kubectl-") {
		// Installed as a kubectl plugin: help reads "kubectl extmetrics ...".
		root.Use = "kubectl extmetrics"
		root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl extmetrics"}
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cmdutil.Usage(err) })
	root.AddCommand(version.NewCommand(), devserver.NewCommand(), analyze.NewCommand(), demo.NewCommand(), loadtest.NewCommand())
	root.AddCommand(gate.NewCommand())
	root.AddCommand(query.NewCommands()...)
	root.AddCommand(migrate.NewCommand())
	root.AddCommand(doctor.NewCommand())
	for _, c := range root.Commands() {
		wrapArgs(c)
	}
	return root
}

// wrapArgs makes argument-count errors usage errors (exit 2).
func wrapArgs(c *cobra.Command) {
	if c.Args != nil {
		check := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return cmdutil.Usage(err)
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		wrapArgs(sub)
	}
}

// Main runs the command line and returns the process exit code.
// SIGINT and SIGTERM cancel the command's context.
func Main(args []string, stdout, stderr io.Writer) int {
	return cmdutil.Execute(NewRoot(), args, stdout, stderr)
}
