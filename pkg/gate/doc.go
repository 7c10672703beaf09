// Package gate is the library behind `extmetrics gate`: a long-running HTTP
// service that Flagger (a rollout webhook) and Argo Rollouts (the web metric
// provider) call during a rollout, which runs one metric check with package
// provider and answers a verdict.
//
// Endpoints (Handler): POST /v1/check (JSON, full result; 422 out of range,
// 4xx/5xx with errorKind on errors), POST /flagger/v1/check (Flagger's
// webhook payload; 200 on pass, else a 4xx whose body is a one-line reason
// Flagger records in the Canary's events), GET /argo/v1/value ({"value": …}
// for Argo's jsonPath, non-2xx JSON on errors), /healthz, /readyz, /metrics
// (extmetrics_gate_*). A check names a MetricTemplate (templateRef, read
// through Objects: informers in package kubesource) or a provider of the
// --config file (Registry) and a query; queries are rendered with Flagger's
// template variables (package flagger). Requests never carry an address (no
// SSRF) and a template's address only ever receives the template's own
// secretRef credentials.
//
// In-process (analyze): Gate implements analysis.GateChecker —
// ValidateWebhook and CheckWebhook run a Canary's webhook through
// FlaggerCheck, the function behind /flagger/v1/check, over objects read
// from files (SetObjects) and with the caller's connection rule
// (Options.Factory), so analyze judges gate webhooks exactly as the gate.
//
// Identical checks share one upstream request while it is in flight and
// successful answers are reused for the cache TTL (package coalesce), keyed
// by provider identity and canonical query; errors are never cached and a
// cached answer is not served once its data is older than the query's
// maxAge. Every failure fails closed: no data, stale data, several series
// where one was meant (ambiguous), an unknown metadata key, any upstream
// fault — never a pass.
//
// With Options.Events (package kubeevents in a cluster) each check that
// names its object is recorded as a Kubernetes Event: on the Canary of a
// Flagger webhook, on the AnalysisRun an Argo request names (analysisRun=);
// Normal for a pass, Warning for a fail or an error, at most one per
// (object, check, verdict) per analysis interval, in a bounded map.
package gate
