// Package procstat reads a process's resource use for the load tool
// (pkg/loadtest): memory (RSS, peak, anonymous, file) and CPU time from
// /proc/<pid>/status and /proc/<pid>/stat, the load average, and a sample
// from Prometheus text exposition (a server's /metrics). The parsers are
// fuzzed: what another process wrote never panics them. Internal: only the
// load tool uses it.
package procstat
