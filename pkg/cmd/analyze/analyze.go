// Package analyze is the `extmetrics analyze` command: it loads Flagger Canary,
// MetricTemplate and Secret YAML (package flagger), runs the canary analyses
// against External Metrics API servers as Flagger would (package analysis),
// shows live progress and writes the reports (package report).
package analyze

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
	"github.com/extmetrics/extmetrics/pkg/cmd/connflags"
	"github.com/extmetrics/extmetrics/pkg/flagger"
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
	html      string
	quiet     bool
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
aggregation layer). --interval replaces every canary's analysis interval (for CI); --once
runs every check once and prints rendered query, value and range (a lint for templates).

Exit status: 0 every analysis succeeded, 1 an analysis failed or was interrupted,
2 configuration error (files, flags, templates).`,
		Example: `  extmetrics analyze -f canary.yaml -f templates/ --interval 10s
  extmetrics analyze -f examples/datadog/ --once
  kubectl get canary,metrictemplate -A -o yaml | extmetrics analyze -f - -o json --junit junit.xml --report report.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := c.Flags()
	fs.StringArrayVarP(&o.files, "filename", "f", nil, "file, directory or - (stdin) with Canary, MetricTemplate and Secret objects (repeatable)")
	fs.StringVarP(&o.namespace, "namespace", "n", flagger.DefaultNamespace, "namespace of objects without metadata.namespace")
	fs.DurationVar(&o.interval, "interval", 0, "analysis interval for every canary, replacing spec.analysis.interval (0: the canary's)")
	fs.BoolVar(&o.once, "once", false, "run every check once and report it, without the analysis loop")
	fs.StringVarP(&o.output, "output", "o", "text", "output format: text (summary table) or json (the report)")
	fs.StringVar(&o.junit, "junit", "", "write a JUnit XML report (one test case per metric check) to this file")
	fs.StringVar(&o.html, "report", "", "write a self-contained HTML report with a chart per metric to this file")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "no live progress and no notes on stderr")
	_ = c.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]cobra.Completion{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
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
	if o.output != "text" && o.output != "json" {
		return cmdutil.Usagef("--output %q: want text or json", o.output)
	}
	if o.interval < 0 {
		return cmdutil.Usagef("--interval %v: must not be negative", o.interval)
	}
	if err := o.conn.Validate(); err != nil {
		return cmdutil.Usage(err)
	}

	set, err := flagger.Load(o.files, flagger.Options{DefaultNamespace: o.namespace, Stdin: stdin})
	if err != nil {
		return cmdutil.Usage(err)
	}
	resolved, err := set.Resolve()
	if !o.quiet {
		for _, n := range set.Notes {
			fmt.Fprintln(stderr, "note:", n)
		}
	}
	if err != nil {
		return cmdutil.Usage(err)
	}
	if len(resolved) == 0 {
		return cmdutil.Usagef("no Canary (flagger.app/v1beta1) found in %v", o.files)
	}

	run := Run{
		Factory:  o.factory(),
		Interval: o.interval,
		Once:     o.once,
		Format:   o.output,
		JUnit:    o.junit,
		HTML:     o.html,
		Stdout:   stdout,
	}
	if !o.quiet {
		run.Progress, run.Log = stderr, stderr
	}
	rep, err := run.Execute(ctx, resolved)
	if err != nil {
		return err
	}
	for _, c := range rep.Canaries {
		if c.Verdict != analysis.Succeeded {
			return cmdutil.Silent(cmdutil.ExitFailure)
		}
	}
	return nil
}

// Run is the part of `extmetrics analyze` after loading: it runs the
// analysis of resolved canaries with live progress, prints the result and
// writes the report files. `extmetrics demo` shares it.
type Run struct {
	// Factory builds the providers (required).
	Factory analysis.ProviderFactory
	// Interval, when > 0, replaces every canary's analysis interval.
	Interval time.Duration
	// Once runs every check once instead of the analysis loop.
	Once bool
	// Format of the result on Stdout: "text" (summary table, the default),
	// "json" (the report) or "none".
	Format string
	// Files to write ("" for none): the JSON report, JUnit XML, HTML page.
	JSON, JUnit, HTML string
	// Stdout receives the result (nil: discarded).
	Stdout io.Writer
	// Progress, when set, receives live progress (in place when it is a
	// terminal, else one line per event).
	Progress io.Writer
	// Log, when set, receives one "wrote FILE" line per file written.
	Log io.Writer
}

// Execute runs the analysis and writes its result. The report is returned
// whatever the verdicts (an interrupted run gives a partial report with
// Aborted canaries, written like any other). Errors carry exit codes
// (package cmdutil): a configuration problem found before any query ran is
// a usage error (2); a file or output that could not be written is a
// failure (1), returned together with the report.
func (r *Run) Execute(ctx context.Context, resolved []*flagger.Resolved) (*analysis.Report, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	var observer analysis.Observer
	if r.Progress != nil {
		f, _ := r.Progress.(*os.File)
		observer = report.NewProgress(r.Progress, report.IsTerminal(f))
	}
	engine := analysis.New(analysis.Options{Factory: r.Factory, Interval: r.Interval, Observer: observer})
	var (
		rep *analysis.Report
		err error
	)
	if r.Once {
		rep, err = engine.Once(ctx, resolved)
	} else {
		rep, err = engine.Run(ctx, resolved)
	}
	if err != nil {
		return nil, cmdutil.Usage(err)
	}
	if err := r.write(rep); err != nil {
		return rep, cmdutil.Failure(err)
	}
	return rep, nil
}

// factory builds providers: a template with an address is self-contained
// (its secret gives token and CA, as in Flagger); one without uses --server,
// else the kubeconfig's cluster, loaded only when such a template exists.
// The connection flags' options (timeout, files) apply to all.
func (o *options) factory() analysis.ProviderFactory {
	var (
		once    sync.Once
		base    *rest.Config
		baseErr error
	)
	opts := o.conn.Options()
	return func(spec provider.Spec) (analysis.Querier, error) {
		var b *rest.Config
		if spec.Address == "" {
			once.Do(func() { base, baseErr = o.conn.BaseConfig() })
			if baseErr != nil {
				return nil, fmt.Errorf("no spec.provider.address, so the cluster's aggregation layer is used: %w", baseErr)
			}
			b = base
			flagSpec := o.conn.Spec()
			spec.Address = flagSpec.Address
			spec.InsecureSkipVerify = spec.InsecureSkipVerify || flagSpec.InsecureSkipVerify
			if tok, ok := flagSpec.SecretData[provider.SecretKeyToken]; ok {
				if _, has := spec.SecretData[provider.SecretKeyToken]; !has {
					if spec.SecretData == nil {
						spec.SecretData = map[string][]byte{}
					}
					spec.SecretData[provider.SecretKeyToken] = tok
				}
			}
		}
		p, err := provider.New(b, spec, opts)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
}

// write prints the report (summary table or JSON) and writes the files.
func (r *Run) write(rep *analysis.Report) error {
	var errs []error
	for _, f := range []struct {
		path  string
		write func(io.Writer, *analysis.Report) error
	}{{r.JSON, report.WriteJSON}, {r.JUnit, report.WriteJUnit}, {r.HTML, report.WriteHTML}} {
		if f.path != "" {
			errs = append(errs, writeFile(f.path, rep, f.write, r.Log))
		}
	}
	stdout := r.Stdout
	if stdout == nil {
		stdout = io.Discard
	}
	switch r.Format {
	case "json":
		errs = append(errs, report.WriteJSON(stdout, rep))
	case "none":
	default:
		if r.Once {
			errs = append(errs, report.WriteChecks(stdout, rep))
		} else {
			errs = append(errs, report.WriteSummary(stdout, rep))
		}
	}
	return errors.Join(errs...)
}

func writeFile(path string, rep *analysis.Report, write func(io.Writer, *analysis.Report) error, log io.Writer) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	err = write(bw, rep)
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if log != nil {
		fmt.Fprintln(log, "wrote", path)
	}
	return nil
}
