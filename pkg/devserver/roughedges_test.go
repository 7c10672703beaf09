package devserver_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/extmetrics/extmetrics/internal/testutil"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
)

// Issue 7 item 11, the devserver's share: an empty fault is refused, 401s
// are logged as anonymous, a tokens file namespace must be a DNS-1123 label,
// and a SIGHUP reload is logged as such.
func TestDevserverRoughEdges(t *testing.T) {
	logs := &testutil.Buffer{}
	dir := t.TempDir()
	sc := filepath.Join(dir, "scenario.yaml")
	if err := os.WriteFile(sc, []byte("metrics:\n  - name: m\n    value: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := devservertest.New(t, devserver.Config{ScenarioFile: sc,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	client := devservertest.HTTPClient(s)
	do := func(method, path, token, body string) (int, string) {
		req, _ := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := do(http.MethodPut, "/admin/v1/faults", devservertest.Token, "{}"); code != http.StatusBadRequest || !strings.Contains(body, "injects nothing") {
		t.Errorf("PUT faults {}: %d %s", code, body)
	}
	if code, _ := do(http.MethodPut, "/admin/v1/faults", devservertest.Token, `{"latency":"1ms"}`); code != http.StatusOK {
		t.Errorf("PUT a real fault: %d", code)
	}
	if code, _ := do(http.MethodGet, "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/m", "wrong", ""); code != http.StatusUnauthorized {
		t.Errorf("bad token: %d", code)
	}
	if !strings.Contains(logs.String(), "code=401") || strings.Contains(logs.String(), `who=""`) || !strings.Contains(logs.String(), "who=anonymous") {
		t.Errorf("401 not logged as anonymous:\n%s", logs)
	}
	if err := s.ReloadFor("SIGHUP"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "trigger=SIGHUP") {
		t.Errorf("reload trigger:\n%s", logs)
	}

	_, err := devserver.Start(context.Background(), devserver.Config{Addr: "127.0.0.1:0", Tokens: map[string][]string{"t": {"Bad_NS"}}})
	if err == nil || !strings.Contains(err.Error(), `invalid namespace "Bad_NS": must be a DNS-1123 label`) {
		t.Errorf("Bad_NS: %v", err)
	}
}
