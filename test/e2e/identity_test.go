package e2e_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/extmetrics/extmetrics/internal/testutil"
	cmddevserver "github.com/extmetrics/extmetrics/pkg/cmd/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/provider"
	"github.com/extmetrics/extmetrics/test/e2e/harness"
)

// TestDevserverIdentityRules: behind kube-apiserver the devserver sees the
// caller's identity (X-Remote-User from the verified front proxy) and
// applies its tokens-file rules to it; a client that is not the front
// proxy cannot claim an identity.
func TestDevserverIdentityRules(t *testing.T) {
	c := cluster.Get(t)
	a := startAggregatedWith(t, c, devserver.ProfilePrometheusAdapter, map[string][]string{
		"user:" + harness.ViewerUser: {"shop"},
	})
	a.set(t, "shop", "orders_per_second", map[string]string{"app": "checkout"}, "12")
	a.set(t, "billing", "orders_per_second", map[string]string{"app": "checkout"}, "3")
	grantExternalMetrics(t, c, "e2e-viewer-rules", harness.ViewerUser)

	viewer := c.UserConfig(harness.ViewerUser)
	if err := eventually(10*time.Second, func() error { _, err := query(t, viewer, provider.Spec{}, provider.Options{}, orderQuery); return err }); err != nil {
		t.Fatalf("viewer in shop (RBAC and the devserver's rule allow it): %v", err)
	}
	// RBAC allows billing; the devserver's rule for viewer does not.
	_, err := query(t, viewer, provider.Spec{}, provider.Options{}, "billing/orders_per_second")
	if !errors.Is(err, provider.ErrForbidden) || !strings.Contains(err.Error(), `User "viewer" cannot list resource "orders_per_second"`) {
		t.Errorf("viewer in billing: want the devserver's forbidden, got %v", err)
	}
	// The admin has no rule: with rules in force, nothing is allowed.
	if _, err := query(t, c.AdminConfig(), provider.Spec{}, provider.Options{}, orderQuery); !errors.Is(err, provider.ErrForbidden) {
		t.Errorf("admin without a rule: want forbidden, got %v", err)
	}
	log := a.logs.String()
	if !strings.Contains(log, "who=viewer") || !strings.Contains(log, "who=admin") {
		t.Errorf("devserver log without who=viewer and who=admin:\n%s", log)
	}

	// Directly, without the front proxy's certificate, X-Remote-User is ignored.
	req, _ := http.NewRequest(http.MethodGet, "https://"+a.s.Addr()+nsPath+"shop/orders_per_second", http.NoBody)
	req.Header.Set("X-Remote-User", harness.ViewerUser)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsTrusting(c)}, Timeout: 20 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("direct request claiming viewer: %d, want 401", resp.StatusCode)
	}
}

// TestDevserverCommandBehindAggregator runs the recipe of docs/devserver.md
// ("Behind a real kube-apiserver") with the real command and its flags, on
// a non-loopback address (all interfaces): request-header authentication
// counts as authentication there, and the start-up line says it is in force.
func TestDevserverCommandBehindAggregator(t *testing.T) {
	c := cluster.Get(t)
	dir := t.TempDir()
	certFile, keyFile, err := c.BackendCert(dir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	scenarioFile := filepath.Join(dir, "scenario.yaml")
	rulesFile := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(scenarioFile, []byte("metrics:\n  - name: orders_per_second\n    namespace: shop\n    labels: {app: checkout}\n    value: 12\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rulesFile, []byte("\"user:admin\": [\"*\"]\n\"group:system:masters\": [shop]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := cmddevserver.NewCommand()
	cmd.SetArgs([]string{"--addr", "0.0.0.0:0", "--scenario", scenarioFile, "--tls-cert", certFile, "--tls-key", keyFile,
		"--requestheader-client-ca-file", c.FrontProxyCAFile(), "--requestheader-allowed-names", harness.FrontProxyClientName,
		"--tokens-file", rulesFile, "--log-level", "debug"})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	started := testutil.StartCommand(t, cmd)
	line, logs := started.Line, started.Stderr
	const want = "authentication: front-proxy request headers X-Remote-User (certificate front-proxy-client); namespace rules for 1 users, 1 groups)"
	if !strings.HasSuffix(line, want) {
		t.Fatalf("start-up line %q does not end with %q\n%s", line, want, logs)
	}
	m := regexp.MustCompile(`listening on https://127\.0\.0\.1:(\d+) `).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no URL in %q", line)
	}
	port, _ := strconv.Atoi(m[1])
	if err := c.RegisterExternalMetrics(context.Background(), harness.Backend{Port: port}); err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	list := kubectlList(t, c, nsPath+"shop/orders_per_second?labelSelector=app%3Dcheckout")
	if len(list.Items) != 1 || list.Items[0].Value.String() != "12" {
		t.Errorf("through the aggregator: %+v", list)
	}
	if !strings.Contains(logs.String(), "who=admin") {
		t.Errorf("devserver log without who=admin:\n%s", logs)
	}
}
