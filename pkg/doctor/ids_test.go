package doctor

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var idLiteral = regexp.MustCompile(`"((?:api|flagger|template|canary|datadog|argo|doctor)\.[a-z][a-z0-9-]*)"`)

// Every finding ID in the code is documented in docs/doctor.md (and every
// documented ID exists in the code).
func TestFindingIDsDocumented(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	ids := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range idLiteral.FindAllStringSubmatch(string(b), -1) {
			ids[m[1]] = true
		}
	}
	if len(ids) < 40 {
		t.Fatalf("found only %d IDs: %v", len(ids), ids)
	}
	doc, err := os.ReadFile("../../docs/doctor.md")
	if err != nil {
		t.Fatal(err)
	}
	for id := range ids {
		if !strings.Contains(string(doc), "| `"+id+"` |") {
			t.Errorf("docs/doctor.md has no row for %s", id)
		}
	}
	for _, m := range regexp.MustCompile("\\| `([a-z]+\\.[a-z0-9-]+)` \\|").FindAllStringSubmatch(string(doc), -1) {
		if !ids[m[1]] {
			t.Errorf("docs/doctor.md documents %s, which the code never reports", m[1])
		}
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Progress is quiet for quick runs and prints the phase and counts once a
// run takes longer than the delay.
func TestProgress(t *testing.T) {
	quiet := &syncBuf{}
	p := startProgress(context.Background(), quiet, time.Hour)
	p.count("querying templates", 3)
	p.stop()
	if quiet.String() != "" {
		t.Errorf("a quick run printed %q", quiet.String())
	}

	slow := &syncBuf{}
	p = startProgress(context.Background(), slow, 10*time.Millisecond)
	p.count("querying templates", 3)
	p.step()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(slow.String(), "doctor: querying templates (1/3)") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	p.stop()
	if out := slow.String(); !strings.Contains(out, "doctor: querying templates (1/3)") || !strings.Contains(out, "doctor: done in") {
		t.Errorf("progress:\n%s", out)
	}
	startProgress(context.Background(), nil, time.Millisecond).stop() // no writer: nothing, no goroutine
}
