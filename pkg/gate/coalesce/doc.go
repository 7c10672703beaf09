// Package coalesce shares the work of identical concurrent requests and
// remembers successful answers for a short time. Do runs fn once per key
// while other callers of the same key wait for its answer
// (golang.org/x/sync/singleflight), and keeps a successful value for the
// cache's TTL; errors are never kept beyond the request in flight. A value can
// also be refused at serve time (Fresh), so a cached answer whose data has
// grown older than the caller allows is fetched again instead of served. The
// number of remembered keys is bounded.
package coalesce
