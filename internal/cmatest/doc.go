// Package cmatest starts a real External Metrics API server built on
// sigs.k8s.io/custom-metrics-apiserver (CMA), the server library that KEDA's
// metrics adapter, prometheus-adapter and the library's own test-adapter are
// built on, in-process for tests. It serves HTTPS on 127.0.0.1 with a fresh
// CA, needs no kube-apiserver (the delegated TokenReview and
// SubjectAccessReview lookups are replaced by one static bearer token and an
// authorizer that lets every authenticated user in), and answers from a small
// static ExternalMetricsProvider whose series the test sets with SetSeries.
//
// Its tests compare our development server's cma profile
// (pkg/devserver) with this real server request by request, and prove the
// provider library (pkg/provider) and the k8s.io/metrics clientset against
// it. Everything apart from authentication, authorization and the provider
// is the library's own code: options, apiserver.Config, the generic
// apiserver's filter chain, discovery, selector parsing and encoding.
package cmatest
