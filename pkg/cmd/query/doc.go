// Package query holds the commands that talk to an External Metrics API server
// directly: `extmetrics query QUERY...` prints the items a query returns and
// the one number a canary check would see, `extmetrics list` prints the metric
// names the server advertises, and `extmetrics status` says whether the server
// is online and which identity and TLS settings were used. They share the
// connection flags of package connflags and are thin: every capability lives
// in package provider. Exit codes: 0 success, 1 a query or server error (its
// typed message on stderr), 2 a usage error (bad flag, argument or query).
package query
