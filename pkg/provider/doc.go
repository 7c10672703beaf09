// Package provider queries a Kubernetes External Metrics API server
// (external.metrics.k8s.io/v1beta1) — the Datadog Cluster Agent, KEDA,
// prometheus-adapter or the kube-apiserver's aggregation layer — and turns the
// answer into one number per canary check.
//
// A Provider is built with New from a base rest.Config (loaded like kubectl
// does, or nil when an address is given), a Flagger-style Spec (address,
// insecureSkipVerify, the secretRef Secret's data) and Options (timeout,
// retries, token/CA/client-certificate files, Prometheus collectors). It fixes
// the defects of Flagger's externalmetrics provider: a Secret token wins over
// the base config's token file, insecureSkipVerify works with an inherited CA,
// and providers built again for the same address and credentials share one
// transport and its connections (a keyed pool), so Flagger's
// provider-per-check pattern stays cheap.
//
// Query takes the extmetrics query grammar (package query), retries 429, 502,
// 503, 504 and refused or reset connections with exponential backoff and
// jitter within the timeout budget, and fails closed: every error wraps
// exactly one sentinel (ErrNoValuesFound, ErrNotFound, ErrStale,
// ErrUnauthorized, ErrForbidden, ErrUnavailable, ErrInvalidQuery), carries
// the server's Status message and never a token. RunQuery and IsOnline make a
// Provider a drop-in for Flagger's metrics provider interface.
package provider
