// Package gate holds the end-to-end tests of `extmetrics gate` against a
// real kube-apiserver (package test/e2e/harness): Flagger's own CRDs from
// the github.com/fluxcd/flagger v1.36.1 module, real MetricTemplates,
// Canaries and Secrets read through informers with the RBAC of deploy/, the
// aggregation layer for templates without an address, and the deploy/
// manifests validated by kubectl apply --dry-run=server -k.
package gate
