// Package query parses and prints extmetrics queries, the strings a Flagger
// MetricTemplate of provider type externalmetrics carries in its query field:
//
//	[<namespace>/]<metricName>[?labelSelector=<selector>][&aggregate=<first|sum|avg|min|max|count>][&maxAge=<duration>]
//
// It accepts every query Flagger's own externalmetrics parser accepts (the
// namespace defaults to "default", also after a leading "/"; the selector may
// be URL-encoded) and is stricter where Flagger silently does the wrong thing:
// unknown or repeated parameters, a namespace that is not a DNS-1123 label, a
// metric name with characters that cannot travel in a URL path, or an invalid
// selector are errors that wrap ErrInvalid and say what is allowed. Surrounding
// whitespace (the newline a YAML block scalar leaves) is trimmed. Query.String
// is a canonical form that parses back to the same Query.
// docs/query-grammar.md has the grammar and the differences from Flagger.
package query
