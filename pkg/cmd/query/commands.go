package query

import "github.com/spf13/cobra"

// NewCommands returns the query, list and status commands (STUB; owner replaces).
func NewCommands() []*cobra.Command {
	return []*cobra.Command{NewCommand()}
}
