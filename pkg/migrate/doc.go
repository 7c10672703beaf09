// Package migrate moves Flagger canaries off Datadog's rate-limited metrics
// API: it turns every Canary metric whose MetricTemplate has provider type
// "datadog" into one DatadogMetric (datadoghq.com/v1alpha1) per canary ×
// metric — the template's query rendered with that canary's Flagger
// variables, since a DatadogMetric query is static — plus one MetricTemplate
// of type externalmetrics per source template that reads
// datadogmetric@<namespace>:<name> through the External Metrics API (the
// Datadog Cluster Agent batches those queries), and rewrites each Canary's
// templateRefs to the new templates, leaving everything else as read.
//
// Load reads the YAML (package flagger with AcceptDatadog, keeping the raw
// documents so Canaries are rewritten in place); Migrate translates and
// refuses, per metric and with the reason, what it cannot translate
// faithfully (several queries, grouped queries, a variable without a value,
// no interval); Result writes kubectl-apply-ready YAML (WriteYAML, WriteDir)
// and a devserver scenario (WriteScenario); Check reads the generated
// DatadogMetrics' status from a cluster and runs the new templates once.
//
// Field choices, from Flagger v1.36.1's datadog provider and the Cluster
// Agent's DatadogMetric CRD: Flagger queries [now - 10 × metric interval,
// now] and takes the last point of the first series; spec.timeWindow carries
// that window over. spec.query and spec.timeWindow are written; spec.maxAge
// is not (the Cluster Agent's external_metrics_provider.max_age applies,
// stricter than Flagger). The annotation
// external-metrics.datadoghq.com/always-active: "true" makes the Cluster
// Agent query a DatadogMetric no HPA references. Status read by Check:
// conditions Active, Valid, Updated (lastUpdateTime) and Error (message),
// and currentValue — the columns `kubectl get datadogmetric` shows.
package migrate
