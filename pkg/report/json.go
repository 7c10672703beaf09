package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"sigs.k8s.io/yaml"

	"github.com/extmetrics/extmetrics/pkg/analysis"
)

// The JSON form is analysis.Report as its struct tags and JSON methods
// define it (durations as Go duration strings: "interval": "2s",
// "latency": "3ms", "age": "1m0s"), plus a few read-only fields for people
// ("duration", "range"). Decoding the output into analysis.Report ignores
// those extras, so the document round-trips.

// canaryFields and checkFields are the analysis types without their
// MarshalJSON methods (which embedding would promote and so bypass the
// extras below); the durations are shadowed as strings instead.
type (
	canaryFields analysis.CanaryResult
	checkFields  analysis.Check
)

type jsonReport struct {
	analysis.Report
	Duration string       `json:"duration"`
	Canaries []jsonCanary `json:"canaries"` // shadows Report.Canaries
}

type jsonCanary struct {
	canaryFields
	Interval string       `json:"interval"` // shadows CanaryResult.Interval: one readable form
	Duration string       `json:"duration"`
	Metrics  []jsonMetric `json:"metrics"` // shadows CanaryResult.Metrics
}

type jsonMetric struct {
	analysis.MetricResult
	Range  string      `json:"range"`
	Checks []jsonCheck `json:"checks"` // shadows MetricResult.Checks
}

type jsonCheck struct {
	checkFields
	Latency string `json:"latency"`       // shadows Check.Latency: one readable form
	Age     string `json:"age,omitempty"` // shadows Check.Age (set when Newest is)
}

// WriteJSON writes r as indented JSON (two spaces, fields in a fixed order,
// empty lists as [] rather than null). Durations appear both as the
// nanosecond integers analysis.Report decodes and as readable text. Values
// JSON cannot carry (NaN, ±Inf) are an error naming the check.
func WriteJSON(w io.Writer, r *analysis.Report) error {
	if r == nil {
		return errors.New("report: nil report")
	}
	out := jsonReport{
		Report:   *r,
		Duration: FormatDuration(span(r.Started, r.Finished)),
		Canaries: make([]jsonCanary, 0, len(r.Canaries)),
	}
	for ci := range r.Canaries {
		c := &r.Canaries[ci]
		jc := jsonCanary{
			canaryFields: canaryFields(*c),
			Interval:     c.Interval.String(),
			Duration:     FormatDuration(span(c.Started, c.Finished)),
			Metrics:      make([]jsonMetric, 0, len(c.Metrics)),
		}
		for mi := range c.Metrics {
			m := &c.Metrics[mi]
			if err := finite(m.Min, m.Max); err != nil {
				return fmt.Errorf("report: canary %s metric %q: range %w", canaryID(c), m.Name, err)
			}
			jm := jsonMetric{
				MetricResult: *m,
				Range:        boundsText(m.Min, m.Max, m),
				Checks:       make([]jsonCheck, 0, len(m.Checks)),
			}
			for _, ch := range m.Checks {
				if math.IsNaN(ch.Value) || math.IsInf(ch.Value, 0) {
					return fmt.Errorf("report: canary %s metric %q step %d: value %s cannot be written as JSON",
						canaryID(c), m.Name, ch.Step, analysis.FormatValue(ch.Value))
				}
				if err := finite(ch.Min, ch.Max); err != nil {
					return fmt.Errorf("report: canary %s metric %q step %d: range %w", canaryID(c), m.Name, ch.Step, err)
				}
				jk := jsonCheck{checkFields: checkFields(ch), Latency: ch.Latency.String()}
				if !ch.Newest.IsZero() {
					jk.Age = ch.Age.String()
				}
				jm.Checks = append(jm.Checks, jk)
			}
			jc.Metrics = append(jc.Metrics, jm)
		}
		out.Canaries = append(out.Canaries, jc)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // queries hold '&': keep them readable
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("report: writing JSON: %w", err)
	}
	return nil
}

func finite(ps ...*float64) error {
	for _, p := range ps {
		if p != nil && (math.IsNaN(*p) || math.IsInf(*p, 0)) {
			return fmt.Errorf("bound %s cannot be written as JSON", analysis.FormatValue(*p))
		}
	}
	return nil
}

// WriteYAML writes r as YAML: the JSON form (WriteJSON) converted, field for
// field.
func WriteYAML(w io.Writer, r *analysis.Report) error {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		return err
	}
	y, err := yaml.JSONToYAML(buf.Bytes())
	if err != nil {
		return fmt.Errorf("report: writing YAML: %w", err)
	}
	if _, err := w.Write(y); err != nil {
		return fmt.Errorf("report: writing YAML: %w", err)
	}
	return nil
}
