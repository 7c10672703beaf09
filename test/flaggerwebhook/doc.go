// Package flaggerwebhook proves `extmetrics gate` against Flagger's own
// webhook client: github.com/fluxcd/flagger v1.36.1
// pkg/controller.CallWebhook, the function Flagger's controller calls for
// every rollout, pre-rollout and confirm-promotion webhook. It is a module
// of its own because Flagger brings k8s.io/* v0.27; it talks to the gate
// only over HTTP (extmetrics gate and extmetrics devserver run as
// subprocesses built from the main module).
//
// Run it with: cd test/flaggerwebhook && go test -race ./... (README's test
// command and .ci/run do).
package flaggerwebhook
