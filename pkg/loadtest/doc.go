// Package loadtest drives an External Metrics API list endpoint on loopback
// with a fixed number of concurrent clients over HTTP/2 keep-alive
// connections, bounded by time and optionally by request count, and reports
// throughput, latency percentiles (from a fixed-size log-linear histogram per
// client, so recording costs no allocation), responses by status, bytes read,
// and the server's resident memory and CPU time (from /proc/<pid> or the
// server's Prometheus /metrics). Spawn starts `extmetrics devserver` as a
// child process on a generated scenario and measures how long it takes to
// become ready, which makes a one-command benchmark.
//
// Requests go through net/http by default, as real Go clients' do; the
// framer client (Config.Client = ClientFramer) writes the same HTTP/2 frames
// with golang.org/x/net/http2's Framer and HPACK on the caller's goroutine,
// which costs a fraction of the CPU and so leaves more of a small machine to
// the server being measured.
//
// Load is only ever sent to loopback: every target host must resolve to
// 127.0.0.0/8 or ::1 only, checked before the run and again at every dial,
// and redirects and proxies are not followed.
package loadtest
