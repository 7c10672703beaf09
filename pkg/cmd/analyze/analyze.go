// Package analyze is the `extmetrics analyze` command (STUB written by the lead; its owner replaces it).
package analyze

import (
	"errors"

	"github.com/spf13/cobra"
)

// NewCommand returns the analyze command.
func NewCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "analyze",
		Short: "analyze (not implemented yet)",
		RunE:  func(*cobra.Command, []string) error { return errors.New("not implemented") },
	}
}
