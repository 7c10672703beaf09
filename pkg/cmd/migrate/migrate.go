// Package migrate is the `extmetrics migrate datadog` command: it wires
// flags to package migrate (load, translate, write YAML and a scenario) and,
// with --check, to migrate.Check against a cluster.
package migrate

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
	"github.com/extmetrics/extmetrics/pkg/cmd/connflags"
	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/migrate"
)

type options struct {
	files           []string
	namespace       string
	out             string
	address         string
	secret          string
	skipUnsupported bool
	scenario        string
	quiet           bool
	check           bool
	staleAfter      time.Duration
	conn            connflags.Flags
}

// NewCommand returns `migrate` with its `datadog` subcommand.
func NewCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "migrate",
		Short: "Migrate Flagger MetricTemplates to the externalmetrics provider",
		Args:  cobra.NoArgs,
	}
	c.AddCommand(newDatadog())
	return c
}

func newDatadog() *cobra.Command {
	o := &options{}
	c := &cobra.Command{
		Use:   "datadog -f FILE|DIR|- [-f ...]",
		Short: "Turn Flagger datadog templates into DatadogMetrics read through externalmetrics",
		Long: `Read Flagger Canaries and MetricTemplates and move every metric whose template has provider
type datadog off Datadog's rate-limited metrics API: one DatadogMetric per canary and metric
(the template's query rendered for that canary, the window carried over in spec.timeWindow),
one externalmetrics MetricTemplate per datadog template (query
{{ namespace }}/datadogmetric@{{ namespace }}:<name>), and each Canary rewritten to reference the
new templates. Other metrics and every other field are left as they are.

The output is kubectl-apply-ready YAML on stdout, or one file per namespace with --out DIR, each
object with a comment saying where it came from. A metric that cannot be migrated faithfully is
refused with the reason; --skip-unsupported migrates the rest and lists what it skipped.
--scenario FILE also writes a devserver scenario (one series per DatadogMetric) to rehearse with
'extmetrics devserver --profile datadog' and 'extmetrics analyze'.

--check, after applying, migrates the same files again without writing anything and, for each
DatadogMetric, reads its status from the cluster (--kubeconfig/--context: Active, Valid, Value,
Update Time, as kubectl get datadogmetric shows them) and runs the new template once for its canary
through the provider (no address: the cluster's aggregation layer, or --server), printing a table of
what is ready and what is not (not found, invalid query, not active, stale, query failed).

Exit status: 0 migrated (with --check: every DatadogMetric ready), 1 a file could not be written
(with --check: something is not ready), 2 bad input or refused metrics.`,
		Example: `  kubectl get canary,metrictemplate -A -o yaml | extmetrics migrate datadog -f - --out migrated/ --scenario rehearsal.yaml
  kubectl get canary,metrictemplate -A -o yaml | extmetrics migrate datadog -f - --check --kubeconfig ~/.kube/config
  extmetrics migrate datadog -f canaries/ -f templates.yaml --address https://datadog-cluster-agent-metrics-api.datadog.svc:8443 --secret dca-token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := c.Flags()
	fs.StringArrayVarP(&o.files, "filename", "f", nil, "file, directory or - (stdin) with Canary and MetricTemplate objects (repeatable)")
	fs.StringVarP(&o.namespace, "namespace", "n", flagger.DefaultNamespace, "namespace of objects without metadata.namespace")
	fs.StringVar(&o.out, "out", "", "write one file per namespace, DIR/<namespace>.yaml, instead of stdout")
	fs.StringVar(&o.address, "address", "", "spec.provider.address of the new templates: a Cluster Agent URL (default: none, the aggregation layer)")
	fs.StringVar(&o.secret, "secret", "", "spec.provider.secretRef.name of the new templates (a Secret with token, and ca.crt, for --address)")
	fs.BoolVar(&o.skipUnsupported, "skip-unsupported", false, "migrate what can be migrated and list the metrics skipped, instead of failing")
	fs.StringVar(&o.scenario, "scenario", "", "also write a devserver scenario (Datadog profile) with one series per DatadogMetric to this file")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "no notes on stderr")
	fs.BoolVar(&o.check, "check", false, "after applying: read each DatadogMetric's status from the cluster and run each new template once; print what is ready")
	fs.DurationVar(&o.staleAfter, "stale-after", migrate.DefaultStaleAfter, "with --check: a DatadogMetric updated longer ago than this is stale")
	o.conn.AddFlags(fs)
	_ = c.MarkFlagFilename("filename", "yaml", "yml", "json")
	_ = c.MarkFlagDirname("out")
	return c
}

func (o *options) run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(o.files) == 0 {
		return cmdutil.Usagef("give the Canary and MetricTemplate files with -f FILE|DIR|-")
	}
	if o.address != "" {
		if u, err := url.Parse(o.address); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return cmdutil.Usagef("--address %q: want an http(s) URL such as https://datadog-cluster-agent-metrics-api.datadog.svc:8443", o.address)
		}
	}
	if o.check {
		if o.out != "" || o.scenario != "" {
			return cmdutil.Usagef("--check writes nothing: leave out --out and --scenario")
		}
		if o.staleAfter <= 0 {
			return cmdutil.Usagef("--stale-after %v: must be positive", o.staleAfter)
		}
		if err := o.conn.Validate(); err != nil {
			return cmdutil.Usage(err)
		}
	}
	in, err := migrate.Load(o.files, migrate.LoadOptions{DefaultNamespace: o.namespace, Stdin: stdin})
	if err != nil {
		return cmdutil.Usage(err)
	}
	res, err := migrate.Migrate(in, migrate.Options{Address: o.address, SecretName: o.secret, SkipUnsupported: o.skipUnsupported})
	if err != nil {
		return cmdutil.Usage(err)
	}
	if !o.quiet {
		for _, n := range res.Notes {
			fmt.Fprintln(stderr, "note:", n)
		}
	}
	for _, s := range res.Skipped {
		fmt.Fprintln(stderr, "skipped:", s)
	}
	if len(res.DatadogMetrics) == 0 {
		return cmdutil.Usagef("nothing to migrate: no Canary metric references a MetricTemplate with provider type datadog in %v", o.files)
	}
	if o.check {
		return o.runCheck(ctx, res, stdout)
	}
	if o.out != "" {
		paths, err := res.WriteDir(o.out)
		for _, p := range paths {
			fmt.Fprintln(stderr, "wrote", p)
		}
		if err != nil {
			return cmdutil.Failure(err)
		}
	} else if err := res.WriteYAML(stdout, ""); err != nil {
		return cmdutil.Failure(err)
	}
	if o.scenario != "" {
		f, err := os.Create(o.scenario)
		if err != nil {
			return cmdutil.Failure(err)
		}
		err = res.WriteScenario(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return cmdutil.Failure(fmt.Errorf("%s: %w", o.scenario, err))
		}
		fmt.Fprintln(stderr, "wrote", o.scenario)
	}
	fmt.Fprintf(stderr, "migrated %d metric(s) of %d canary(ies): %d DatadogMetric(s), %d MetricTemplate(s)", len(res.DatadogMetrics), len(res.Canaries), len(res.DatadogMetrics), len(res.Templates))
	if len(res.Skipped) > 0 {
		fmt.Fprintf(stderr, "; skipped %d metric(s)", len(res.Skipped))
	}
	fmt.Fprintln(stderr)
	return nil
}

// runCheck reads the DatadogMetrics through the kubeconfig's cluster and
// runs each new template once; templates without an address read through
// that cluster's aggregation layer (or --server, --token).
func (o *options) runCheck(ctx context.Context, res *migrate.Result, stdout io.Writer) error {
	base, err := o.conn.BaseConfig()
	if err != nil {
		return cmdutil.Usage(err)
	}
	if base == nil {
		return cmdutil.Usagef("--check reads DatadogMetrics from a cluster: give a kubeconfig (--kubeconfig, KUBECONFIG, ~/.kube/config)")
	}
	client, err := dynamic.NewForConfig(base)
	if err != nil {
		return cmdutil.Usage(err)
	}
	// The rule analyze uses: a template with an address is self-contained,
	// one without reads the kubeconfig's cluster (or --server, --token).
	factory := analysis.Connection{
		Base:    func() (*rest.Config, error) { return base, nil },
		Default: o.conn.Spec(),
		Options: o.conn.Options(),
	}.Factory()
	sts, err := res.Check(ctx, migrate.CheckOptions{Client: client, Factory: factory, StaleAfter: o.staleAfter})
	if err != nil {
		return cmdutil.Failure(err)
	}
	if err := migrate.WriteCheckTable(stdout, sts, time.Now()); err != nil {
		return cmdutil.Failure(err)
	}
	for _, st := range sts {
		if !st.Ready {
			return cmdutil.Silent(cmdutil.ExitFailure)
		}
	}
	return nil
}
