// Package doctor finds what will break canaries before a rollout, in the
// cluster the user has: `extmetrics doctor` is a thin command over Run.
//
// Run reads the cluster once (the external.metrics.k8s.io APIServices,
// Deployments, three CRDs, Canaries, MetricTemplates and Argo Rollouts
// AnalysisTemplates of a namespace or all, or those of local files) and
// checks, in order:
//
//   - the API (api.*): the APIService v1beta1.external.metrics.k8s.io, its
//     Available condition, the Service behind it and what serves it
//     (classified from names, labels and images), a second External Metrics
//     server installed beside it, metric names that do not fit that server;
//   - Flagger (flagger.*): its Deployment and version, the MetricTemplate
//     CRD's provider-type enum, a SubjectAccessReview as its service account
//     per metric read through the aggregation layer, the v1.43–v1.44 pod
//     defects of each template it runs (flagger.FlaggerPodCompat, the rule
//     analyze's notes use) and the kube-system/dummy-metric probe;
//   - every externalmetrics template (and gate-annotated template called
//     from a gate webhook) rendered for each Canary that references it and
//     run once through analysis.Runner — analyze's renderer, the one check
//     (analysis.RunCheck) and the one connection rule (provider.Connection,
//     through analysis.Connection) — (template.*, canary.*), and its
//     Secret's keys;
//   - the DatadogMetrics the rendered queries name (datadog.*);
//   - Argo Rollouts (argo.*): the extmetrics plugin in argo-rollouts-config,
//     the gate's Service (and /readyz through the service proxy when
//     Options.ProbeServices).
//
// Doctor only reads: gets, lists, SubjectAccessReviews and the template
// queries (and the gate's /readyz when asked). Queries and API requests run
// at most Options.Concurrency at a time (errgroup). Every problem is a
// Finding with a stable ID (docs/doctor.md), a Severity, the Object, what a
// rollout will do and the fix; Report is the stable JSON schema
// SchemaVersion. Run returns an error (wrapping ErrCannotRun) only when it
// could not check at all.
package doctor
