// Package query is the `extmetrics query` command (STUB written by the lead; its owner replaces it).
package query

import (
	"errors"

	"github.com/spf13/cobra"
)

// NewCommand returns the query command.
func NewCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "query",
		Short: "query (not implemented yet)",
		RunE:  func(*cobra.Command, []string) error { return errors.New("not implemented") },
	}
}
