// Package analyze is the `extmetrics analyze` command: it wires its flags to
// the library's entry point, analysis.Load and analysis.Runner (Flagger
// Canary, MetricTemplate and Secret YAML run against External Metrics API
// servers as Flagger would, with the connection rule of analysis.Connection),
// shows live progress and writes the reports (report.WriteFiles).
package analyze

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
	"github.com/extmetrics/extmetrics/pkg/cmd/connflags"
	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/gate"
	"github.com/extmetrics/extmetrics/pkg/provider"
	"github.com/extmetrics/extmetrics/pkg/report"
)

// options are the command's flags.
type options struct {
	conn      connflags.Flags
	files     []string
	namespace string
	interval  time.Duration
	once      bool
	output    string
	junit     string
	json      string
	html      string
	quiet     bool
	multiItem string
	maxAge    string
	compat    string
	overrides []string
	gateConf  string
}

// NewCommand returns the analyze command.
func NewCommand() *cobra.Command {
	o := &options{}
	c := &cobra.Command{
		Use:   "analyze -f FILE|DIR|- [-f ...]",
		Short: "Run Flagger canary analyses against External Metrics API servers",
		Long: `Load Flagger Canary, MetricTemplate and Secret objects (YAML or JSON files, directories of
*.yaml/*.yml/*.json, or - for stdin; multi-document) and run each canary's analysis as Flagger
would: every analysis interval all metric checks run; a run with a failed check counts one failed
check and does not advance; reaching analysis.threshold fails the canary; passing every step
(stepWeight/stepWeights up to maxWeight, or iterations) succeeds. Only MetricTemplates with
provider type externalmetrics are run. Query errors, missing or stale data are failed checks.

A template without spec.provider.address uses --server, else the kubeconfig's cluster (the
aggregation layer). A template's address wins over --server; --address-override OLD=NEW points
templates naming OLD at NEW without editing YAML. --interval replaces every canary's analysis interval (for CI); --once
runs every check once and prints rendered query, value and range (a lint for templates).

Webhooks of type rollout or pre-rollout whose url calls an extmetrics gate (path ending in
/flagger/v1/check) run in-process with the gate's own code and semantics (absolute and relative
checks), reported like metrics as webhook/<name>; --gate-config names the gate's --config file
for their metadata.provider.

Exit status: 0 every analysis succeeded, 1 an analysis failed or was interrupted,
2 configuration error (files, flags, templates).`,
		Example: `  extmetrics analyze -f canary.yaml -f templates/ --interval 10s
  extmetrics analyze -f examples/datadog/ --once
  kubectl get canary,metrictemplate -A -o yaml | extmetrics analyze -f - -o json --junit junit.xml --report report.html`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return cmdutil.Usagef("unexpected argument %q: give files and directories with -f (extmetrics analyze -f %s)", args[0], args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := c.Flags()
	fs.StringArrayVarP(&o.files, "filename", "f", nil, "file, directory or - (stdin) with Canary, MetricTemplate and Secret objects (repeatable)")
	fs.StringVarP(&o.namespace, "namespace", "n", flagger.DefaultNamespace, "namespace of objects without metadata.namespace")
	fs.DurationVar(&o.interval, "interval", 0, "analysis interval for every canary, replacing spec.analysis.interval (0: the canary's)")
	fs.BoolVar(&o.once, "once", false, "run every check once and report it, without the analysis loop")
	fs.StringVarP(&o.output, "output", "o", "text", "output format: text (summary table; also table), json or yaml (the report)")
	fs.StringVar(&o.json, "json", "", "write the JSON report to this file")
	fs.StringVar(&o.junit, "junit", "", "write a JUnit XML report (one test case per metric check) to this file")
	fs.StringVar(&o.html, "report", "", "write a self-contained HTML report with a chart per metric to this file")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "no live progress and no notes on stderr")
	fs.StringVar(&o.multiItem, "multi-item", string(provider.MultiItemFail), "a query without aggregate= that matches several items: fail (the check fails, kind ambiguous) or first (take the first item, as Flagger does)")
	fs.StringVar(&o.maxAge, "max-age", "auto", "fail checks on data older than this when the query has no maxAge= (auto: 3 analysis intervals, at least 5m; 0 turns it off)")
	fs.StringArrayVar(&o.overrides, "address-override", nil, "OLD=NEW: use NEW wherever a MetricTemplate's spec.provider.address is OLD (a host:port, or a whole https:// address); repeatable. The template's secret still applies")
	fs.StringVar(&o.compat, "flagger-compat", string(analysis.FlaggerCompatWarn), "templates real Flagger would treat differently (trailing newline, aggregate=, maxAge=): warn (a note in every output) or strict (their checks fail)")
	fs.StringVar(&o.gateConf, "gate-config", "", "the extmetrics gate's --config file (its named providers): webhooks that call a gate (url .../flagger/v1/check) with metadata provider: NAME read through it")
	_ = c.MarkFlagFilename("gate-config", "yaml", "yml")
	_ = c.RegisterFlagCompletionFunc("flagger-compat", cobra.FixedCompletions([]cobra.Completion{"warn", "strict"}, cobra.ShellCompDirectiveNoFileComp))
	_ = c.RegisterFlagCompletionFunc("multi-item", cobra.FixedCompletions([]cobra.Completion{"fail", "first"}, cobra.ShellCompDirectiveNoFileComp))
	_ = c.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]cobra.Completion{"text", "table", "json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	_ = c.MarkFlagFilename("filename", "yaml", "yml", "json")
	o.conn.AddFlags(fs)
	return c
}

func (o *options) run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if len(o.files) == 0 {
		return cmdutil.Usagef("give the Canary and MetricTemplate files with -f FILE|DIR|-")
	}
	switch o.output {
	case "table": // the word query, list and status use
		o.output = "text"
	case "text", "json", "yaml":
	default:
		return cmdutil.Usagef("--output %q: want text (or table), json or yaml", o.output)
	}
	if o.interval < 0 {
		return cmdutil.Usagef("--interval %v: must not be negative", o.interval)
	}
	if err := o.conn.Validate(); err != nil {
		return cmdutil.Usage(err)
	}
	mi, err := provider.ParseMultiItem(o.multiItem)
	if err != nil {
		return cmdutil.Usagef("--multi-item %v", err)
	}
	o.conn.MultiItem = mi
	maxAge, err := analysis.ParseMaxAge(o.maxAge)
	if err != nil {
		return cmdutil.Usagef("--max-age %v", err)
	}
	compat, err := analysis.ParseFlaggerCompat(o.compat)
	if err != nil {
		return cmdutil.Usagef("--flagger-compat %v", err)
	}
	var overrides []analysis.AddressOverride
	for _, ov := range o.overrides {
		a, err := analysis.ParseAddressOverride(ov)
		if err != nil {
			return cmdutil.Usagef("--address-override %v", err)
		}
		overrides = append(overrides, a)
	}
	// Report destinations are checked before any query runs.
	if err := report.CheckOutputs(report.Output{Name: "--json", Path: o.json}, report.Output{Name: "--junit", Path: o.junit}, report.Output{Name: "--report", Path: o.html}); err != nil {
		return cmdutil.Usage(err)
	}

	var gateConfig *gate.Config
	if o.gateConf != "" {
		if gateConfig, err = gate.LoadConfig(o.gateConf); err != nil {
			return cmdutil.Usagef("--gate-config: %v", err)
		}
	}

	set, resolved, notes, err := analysis.LoadSet(o.files, flagger.Options{DefaultNamespace: o.namespace, Stdin: stdin})
	if !o.quiet {
		for _, n := range flagger.SummarizeNotes(notes) {
			fmt.Fprintln(stderr, "note:", n)
		}
	}
	if err != nil {
		return cmdutil.Usage(err)
	}

	runner := analysis.Runner{
		Connection: analysis.Connection{Base: o.conn.BaseConfig, Default: o.conn.Spec(), Options: o.conn.Options(), Overrides: overrides},
		Interval:   o.interval,
		MaxAge:     maxAge,
		Once:       o.once,

		FlaggerCompat: compat,
	}
	runner.Factory = warnings(runner.Connection.Factory(), stderr)
	if gateConfig != nil || hasGateChecks(resolved) {
		// Webhooks that call the gate run in-process on the gate's code
		// path, over the objects loaded and with analyze's connection.
		g, err := gate.New(gate.Options{Config: gateConfig, Objects: gate.NewSetObjects(set), Factory: runner.Factory, MaxAge: maxAge})
		if err != nil {
			return cmdutil.Usagef("--gate-config: %v", err)
		}
		runner.Gate = g
	}
	if !o.quiet {
		runner.Observer = report.NewProgressTo(stderr)
	}
	rep, err := runner.Run(ctx, resolved)
	if err != nil {
		return cmdutil.Usage(err)
	}
	var log io.Writer
	if !o.quiet {
		log = stderr
	}
	files := report.WriteFiles(rep, report.Files{JSON: o.json, JUnit: o.junit, HTML: o.html}, log)
	var out error
	switch {
	case o.output == "json":
		out = report.WriteJSON(stdout, rep)
	case o.output == "yaml":
		out = report.WriteYAML(stdout, rep)
	case o.once:
		out = report.WriteChecks(stdout, rep)
	default:
		out = report.WriteSummary(stdout, rep)
	}
	if files != nil {
		// The analysis finished; only writing its result failed. Say which
		// file and what the verdict was, so exit 1 is not read as a failed
		// canary.
		return cmdutil.Failure(fmt.Errorf("writing the results failed: %w\nthe analysis itself finished: %s (exit status 1 is for the failed write)", errors.Join(files, out), report.Verdicts(rep)))
	}
	if out != nil {
		return cmdutil.Failure(out)
	}
	for _, c := range rep.Canaries {
		if c.Verdict != analysis.Succeeded {
			return cmdutil.Silent(cmdutil.ExitFailure)
		}
	}
	return nil
}

func hasGateChecks(resolved []*flagger.Resolved) bool {
	for _, r := range resolved {
		if len(r.GateChecks) > 0 {
			return true
		}
	}
	return false
}

// warnings wraps a factory to print each provider's ConnInfo.Warning (e.g.
// a token over plain http:// to a remote host) once.
func warnings(f analysis.ProviderFactory, stderr io.Writer) analysis.ProviderFactory {
	var mu sync.Mutex
	seen := map[string]bool{}
	return func(spec provider.Spec) (analysis.Querier, error) {
		q, err := f(spec)
		if p, ok := q.(interface{ Info() provider.ConnInfo }); ok && err == nil {
			if w := p.Info().Warning; w != "" {
				mu.Lock()
				if !seen[w] {
					seen[w] = true
					fmt.Fprintln(stderr, "WARNING:", w)
				}
				mu.Unlock()
			}
		}
		return q, err
	}
}
