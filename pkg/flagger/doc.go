// Package flagger reads the Flagger objects a canary analysis needs — Canary
// (flagger.app/v1beta1), MetricTemplate (flagger.app/v1beta1 and v1alpha1) and
// Secret (v1) — from YAML or JSON files, directories and stdin, and resolves
// each Canary's metric checks the way Flagger does: a templateRef without a
// namespace means the canary's namespace, and a template's provider secretRef
// is read from the template's namespace. Query templates are rendered with
// Flagger's functions (name, namespace, target, service, ingress, route,
// interval, variables) and missingkey=error.
//
// The types here are this package's own and model only the fields extmetrics
// uses. Fields outside spec.analysis are tolerated (Flagger's Canary has many),
// unknown fields in spec.analysis are reported as notes, and the parts a check
// is made of (metrics[], thresholdRange, templateRef, MetricTemplate spec) are
// decoded strictly, with the shared walker of internal/yamlwalk (the same
// rules as scenario files): YAML aliases and merge keys are refused where
// they are used (`<<: {interval: 30s}` under spec.analysis is an error, not a
// silently dropped interval), keys are unique, and decoding problems are
// apimachinery field.Errors (errors.As finds the *field.Error). At most 20
// errors are reported per Load. Every error names the file, the document, the
// field path and the line, e.g.
//
//	canary.yaml: document 2: spec.analysis.metrics[1].templateRef: MetricTemplate "errors" not found in namespace "istio-system" (line 31)
//
// spec.analysis.webhooks are decoded too (Flagger's CanaryWebhook keys,
// metadata values strings); the rollout and pre-rollout ones that call an
// extmetrics gate (a url whose path ends in GateCheckPath) become
// Resolved.GateChecks, which analyze runs in-process with package gate, and
// a canary with such webhooks needs no metrics. The others are noted.
//
// Only provider type "externalmetrics" is supported; other provider types,
// inline queries and Flagger's builtin checks (request-success-rate,
// request-duration) are refused with a message saying what is supported;
// datadog templates with a hint to run `extmetrics migrate datadog`. That
// command alone loads with Options.AcceptDatadog: datadog templates resolve
// (no secret is read) and metrics it cannot migrate are left as they are.
package flagger
