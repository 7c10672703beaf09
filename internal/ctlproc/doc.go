// Package ctlproc runs a controller binary for a test (the real Flagger and
// Argo Rollouts controllers of test/flaggercontroller and
// plugins/argo-rollouts): in its own process group, logging to a file,
// ready once its health URL answers 200, stopped with SIGTERM then SIGKILL.
// Both nested modules import it, so the two controllers share one runner.
package ctlproc
