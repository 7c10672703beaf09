// Package devserver is the `extmetrics devserver` command (STUB written by the lead; its owner replaces it).
package devserver

import (
	"errors"

	"github.com/spf13/cobra"
)

// NewCommand returns the devserver command.
func NewCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "devserver",
		Short: "devserver (not implemented yet)",
		RunE:  func(*cobra.Command, []string) error { return errors.New("not implemented") },
	}
}
