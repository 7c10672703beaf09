// Package loadtest is the `extmetrics loadtest` command (STUB written by the lead; its owner replaces it).
package loadtest

import (
	"errors"

	"github.com/spf13/cobra"
)

// NewCommand returns the loadtest command.
func NewCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "loadtest",
		Short: "loadtest (not implemented yet)",
		RunE:  func(*cobra.Command, []string) error { return errors.New("not implemented") },
	}
}
