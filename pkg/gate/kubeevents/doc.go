// Package kubeevents records the gate's checks as Kubernetes Events
// (core/v1) through client-go's event recorder (tools/record: an
// EventBroadcaster recording to the API server), so that repeats are
// aggregated by its correlator and `kubectl describe canary` lists the
// verdicts. Recorder implements gate.EventRecorder; the gate decides which
// checks become events and de-duplicates them per analysis interval.
// Writing needs create and patch on events (deploy/rbac.yaml); Shutdown
// waits (bounded) for the events already recorded to be written, then stops
// the broadcaster and the writes in flight.
package kubeevents
