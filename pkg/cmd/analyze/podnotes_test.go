package analyze

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/extmetrics/extmetrics/internal/testenv"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
	"github.com/extmetrics/extmetrics/pkg/flagger"
)

// Issue 17, item 3: templates real Flagger v1.43–v1.44 in a pod connects
// with differently. Every output notes them per template with a stable code,
// only where they apply, and --flagger-compat=strict fails their checks.
// Four templates against two real devservers over HTTPS:
//   - leak: an address, a Secret with ca.crt and no token (anonymous server):
//     Flagger would send its own token there and ignore the CA;
//   - insecure: an address, insecureSkipVerify and a Secret token: Flagger
//     fails before any request (and only that is noted);
//   - cluster: no address (--server), a Secret token: Flagger ignores it;
//   - plain: no address, no Secret: Flagger connects as extmetrics does.
func TestAnalyzeFlaggerPodNotes(t *testing.T) {
	testenv.Isolate(t)
	authed := server(t, "0.5")
	anon := devservertest.New(t, devserver.Config{Tokens: map[string][]string{}})
	if err := anon.SetSeries("ci", "errors", map[string]string{"app": "web"}, "0.25"); err != nil {
		t.Fatal(err)
	}
	indent := func(b []byte) string { return strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", "\n    ") }
	tmpl := func(name, provider string) string {
		return fmt.Sprintf(`apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: %s, namespace: ci}
spec:
  provider:
    type: externalmetrics
%s  query: "{{ namespace }}/errors?labelSelector=app={{ target }}"
---
`, name, provider)
	}
	objects := tmpl("leak", "    address: "+anon.URL()+"\n    secretRef: {name: ca-only}\n") +
		tmpl("insecure", "    address: "+authed.URL()+"\n    insecureSkipVerify: true\n    secretRef: {name: token-only}\n") +
		tmpl("cluster", "    secretRef: {name: token-only}\n") +
		tmpl("plain", "") +
		fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: ca-only, namespace: ci}
stringData:
  ca.crt: |
    %s
---
apiVersion: v1
kind: Secret
metadata: {name: token-only, namespace: ci}
stringData: {token: %s}
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: web, namespace: ci}
spec:
  targetRef: {kind: Deployment, name: web}
  analysis:
    interval: 1m
    iterations: 2
    threshold: 5
    metrics:
      - {name: leak, templateRef: {name: leak}, thresholdRange: {max: 1}}
      - {name: insecure, templateRef: {name: insecure}, thresholdRange: {max: 1}}
      - {name: cluster, templateRef: {name: cluster}, thresholdRange: {max: 1}}
      - {name: plain, templateRef: {name: plain}, thresholdRange: {max: 1}}
`, indent(anon.CAPEM()), devservertest.Token)
	dir := t.TempDir()
	file, caFile, html := filepath.Join(dir, "canary.yaml"), filepath.Join(dir, "ca.crt"), filepath.Join(dir, "r.html")
	if err := os.WriteFile(file, []byte(objects), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caFile, authed.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	conn := []string{"-f", file, "--server", authed.URL(), "--token", devservertest.Token, "--ca-file", caFile}
	want := map[string][]string{ // metric → note codes, in order
		"leak":     {flagger.CompatPodTokenLeak, flagger.CompatPodSecretCAIgnored},
		"insecure": {flagger.CompatPodInsecureSkipVerify},
		"cluster":  {flagger.CompatPodSecretIgnored},
		"plain":    nil,
	}
	lines := map[string][]string{ // metric → substrings of its note lines
		"leak": {"Flagger v1.43–v1.44 in a pod would send its own service-account token (the pod's token file) to " + anon.URL(),
			"a credential leak", "[" + flagger.CompatPodTokenLeak + "]",
			"the Secret's ca.crt: Flagger v1.43–v1.44 in a pod would ignore it", "x509: certificate signed by unknown authority",
			"[" + flagger.CompatPodSecretCAIgnored + "]"},
		"insecure": {"insecureSkipVerify: true: Flagger v1.43–v1.44 in a pod would fail every check",
			"specifying a root certificates file with the insecure flag is not allowed", "[" + flagger.CompatPodInsecureSkipVerify + "]"},
		"cluster": {"no address and the Secret's token: Flagger v1.43–v1.44 in a pod would not use it", "[" + flagger.CompatPodSecretIgnored + "]"},
	}
	checkText := func(name, out string) {
		t.Helper()
		for m, parts := range lines {
			var line string
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(l, "  MetricTemplate ci/"+m+" ") && strings.Contains(l, parts[len(parts)-1]) {
					line += l + "\n"
				}
			}
			for _, p := range parts {
				if !strings.Contains(line, p) && !strings.Contains(out, p) {
					t.Errorf("%s: metric %s: no %q in\n%s", name, m, p, out)
				}
			}
			if line == "" {
				t.Errorf("%s: no note line for template ci/%s:\n%s", name, m, out)
			}
		}
		if strings.Contains(out, "MetricTemplate ci/plain ") {
			t.Errorf("%s: a note for the plain template:\n%s", name, out)
		}
		if n := strings.Count(out, "[flagger-pod-"); n != 4 {
			t.Errorf("%s: %d pod notes, want 4 (one line per template and note):\n%s", name, n, out)
		}
	}

	code, stdout, stderr := execute(t, "", append(conn, "--interval", "1ms", "--report", html)...)
	if code != 0 || !strings.Contains(stdout, "Succeeded") {
		t.Fatalf("warn: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	checkText("text", stdout)
	page := readFile(t, html)
	for _, c := range []string{flagger.CompatPodTokenLeak, flagger.CompatPodSecretCAIgnored, flagger.CompatPodInsecureSkipVerify, flagger.CompatPodSecretIgnored} {
		if !strings.Contains(page, `data-code="`+c+`"`) {
			t.Errorf("HTML lacks the note %s", c)
		}
	}

	code, stdout, stderr = execute(t, "", append(conn, "--once", "-q")...)
	if code != 0 {
		t.Fatalf("--once: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	checkText("--once", stdout)

	code, stdout, stderr = execute(t, "", append(conn, "--once", "-q", "-o", "json")...)
	if code != 0 {
		t.Fatalf("JSON: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, m := range decodeReport(t, stdout).Canaries[0].Metrics {
		var codes []string
		for _, n := range m.FlaggerCompatNotes {
			codes = append(codes, n.Code)
		}
		if !slices.Equal(codes, want[m.Name]) || len(m.FlaggerCompat) != len(codes) || !m.Checks[0].Passed {
			t.Errorf("JSON: metric %s: codes %q texts %d passed %v, want %q", m.Name, codes, len(m.FlaggerCompat), m.Checks[0].Passed, want[m.Name])
		}
		for _, n := range m.FlaggerCompatNotes {
			wantErr := map[string]string{flagger.CompatPodSecretCAIgnored: flagger.FlaggerErrUnknownAuthority,
				flagger.CompatPodInsecureSkipVerify: flagger.FlaggerErrInsecureWithCA}[n.Code]
			if n.FlaggerError != wantErr || !strings.Contains(n.Text, "Flagger v1.43–v1.44 in a pod would") {
				t.Errorf("JSON: metric %s: note %+v", m.Name, n)
			}
		}
	}
	if !strings.Contains(stdout, `"code": "flagger-pod-token-leak"`) && !strings.Contains(stdout, `"code":"flagger-pod-token-leak"`) {
		t.Errorf("JSON lacks the code as written:\n%s", stdout)
	}

	code, stdout, stderr = execute(t, "", append(conn, "--once", "-q", "-o", "json", "--flagger-compat=strict")...)
	if code != 1 {
		t.Fatalf("strict: exit %d, want 1\n%s\n%s", code, stdout, stderr)
	}
	for _, m := range decodeReport(t, stdout).Canaries[0].Metrics {
		c := m.Checks[0]
		if len(want[m.Name]) == 0 {
			if !c.Passed {
				t.Errorf("strict: metric %s without notes failed: %+v", m.Name, c)
			}
			continue
		}
		if c.Passed || c.ErrorKind != "flagger-compat" || c.HasValue || !strings.Contains(c.Message, "["+want[m.Name][0]+"]") {
			t.Errorf("strict: metric %s: %+v", m.Name, c)
		}
	}
}
