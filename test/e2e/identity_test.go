package e2e_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

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
	req, _ := http.NewRequest(http.MethodGet, "https://"+a.s.Addr()+nsPath+"shop/orders_per_second", nil)
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
