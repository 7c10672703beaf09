package query

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
	"github.com/extmetrics/extmetrics/pkg/cmd/connflags"
	"github.com/extmetrics/extmetrics/pkg/provider"
	grammar "github.com/extmetrics/extmetrics/pkg/query"
	"github.com/extmetrics/extmetrics/pkg/report"
)

// now is the clock ages are computed with.
var now = time.Now

// ItemOutput is one item in -o json|yaml output.
type ItemOutput struct {
	MetricName    string            `json:"metricName"`
	Labels        map[string]string `json:"labels,omitempty"`
	Timestamp     time.Time         `json:"timestamp"`
	Age           string            `json:"age"`
	WindowSeconds *int64            `json:"windowSeconds,omitempty"`
	Value         float64           `json:"value"`
	Quantity      string            `json:"quantity"`
}

// ResultOutput is one query's result in -o json|yaml output. Several queries
// print a list of them, one query a single object.
type ResultOutput struct {
	Query     string       `json:"query"`
	Value     float64      `json:"value"`
	Aggregate string       `json:"aggregate"`
	Matched   int          `json:"matched"`
	Latency   string       `json:"latency"`
	Items     []ItemOutput `json:"items"`
}

// NewCommand returns the query command.
func NewCommand() *cobra.Command {
	var (
		conn   connflags.Flags
		output string
	)
	c := &cobra.Command{
		Use:   "query QUERY...",
		Short: "Run External Metrics queries and print their items and resulting value",
		Long: `Run one or more queries against an External Metrics API server and print every item
the server returned (metric, labels, value, timestamp, age) and the one value a canary check sees.

A query is ` + grammar.Grammar + `
(docs/query-grammar.md). When several items match and aggregate is first (the default, as in
Flagger), a warning goes to stderr.

Exit status: 0 success, 1 a query failed (typed message on stderr), 2 usage error.`,
		Example: `  extmetrics query 'default/requests?labelSelector=app=web'
  extmetrics query --server https://127.0.0.1:8443 --ca-file ca.crt --token-file token 'prod/latency?aggregate=max&maxAge=2m'
  extmetrics query -o value requests`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmdutil.Usagef("give a query: %s, e.g. extmetrics query 'default/requests?labelSelector=app=web'", grammar.Grammar)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runQuery(cmd, &conn, output, args)
		},
		ValidArgsFunction: func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return completeMetrics(commandContext(cmd), &conn, toComplete)
		},
	}
	conn.AddFlags(c.Flags())
	c.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json, yaml or value (only the number)")
	_ = c.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(
		[]cobra.Completion{"table", "json", "yaml", "value"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

func runQuery(cmd *cobra.Command, conn *connflags.Flags, output string, args []string) error {
	if err := checkOutput(&output, "table", "json", "yaml", "value"); err != nil {
		return err
	}
	queries := make([]grammar.Query, len(args))
	for i, a := range args {
		q, err := grammar.Parse(a)
		if err != nil {
			return cmdutil.Usage(err)
		}
		queries[i] = q
	}
	// query shows every item, so it takes the first like Flagger and warns;
	// analyze fails such a check (provider.ErrAmbiguous).
	conn.MultiItem = provider.MultiItemFirst
	p, err := newProvider(conn, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	ctx := commandContext(cmd)
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	var results []ResultOutput
	failed := 0
	for _, q := range queries {
		res, err := p.Query(ctx, q.String())
		if err != nil {
			failed++
			fmt.Fprintf(stderr, "Error: %s\n", errMessage(err))
			continue
		}
		if res.Matched > 1 && q.Aggregate == "" {
			fmt.Fprintf(stderr, "Warning: %s: %d items matched and aggregate is first: using the first one, as Flagger does; "+
				"`extmetrics analyze` fails such a check (ambiguous) unless --multi-item=first; "+
				"narrow the labelSelector or add aggregate=sum|avg|min|max|count\n", res.Query, res.Matched)
		} else if res.Matched > 1 && res.Aggregate == grammar.First {
			fmt.Fprintf(stderr, "Warning: %s: %d items matched and aggregate is first: using the first one\n", res.Query, res.Matched)
		}
		results = append(results, toOutput(res))
	}
	switch output {
	case "value":
		for _, r := range results {
			fmt.Fprintln(stdout, formatValue(r.Value))
		}
	case "table":
		for i, r := range results {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			writeTable(stdout, r)
		}
	default:
		var v any = results
		if len(args) == 1 {
			if len(results) == 0 {
				v = nil
			} else {
				v = results[0]
			}
		} else if results == nil {
			v = []ResultOutput{}
		}
		if v != nil {
			if err := writeStructured(stdout, output, v); err != nil {
				return cmdutil.Failure(err)
			}
		}
	}
	if failed > 0 {
		return cmdutil.Silent(cmdutil.ExitFailure)
	}
	return nil
}

func toOutput(res *provider.Result) ResultOutput {
	t := now()
	out := ResultOutput{
		Query:     res.Query,
		Value:     res.Value,
		Aggregate: res.Aggregate,
		Matched:   res.Matched,
		Latency:   report.FormatDuration(res.Latency),
		Items:     make([]ItemOutput, 0, len(res.Items)),
	}
	for _, it := range res.Items {
		age := "unknown"
		if !it.Timestamp.IsZero() {
			age = report.FormatDuration(t.Sub(it.Timestamp).Round(time.Second))
		}
		out.Items = append(out.Items, ItemOutput{
			MetricName: it.MetricName, Labels: it.Labels, Timestamp: it.Timestamp, Age: age,
			WindowSeconds: it.WindowSeconds, Value: it.Value, Quantity: it.Quantity,
		})
	}
	return out
}

func formatValue(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func formatLabels(l map[string]string) string {
	if len(l) == 0 {
		return "<none>"
	}
	keys := slices.Sorted(maps.Keys(l))
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(l[k])
	}
	return b.String()
}

func writeTable(w io.Writer, r ResultOutput) {
	fmt.Fprintf(w, "QUERY: %s\n", r.Query)
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "METRIC\tLABELS\tVALUE\tTIMESTAMP\tAGE")
	for _, it := range r.Items {
		ts := "<none>"
		if !it.Timestamp.IsZero() {
			ts = it.Timestamp.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", it.MetricName, formatLabels(it.Labels), formatValue(it.Value), ts, it.Age)
	}
	tw.Flush()
	items := "items"
	if r.Matched == 1 {
		items = "item"
	}
	fmt.Fprintf(w, "VALUE: %s (%s of %d %s, latency %s)\n", formatValue(r.Value), r.Aggregate, r.Matched, items, r.Latency)
}

// completeMetrics completes metric names from the server's discovery list,
// keeping a typed "namespace/" prefix. Without a reachable server it offers
// nothing (and no file names).
func completeMetrics(ctx context.Context, conn *connflags.Flags, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	const directive = cobra.ShellCompDirectiveNoFileComp
	if strings.ContainsAny(toComplete, "?&") {
		return nil, directive
	}
	prefix, partial := "", toComplete
	if i := strings.LastIndexByte(toComplete, '/'); i >= 0 {
		prefix, partial = toComplete[:i+1], toComplete[i+1:]
	}
	if conn.Validate() != nil {
		return nil, directive
	}
	p, err := conn.NewProvider()
	if err != nil {
		return nil, directive
	}
	ctx, cancel := context.WithTimeout(ctx, min(p.Timeout(), 3*time.Second))
	defer cancel()
	names, err := p.List(ctx)
	if err != nil {
		return nil, directive
	}
	var out []cobra.Completion
	for _, n := range names {
		if strings.HasPrefix(n, partial) {
			out = append(out, prefix+n)
		}
	}
	return out, directive
}
