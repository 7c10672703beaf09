package query

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
	"github.com/extmetrics/extmetrics/pkg/cmd/connflags"
)

// ListOutput is the -o json|yaml output of list.
type ListOutput struct {
	Server  string   `json:"server"`
	Metrics []string `json:"metrics"`
}

// NewListCommand returns the list command.
func NewListCommand() *cobra.Command {
	var (
		conn   connflags.Flags
		output string
	)
	c := &cobra.Command{
		Use:   "list",
		Short: "List the metric names the server advertises",
		Long: `List the metric names the server advertises in its discovery document for
external.metrics.k8s.io/v1beta1, one per line. Some servers (the Datadog Cluster Agent, KEDA)
advertise only a placeholder or nothing; their metrics can be queried all the same.`,
		Example: `  extmetrics list --server https://127.0.0.1:8443 --ca-file ca.crt --token-file token
  extmetrics list -o json                  # through the kubeconfig's cluster (the aggregation layer)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(&output, "table", "json", "yaml"); err != nil {
				return err
			}
			p, err := newProvider(&conn, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			names, err := p.List(commandContext(cmd))
			if err != nil {
				return cmdutil.Failure(fmt.Errorf("%s", errMessage(err)))
			}
			sort.Strings(names)
			if output != "table" {
				if names == nil {
					names = []string{}
				}
				return writeStructured(cmd.OutOrStdout(), output, ListOutput{Server: p.Server(), Metrics: names})
			}
			for _, n := range names {
				fmt.Fprintln(cmd.OutOrStdout(), n)
			}
			if len(names) == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "Warning: %s advertises no external metrics\n", p.Server())
			}
			return nil
		},
	}
	conn.AddFlags(c.Flags())
	c.Flags().StringVarP(&output, "output", "o", "table", "output format: table (one name per line), json or yaml")
	return c
}
