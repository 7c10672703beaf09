package flaggerwebhook

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	flaggerv1 "github.com/fluxcd/flagger/pkg/apis/flagger/v1beta1"
	"github.com/fluxcd/flagger/pkg/controller"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// build builds extmetrics from the main module.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "extmetrics")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/extmetrics")
	cmd.Dir = repoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/extmetrics: %v\n%s", err, out)
	}
	return bin
}

// start runs bin with args and returns the URL of its "listening on" line.
func start(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &strings.Builder{}
	cmd.Stderr = &lockedWriter{w: stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
		}
	})
	line := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		l, _ := r.ReadString('\n')
		line <- l
		io.Copy(io.Discard, r)
	}()
	select {
	case l := <-line:
		m := regexp.MustCompile(`listening on (\S+)`).FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("%s: no listening line: %q", args[0], l)
		}
		return m[1]
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not start", args[0])
		return ""
	}
}

type lockedWriter struct{ w io.Writer }

func (l *lockedWriter) Write(p []byte) (int, error) { return l.w.Write(p) }

func TestFlaggerCallWebhook(t *testing.T) {
	bin := build(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	scenario := write("scenario.yaml", `
metrics:
  - {name: error_rate, namespace: shop, labels: {app: podinfo}, value: 2.5}
  - {name: broken, namespace: shop, value: 1}
faults:
  - {metric: broken, status: 503}
`)
	ca := filepath.Join(dir, "ca.crt")
	dev := start(t, bin, "devserver", "--addr", "127.0.0.1:0", "--scenario", scenario, "--token", "s3cret", "--write-ca", ca)
	token := write("token", "s3cret")
	cfg := write("gate.yaml", fmt.Sprintf("providers:\n- name: dev\n  address: %s\n  caFile: %s\n  tokenFile: %s\n", dev, ca, token))
	gate := start(t, bin, "gate", "--listen", "127.0.0.1:0", "--no-cluster", "--config", cfg)

	canary := flaggerv1.Canary{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "shop"}}
	hook := func(md map[string]string) flaggerv1.CanaryWebhook {
		return flaggerv1.CanaryWebhook{Name: "error-rate", Type: flaggerv1.RolloutHook, URL: gate + "/flagger/v1/check", Timeout: "10s", Metadata: &md}
	}
	q := "{{ namespace }}/error_rate?labelSelector=app%3D{{ name }}"

	// In range: Flagger sees no error.
	if err := controller.CallWebhook(canary, flaggerv1.CanaryPhaseProgressing, hook(map[string]string{"provider": "dev", "query": q, "max": "5"})); err != nil {
		t.Fatalf("pass: %v", err)
	}
	// Each failure: the error Flagger records is exactly the gate's one-line reason.
	for _, c := range []struct {
		name string
		md   map[string]string
		want string
	}{
		{"out of range", map[string]string{"provider": "dev", "query": q, "max": "1"},
			`extmetrics gate: provider dev: value 2.5 outside max 1 (query "shop/error_rate?labelSelector=app=podinfo")`},
		{"upstream 503", map[string]string{"provider": "dev", "query": "shop/broken", "max": "1"},
			`extmetrics gate: provider dev: unavailable: query "shop/broken": server unavailable: 503 Service Unavailable`},
		{"unknown key", map[string]string{"provider": "dev", "query": q, "mx": "1"},
			`extmetrics gate: bad-request: unknown metadata key(s) "mx"`},
		{"unknown provider", map[string]string{"provider": "prod", "query": q, "max": "1"},
			`extmetrics gate: provider prod: unknown-provider: unknown provider "prod"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := controller.CallWebhook(canary, flaggerv1.CanaryPhaseProgressing, hook(c.md))
			if err == nil {
				t.Fatal("no error: Flagger would count the check as passed")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, c.want) || strings.ContainsAny(msg, "\r\n") || len(msg) > 1100 {
				t.Fatalf("Flagger's error %q; want one line starting %q", msg, c.want)
			}
		})
	}
}

// Why the gate answers failures with 4xx: Flagger's client
// (go-retryablehttp) retries 5xx and then reports its own message, not the
// body.
func TestFlaggerHidesBodiesOf5xx(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "the reason")
	}))
	defer srv.Close()
	md := map[string]string{}
	err := controller.CallWebhook(flaggerv1.Canary{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "b"}}, flaggerv1.CanaryPhaseProgressing,
		flaggerv1.CanaryWebhook{Name: "x", URL: srv.URL, Timeout: "5s", Metadata: &md})
	if err == nil || strings.Contains(err.Error(), "the reason") || !strings.Contains(err.Error(), "giving up after "+strconv.Itoa(1)) {
		t.Fatalf("err %v", err)
	}
}
