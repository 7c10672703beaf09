// Package flaggerctl builds the real Flagger controller (cmd/flagger of
// github.com/fluxcd/flagger) for tests, caches it outside the repository
// keyed by version, finds Flagger's CRDs in the module cache and runs the
// controller against a kube-apiserver.
//
// The binary is built exactly as released: `go install
// github.com/fluxcd/flagger/cmd/flagger@v1.44.0` resolves Flagger's own
// go.mod (its dependency versions, checked against the checksum database),
// not this repository's module graph, so the controller under test is the
// one users run.
package flaggerctl
