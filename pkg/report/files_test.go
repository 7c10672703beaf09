package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/extmetrics/extmetrics/pkg/analysis"
)

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	files := Files{JSON: filepath.Join(dir, "r.json"), JUnit: filepath.Join(dir, "j.xml"), HTML: filepath.Join(dir, "r.html")}
	var log bytes.Buffer
	if err := WriteFiles(sampleReport(), files, &log); err != nil {
		t.Fatal(err)
	}
	var back analysis.Report
	if b, err := os.ReadFile(files.JSON); err != nil || json.Unmarshal(b, &back) != nil || len(back.Canaries) != len(sampleReport().Canaries) {
		t.Fatalf("JSON file: %v", err)
	}
	if b, err := os.ReadFile(files.JUnit); err != nil || xml.Unmarshal(b, new(struct{})) != nil {
		t.Fatalf("JUnit file: %v", err)
	}
	if b, err := os.ReadFile(files.HTML); err != nil || !bytes.Contains(b, []byte("<html")) {
		t.Fatalf("HTML file: %v", err)
	}
	want := "wrote " + files.JSON + "\nwrote " + files.JUnit + "\nwrote " + files.HTML + "\n"
	if log.String() != want {
		t.Errorf("log %q, want %q", log.String(), want)
	}

	// Only the named files; every failure reported with its path, the rest still written.
	bad := filepath.Join(dir, "missing-dir", "j.xml")
	only := filepath.Join(dir, "only.html")
	err := WriteFiles(sampleReport(), Files{JUnit: bad, HTML: only}, nil)
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("unwritable file: %v", err)
	}
	if _, err := os.Stat(only); err != nil {
		t.Errorf("the writable file was not written: %v", err)
	}
	if err := WriteFiles(sampleReport(), Files{}, nil); err != nil {
		t.Errorf("no files: %v", err)
	}
}
