package flagger

import (
	"fmt"
	"strings"

	"github.com/extmetrics/extmetrics/pkg/query"
)

// FlaggerCompat returns a note for every way real Flagger's externalmetrics
// provider treats a rendered query differently from extmetrics (nil when it
// treats it the same). extmetrics keeps its behaviour; the notes say what
// Flagger itself would do, so a verdict predicted here is not mistaken for
// Flagger's. Checked against Flagger v1.44.0
// (pkg/metrics/providers/externalmetrics.go: parseExternalMetricsQuery
// calls url.Parse("dummy:///" + query) and reads only labelSelector; RunQuery
// returns Items[0]).
func FlaggerCompat(rendered string) []string {
	var notes []string
	if i := strings.IndexFunc(rendered, isCTL); i >= 0 {
		what := fmt.Sprintf("a control character (%q at offset %d)", rendered[i], i)
		if strings.TrimRightFunc(rendered, isCTL) != rendered && strings.IndexFunc(strings.TrimRightFunc(rendered, isCTL), isCTL) < 0 {
			what = "a trailing newline (YAML `query: |` adds one)"
		}
		notes = append(notes, fmt.Sprintf("the query has %s: Flagger's url.Parse rejects control characters "+
			"(net/url: invalid control character in URL), so in Flagger every check fails and the canary rolls back; "+
			"extmetrics trims it. Write the query as `query: >-` or a quoted string", what))
	} else if strings.TrimSpace(rendered) != rendered {
		notes = append(notes, "the query starts or ends with spaces: Flagger keeps them (in the metric name or selector "+
			"it sends), extmetrics trims them")
	}
	q, err := query.Parse(rendered)
	if err != nil {
		return notes // the query fails here as well
	}
	if q.Aggregate != "" {
		notes = append(notes, fmt.Sprintf("Flagger ignores aggregate=%s and takes the first item the server returns", q.Aggregate))
	}
	if q.MaxAge > 0 {
		notes = append(notes, fmt.Sprintf("Flagger ignores maxAge=%s and accepts data of any age", q.MaxAge))
	}
	return notes
}

// isCTL is what net/url rejects: ASCII control characters and DEL.
func isCTL(r rune) bool { return r < 0x20 || r == 0x7f }
