package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// WriteJSON writes the report as indented JSON (the documented schema,
// SchemaVersion).
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes one block per finding, worst first: severity, ID and
// object on the first line, then what was found, what a rollout will do and
// the fix; a summary line ends it.
func WriteTable(w io.Writer, r *Report) error {
	ew := &errWriter{w: w}
	for _, f := range r.Findings {
		ew.printf("%-7s %s  %s\n", strings.ToUpper(string(f.Severity)), f.ID, f.Object)
		ew.printf("        %s\n", oneLine(f.Message))
		if f.Rollout != "" {
			ew.printf("        rollout: %s\n", oneLine(f.Rollout))
		}
		if f.Fix != "" {
			ew.printf("        fix: %s\n", oneLine(f.Fix))
		}
		if len(f.Details) > 0 {
			keys := slices.Sorted(maps.Keys(f.Details))
			parts := make([]string, 0, len(keys))
			for _, k := range keys {
				parts = append(parts, k+"="+oneLine(f.Details[k]))
			}
			ew.printf("        %s\n", strings.Join(parts, "  "))
		}
	}
	where := "all namespaces"
	if len(r.Namespaces) > 0 {
		where = "namespace " + strings.Join(r.Namespaces, ",")
	}
	ew.printf("%d error(s), %d warning(s), %d info (%s, %s)\n", r.Summary.Errors, r.Summary.Warnings, r.Summary.Info, r.Cluster, where)
	return ew.err
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, a ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, a...)
	}
}

func oneLine(s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), "\r", " ")
	return strings.ReplaceAll(s, "\n", " ")
}
