// Package testenv keeps the machine running the tests out of them: Isolate
// clears what would make client-go or the CLI's connection flags find a real
// kubeconfig, an in-cluster config or EXTMETRICS_* settings.
package testenv
