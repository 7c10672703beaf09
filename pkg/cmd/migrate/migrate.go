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

	"github.com/spf13/cobra"

	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
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

Exit status: 0 migrated, 1 a file could not be written, 2 bad input or refused metrics.`,
		Example: `  kubectl get canary,metrictemplate -A -o yaml | extmetrics migrate datadog -f - --out migrated/ --scenario rehearsal.yaml
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
	_ = ctx
	return nil
}
