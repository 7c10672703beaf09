// Package doctor is the `extmetrics doctor` command: flags wired to package
// doctor (pkg/doctor), which does the checking.
package doctor

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
	"github.com/extmetrics/extmetrics/pkg/cmd/connflags"
	"github.com/extmetrics/extmetrics/pkg/doctor"
)

// NewCommand returns the doctor command.
func NewCommand() *cobra.Command {
	var (
		conn           connflags.Flags
		namespace      string
		all            bool
		files          []string
		output         string
		flaggerVersion string
		probe          bool
		concurrency    int
	)
	c := &cobra.Command{
		Use:   "doctor",
		Short: "Find what will break canaries before the rollout: APIService, Flagger, templates, DatadogMetrics, Argo Rollouts",
		Long: `Read the cluster (and optionally local YAML with -f) and report findings, each with an ID, a
severity (error, warning, info), the object, what will happen during a rollout and the fix:

  api.*       the v1beta1.external.metrics.k8s.io APIService: present, Available, which server
              serves it (Datadog Cluster Agent, KEDA, prometheus-adapter, other), a second server,
              metric names that do not fit that server
  flagger.*   Flagger's version, whether its MetricTemplate CRD accepts externalmetrics, RBAC of
              its service account, the defects of v1.43-v1.44 per template, the dummy-metric event
  template.*  each externalmetrics (or gate-annotated) MetricTemplate rendered for every Canary
  canary.*    referencing it and queried once, exactly as analyze runs it; its Secret
  datadog.*   each DatadogMetric a template uses: exists, Active, Valid, Updated, always-active
  argo.*      AnalysisTemplates using the extmetrics plugin or the gate's web endpoint

Read-only: gets, lists and SubjectAccessReviews; the gate's /readyz only with --probe-services.
Every finding ID is documented in docs/doctor.md; -o json is a stable schema (findings array).

Exit status: 0 no errors, 1 errors found, 2 could not run (or usage error).`,
		Example: `  extmetrics doctor -A                       # every namespace
  extmetrics doctor -n shop -o json
  extmetrics doctor -n shop -f ./canaries/   # templates not applied yet, against this cluster
  extmetrics doctor -A --flagger-version 1.44.0 --probe-services`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return cmdutil.Usagef("-o %q: want table or json", output)
			}
			if all && namespace != "" {
				return cmdutil.Usagef("-n and -A are exclusive")
			}
			if err := conn.Validate(); err != nil {
				return cmdutil.Usage(err)
			}
			base, err := conn.BaseConfig()
			if err != nil {
				return cmdutil.Usage(err)
			}
			if base == nil {
				return cmdutil.Usagef("doctor reads a cluster: give --kubeconfig (or KUBECONFIG, ~/.kube/config), or run in a pod")
			}
			if !all && namespace == "" {
				if ns, _, err := conn.ClientConfig().Namespace(); err == nil {
					namespace = ns
				}
			}
			rep, err := doctor.Run(cmd.Context(), doctor.Options{
				Config:         base,
				Namespace:      namespace,
				Files:          files,
				Connection:     analysis.Connection{Base: conn.BaseConfig, Default: conn.Spec(), Options: conn.Options()},
				FlaggerVersion: flaggerVersion,
				ProbeServices:  probe,
				Concurrency:    concurrency,
				Progress:       cmd.ErrOrStderr(),
			})
			if err != nil {
				if errors.Is(err, doctor.ErrCannotRun) {
					return &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: err}
				}
				return &cmdutil.ExitError{Code: cmdutil.ExitUsage, Err: fmt.Errorf("%w: %v", doctor.ErrCannotRun, err)}
			}
			if output == "json" {
				err = doctor.WriteJSON(cmd.OutOrStdout(), rep)
			} else {
				err = doctor.WriteTable(cmd.OutOrStdout(), rep)
			}
			if err != nil {
				return err
			}
			if rep.HasErrors() {
				return cmdutil.Silent(cmdutil.ExitFailure)
			}
			return nil
		},
	}
	fs := c.Flags()
	fs.StringVarP(&namespace, "namespace", "n", "", "check Canaries, MetricTemplates and AnalysisTemplates of this namespace (default: the kubeconfig context's)")
	fs.BoolVarP(&all, "all-namespaces", "A", false, "check every namespace")
	fs.StringArrayVarP(&files, "filename", "f", nil, "check the Canaries, MetricTemplates, Secrets and AnalysisTemplates of these files or directories instead of the cluster's (repeatable)")
	fs.StringVarP(&output, "output", "o", "table", "table or json")
	fs.StringVar(&flaggerVersion, "flagger-version", "", "Flagger's version (default: read from its Deployment's image)")
	fs.BoolVar(&probe, "probe-services", false, "GET the gate's /readyz through the API server's service proxy")
	fs.IntVar(&concurrency, "concurrency", doctor.DefaultConcurrency, "queries and API requests at once")
	conn.AddFlags(fs)
	return c
}
