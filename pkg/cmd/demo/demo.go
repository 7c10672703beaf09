// Package demo is the `extmetrics demo` command: the whole story without a
// cluster. It starts two development External Metrics API servers in-process
// (package devserver: HTTPS on 127.0.0.1 with a generated CA and a random
// token), one imitating prometheus-adapter and one the Datadog Cluster
// Agent, each on the scenario of its example (examples/prometheus-adapter
// and examples/datadog, embedded by package examples). It then runs the two
// examples' canaries concurrently with a short interval through the same
// library entry point as `extmetrics analyze` (analysis.Runner and
// report.WriteFiles): live progress, the summary
// table, and the JSON, JUnit and HTML reports in --out. The healthy canary
// is scripted to succeed and the Datadog one to fail; the command exits 0
// when both verdicts come out as scripted, else 1 saying which differed.
// Ctrl-C ends the canaries Aborted, writes the partial reports and exits 1.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/extmetrics/extmetrics/examples"
	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/provider"
	"github.com/extmetrics/extmetrics/pkg/report"
)

// Defaults of the flags.
const (
	DefaultInterval = 2 * time.Second
	DefaultOut      = "extmetrics-demo"
)

// Report file names inside --out.
const (
	FileJSON  = "report.json"
	FileJUnit = "junit.xml"
	FileHTML  = "report.html"
)

// DemoExamples are the example directories the demo runs: the healthy
// prometheus-adapter canary and the failing Datadog one.
var DemoExamples = []string{"prometheus-adapter", "datadog"}

type options struct {
	interval time.Duration
	out      string
	quiet    bool
	// examples run (tests change expected verdicts through this).
	examples []examples.Example
}

// NewCommand returns the demo command.
func NewCommand() *cobra.Command { return newCommand(&options{}) }

func newCommand(o *options) *cobra.Command {
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run two canaries against in-process development servers: one healthy, one failing",
		Long: `Start two development External Metrics API servers in-process (HTTPS on
127.0.0.1, a generated CA, a random token): one imitating prometheus-adapter,
one the Datadog Cluster Agent (datadogmetric@<namespace>:<name> names). Then
analyse two Flagger canaries concurrently, one check run every --interval:

  test/podinfo   examples/prometheus-adapter  healthy: Succeeded after 5 runs
  shop/checkout  examples/datadog             error rate climbs past 2 %: Failed

The Canary, MetricTemplate, Secret and scenario files are the ones in
examples/ (embedded in the binary); the demo only points the templates at
its servers and puts the servers' token and CA in the Secrets. Live progress
goes to stderr, the summary table to stdout, and the JSON, JUnit and HTML
reports to --out.

Exit status: 0 when both verdicts come out as the scenarios script them,
1 when one differs or the demo was interrupted (Ctrl-C writes the partial
reports), 2 for bad flags.`,
		Example: `  extmetrics demo
  extmetrics demo --interval 500ms --out /tmp/demo
  # the same by hand: see examples/README.md`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := c.Flags()
	fs.DurationVar(&o.interval, "interval", DefaultInterval, "analysis interval of both canaries (their YAML says 1m)")
	fs.StringVar(&o.out, "out", DefaultOut, "directory for report.json, junit.xml and report.html (created if missing)")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "no live progress")
	_ = c.MarkFlagDirname("out")
	return c
}

// server is one in-process devserver with the example it serves.
type server struct {
	ex  examples.Example
	srv *devserver.Server
}

func (o *options) run(ctx context.Context, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.interval <= 0 {
		return cmdutil.Usagef("--interval %v: must be positive", o.interval)
	}
	if o.out == "" {
		return cmdutil.Usagef("--out: give a directory for the reports")
	}
	exs := o.examples
	if exs == nil {
		for _, dir := range DemoExamples {
			ex, ok := examples.Lookup(dir)
			if !ok {
				return fmt.Errorf("demo: built-in example %q missing", dir)
			}
			exs = append(exs, ex)
		}
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return cmdutil.Usagef("--out: %v", err)
	}

	token, err := randomToken()
	if err != nil {
		return err
	}
	servers := make([]server, 0, len(exs))
	defer func() {
		for _, s := range servers {
			_ = s.srv.Close()
		}
	}()
	var resolved []*flagger.Resolved
	for _, ex := range exs {
		sc, err := ex.Scenario()
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		// The servers outlive ctx: on Ctrl-C the engine stops querying by itself.
		srv, err := devserver.Start(context.Background(), devserver.Config{
			Addr:     "127.0.0.1:0",
			Profile:  ex.Profile,
			Scenario: sc,
			Tokens:   map[string][]string{token: {devserver.AllNamespaces}},
		})
		if err != nil {
			return fmt.Errorf("demo: start the %s devserver: %w", ex.Profile, err)
		}
		servers = append(servers, server{ex: ex, srv: srv})
		r, err := load(ex, srv, token)
		if err != nil {
			return err
		}
		resolved = append(resolved, r...)
	}

	o.header(stdout, servers)
	paths := map[string]string{}
	for _, f := range []string{FileJSON, FileJUnit, FileHTML} {
		p := filepath.Join(o.out, f)
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		paths[f] = p
	}
	runner := analysis.Runner{Interval: o.interval}
	if !o.quiet {
		runner.Observer = report.NewProgressTo(stderr)
	}
	rep, err := runner.Run(ctx, resolved)
	if err != nil {
		return cmdutil.Usage(err)
	}
	err = errors.Join(
		report.WriteFiles(rep, report.Files{JSON: paths[FileJSON], JUnit: paths[FileJUnit], HTML: paths[FileHTML]}, nil),
		report.WriteSummary(stdout, rep))
	if err != nil {
		err = cmdutil.Failure(err)
	}
	fmt.Fprintln(stdout, "\nReports:")
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  JSON\t%s\n  JUnit\t%s\n  HTML\t%s\t(open it in a browser)\n", paths[FileJSON], paths[FileJUnit], paths[FileHTML])
	_ = tw.Flush()
	if err != nil {
		return err // a report could not be written
	}
	if ctx.Err() != nil {
		return cmdutil.Failure(errors.New("demo interrupted: the canaries ended Aborted; partial reports written"))
	}
	return verdicts(stdout, exs, rep)
}

// load reads an example's embedded Flagger objects, points its
// MetricTemplates at the demo's server and puts the server's token and CA in
// its Secrets, then resolves its canaries.
func load(ex examples.Example, srv *devserver.Server, token string) ([]*flagger.Resolved, error) {
	files, err := ex.Objects()
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	set := flagger.NewSet(flagger.Options{})
	for _, f := range files {
		set.Parse(f.Path, f.Data)
	}
	if err := set.Err(); err != nil {
		return nil, fmt.Errorf("demo: example %s: %w", ex.Dir, err)
	}
	for _, t := range set.Templates {
		t.Spec.Provider.Address = srv.URL()
	}
	for _, s := range set.Secrets {
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		s.Data[provider.SecretKeyToken] = []byte(token)
		s.Data[provider.SecretKeyCA] = srv.CAPEM()
	}
	resolved, err := set.Resolve()
	if err != nil {
		return nil, fmt.Errorf("demo: example %s: %w", ex.Dir, err)
	}
	if len(resolved) == 0 {
		return nil, fmt.Errorf("demo: example %s has no Canary", ex.Dir)
	}
	return resolved, nil
}

func (o *options) header(w io.Writer, servers []server) {
	fmt.Fprintf(w, "extmetrics demo: %d canaries, one analysis run every %v (their YAML says 1m)\n\n", len(servers), o.interval)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  CANARY\tSERVER (in-process devserver)\tFILES\tSCRIPTED")
	for _, s := range servers {
		fmt.Fprintf(tw, "  %s\t%s, %s\texamples/%s\t%s\n", s.ex.Canary, s.ex.Title, s.srv.URL(), s.ex.Dir, s.ex.Verdict)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
}

// verdicts compares the report with the scripted verdicts.
func verdicts(w io.Writer, exs []examples.Example, rep *analysis.Report) error {
	got := map[string]analysis.Verdict{}
	for _, c := range rep.Canaries {
		got[c.Namespace+"/"+c.Name] = c.Verdict
	}
	var diffs, oks []string
	for _, ex := range exs {
		v, ok := got[ex.Canary]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s has no result, the scenario scripts %s", ex.Canary, ex.Verdict))
		case v != ex.Verdict:
			diffs = append(diffs, fmt.Sprintf("%s ended %s, the scenario scripts %s", ex.Canary, v, ex.Verdict))
		default:
			oks = append(oks, fmt.Sprintf("%s %s", ex.Canary, v))
		}
	}
	if len(diffs) > 0 {
		return cmdutil.Failure(fmt.Errorf("demo: verdicts differ from the scenarios: %s", strings.Join(diffs, "; ")))
	}
	fmt.Fprintf(w, "\nVerdicts as the scenarios script them: %s.\n", strings.Join(oks, ", "))
	return nil
}

// randomToken is the bearer token of this run's servers.
func randomToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("demo: random token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
