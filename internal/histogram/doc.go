// Package histogram is the fixed-size latency histogram of the load tool
// (pkg/loadtest): exact below 256 ns, then 128 buckets per power of two
// (0.8 % resolution, like HdrHistogram with two significant digits), no
// allocation per Record, Merge for per-client histograms. Internal: only
// the load tool uses it.
package histogram
