// Package harness brings up a real Kubernetes control plane on loopback for
// end-to-end tests: etcd and kube-apiserver (with the aggregation layer) as
// child processes, no Docker, no downloads outside the package registries.
//
// kube-apiserver is built from the Go module proxy in a throwaway module
// (k8s.io/kubernetes with every staging module replaced by its v0 version,
// GOFLAGS=-mod=mod, version ldflags); etcd is Debian's etcd-server package,
// unpacked with apt-get download and dpkg-deb -x, or, where that cannot be
// had, built from go.etcd.io/etcd/server/v3 (GoEtcdVersion). Both are cached outside
// the repository under ${XDG_CACHE_HOME:-$HOME/.cache}/extmetrics/e2e/
// <name>-<version>/, behind a file lock so parallel test processes build
// once (EnsureBinaries). Start generates a PKI (cluster CA, serving
// certificate, front-proxy CA and client certificate, service-account keys,
// a static token file with AdminUser and ViewerUser) and starts both
// programs on free ports, with --endpoint-reconciler-type=none.
//
// A Cluster gives client-go configs and kubeconfigs per user, runs the real
// kubectl, applies YAML, mints service-account tokens (TokenRequest, or
// SignServiceAccountToken for any validity window, expired included) and
// registers the APIService v1beta1.external.metrics.k8s.io for a backend on
// localhost through an ExternalName Service (RegisterExternalMetrics,
// BackendCert). StartT and Shared tie a cluster to tests: logs are printed
// on failure, and a harness that cannot start fails the test in CI (CI=true)
// and skips it elsewhere, always with the reason.
package harness
