// Package devserver is a development server for the Kubernetes External
// Metrics API (external.metrics.k8s.io/v1beta1). It serves series from a
// scenario (package scenario) over HTTPS with a certificate it makes at
// start, answers discovery (/apis, /api, /version) well enough for kubectl
// and client-go, and imitates the real servers' differences through
// profiles: prometheus-adapter (unknown metric: 404), cma (the
// custom-metrics-apiserver test adapter: empty list) and datadog (the Datadog
// Cluster Agent: datadogmetric@<ns>:<name> names, one item, 500 on unknown or
// stale metrics). Bearer tokens limit namespaces; an admin API sets series
// and faults (latency, error statuses, connection resets, malformed or
// truncated bodies, stale timestamps) while it runs; the scenario file is
// reloaded when it changes. Errors are metav1.Status JSON. Start runs a
// server in-process; package devservertest wraps it for tests. See
// docs/devserver.md.
package devserver
