// Package scenario is the model behind the development External Metrics API
// server: the scenario file format (series of metric name, namespace and
// labels, each with a value generator: constant, steps, ramp, sine, seeded
// noise or a sequence of polls), the faults injected into responses, and the
// Store that serves current values to many goroutines at once. Parse refuses
// a bad file with file:line and the field path; the Store takes time from an
// injectable k8s.io/utils/clock so tests drive generators with a fake clock.
// docs/scenario.md is the reference of the file format.
package scenario
