package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/extmetrics/extmetrics/pkg/flagger"
)

// Flagger compatibility notes: the text summary and the checks table (--once)
// print each note once per template with its code; the HTML report shows it
// per metric with the code in data-code; a report written before codes
// existed (texts only) still shows its notes.
func TestCompatNotes(t *testing.T) {
	r := sampleReport()
	note := flagger.CompatNote{Code: flagger.CompatPodTokenLeak, Text: "Flagger v1.43–v1.44 in a pod would send <its> token"}
	m := &r.Canaries[0].Metrics[0]
	m.FlaggerCompat = []string{note.Text}
	m.FlaggerCompatNotes = []flagger.CompatNote{note}
	old := &r.Canaries[1].Metrics[0]
	old.FlaggerCompat = []string{"Flagger ignores aggregate=sum and takes the first item the server returns"}

	for name, write := range map[string]func(*bytes.Buffer) error{
		"summary": func(b *bytes.Buffer) error { return WriteSummary(b, r) },
		"checks":  func(b *bytes.Buffer) error { return WriteChecks(b, r) },
	} {
		var buf bytes.Buffer
		if err := write(&buf); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		for _, want := range []string{
			"MetricTemplate " + m.TemplateRef + " (demo/podinfo, metric error-rate): Flagger v1.43–v1.44 in a pod would send <its> token [flagger-pod-token-leak]\n",
			"(shop/checkout, metric dd-error-rate): Flagger ignores aggregate=sum and takes the first item the server returns\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s lacks %q:\n%s", name, want, out)
			}
		}
	}

	var buf bytes.Buffer
	if err := WriteHTML(&buf, r); err != nil {
		t.Fatal(err)
	}
	doc := parseHTML(t, buf.Bytes())
	notes := findAll(doc, "p", "compat")
	if len(notes) != 2 {
		t.Fatalf("%d compat notes in the HTML, want 2", len(notes))
	}
	if attr(notes[0], "data-code") != flagger.CompatPodTokenLeak ||
		text(notes[0]) != "Flagger compatibility: "+note.Text+" "+flagger.CompatPodTokenLeak {
		t.Errorf("HTML note: data-code %q text %q", attr(notes[0], "data-code"), text(notes[0]))
	}
	if attr(notes[1], "data-code") != "" || len(findAll(notes[1], "code", "compat-code")) != 0 {
		t.Errorf("a note without a code shows one")
	}
}

// A note shared by several templates (same text: same address) is printed
// once, naming them all; each template once.
func TestCompatNotesGrouped(t *testing.T) {
	r := sampleReport()
	note := flagger.CompatNote{Code: flagger.CompatPodSecretCAIgnored, Text: "the Secret's ca.crt: ignored"}
	for ci := range r.Canaries {
		for mi := range r.Canaries[ci].Metrics {
			m := &r.Canaries[ci].Metrics[mi]
			m.FlaggerCompat, m.FlaggerCompatNotes = []string{note.Text}, []flagger.CompatNote{note}
		}
	}
	var buf bytes.Buffer
	if err := WriteSummary(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Count(out, note.Text) != 1 || !strings.Contains(out, "  MetricTemplates ") ||
		strings.Count(out, " (demo/podinfo, metric ") != 2 || strings.Count(out, " (shop/checkout, metric ") != 2 {
		t.Errorf("grouped notes:\n%s", out)
	}
}
