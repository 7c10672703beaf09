package flagger

import (
	"fmt"
	"strings"
	"testing"
)

func TestSummarizeNotes(t *testing.T) {
	var notes []string
	for i := range 28902 {
		kind := "Deployment"
		if i%2 == 1 {
			kind = "Service"
		}
		notes = append(notes, fmt.Sprintf("all.yaml: document %d: skipped v1 %s: extmetrics reads Canary, MetricTemplate and Secret", i+1, kind))
	}
	notes = append(notes, "c.yaml: document 1: spec.analysis.webhooks: 1 webhook(s) not run")
	got := SummarizeNotes(notes)
	if len(got) != MaxSkipNotes+2 {
		t.Fatalf("%d lines:\n%s", len(got), strings.Join(got, "\n"))
	}
	last := got[len(got)-1]
	if !strings.Contains(last, "skipped 28897 more objects") || !strings.Contains(last, "v1 Deployment ×14448") || !strings.Contains(last, "v1 Service ×14449") {
		t.Errorf("summary: %s", last)
	}
	if !strings.Contains(strings.Join(got, "\n"), "webhook(s) not run") {
		t.Errorf("other notes lost")
	}
}
