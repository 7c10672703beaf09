// Package ctlbuild builds and caches the heavy binaries tests run, outside
// the repository under ${XDG_CACHE_HOME:-$HOME/.cache}/extmetrics/<name>:
// the real Argo Rollouts controller (plugins/argo-rollouts/internal/argoctl)
// and the real Flagger controller (test/flaggercontroller/internal/flaggerctl)
// through Build, one folder per recipe (<binary>-<version>-<hash>), built
// once under a file lock that makes parallel test processes wait for one
// build. The e2e harness (test/e2e/harness) shares CacheDir and Lock for its
// kube-apiserver and etcd, whose cache is stamped differently.
package ctlbuild
