// Package version is the `extmetrics version` command.
package version

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
	v "github.com/extmetrics/extmetrics/pkg/version"
)

// NewCommand returns the version command.
func NewCommand() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "version",
		Short: "Print the extmetrics version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := v.Get()
			switch output {
			case "", "text":
				fmt.Fprintln(cmd.OutOrStdout(), info.String())
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			default:
				return cmdutil.Usagef("--output: unknown format %q (want text or json)", output)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return c
}
