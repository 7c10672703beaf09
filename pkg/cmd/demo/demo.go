// Package demo is the `extmetrics demo` command (STUB written by the lead; its owner replaces it).
package demo

import (
	"errors"

	"github.com/spf13/cobra"
)

// NewCommand returns the demo command.
func NewCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "demo (not implemented yet)",
		RunE:  func(*cobra.Command, []string) error { return errors.New("not implemented") },
	}
}
