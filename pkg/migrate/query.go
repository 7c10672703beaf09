package migrate

import (
	"fmt"
	"regexp"
	"strings"
)

// groupBy finds a Datadog "by {tag}" grouping.
var groupBy = regexp.MustCompile(`\bby\s*\{`)

// checkQuery returns why a rendered Datadog query cannot become the query of
// one DatadogMetric faithfully, or "".
func checkQuery(q string) string {
	if strings.TrimSpace(q) == "" {
		return "the rendered query is empty"
	}
	if strings.Contains(q, "%%") {
		return "the query holds %%...%%, which the Cluster Agent would resolve as its own template variable (%%tag_...%%, %%env_...%%)"
	}
	depth := 0
	for i, r := range q {
		switch r {
		case '(', '{', '[':
			depth++
		case ')', '}', ']':
			depth--
			if depth < 0 {
				return fmt.Sprintf("unbalanced %q at offset %d", r, i)
			}
		case ',':
			if depth == 0 {
				return "a comma outside parentheses and braces makes it several queries: a DatadogMetric holds one query, and the Cluster Agent joins DatadogMetric queries with commas to batch them"
			}
		}
	}
	if depth != 0 {
		return "unbalanced parentheses or braces"
	}
	if groupBy.MatchString(q) {
		return `it groups "by {...}", so Datadog returns one series per group: Flagger used whichever came first, a DatadogMetric needs exactly one (aggregate without "by")`
	}
	return ""
}
