package e2e_test

import (
	"encoding/json"
	"strings"
	"testing"

	cmdquery "github.com/extmetrics/extmetrics/pkg/cmd/query"
	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/test/e2e/harness"
)

// TestStatusThroughAggregator: status goes as far as the APIService's
// backend, and says whether this identity may list external metrics.
func TestStatusThroughAggregator(t *testing.T) {
	c := cluster.Get(t)
	isolate(t)
	a := startAggregated(t, c, devserver.ProfilePrometheusAdapter)

	status := func(user string, args ...string) (int, cmdquery.StatusOutput, string) {
		t.Helper()
		code, out, errOut := runCLI(t, append([]string{"status", "-o", "json", "--kubeconfig", c.UserKubeconfig(user), "--timeout", "20s"}, args...)...)
		var st cmdquery.StatusOutput
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status -o json: %v\n%s\n%s", err, out, errOut)
		}
		return code, st, out
	}

	code, st, out := status(harness.AdminUser)
	if code != 0 || !st.Online || st.Access == nil || !st.Access.Allowed || st.Access.User != harness.AdminUser || st.Access.Namespace != "default" {
		t.Errorf("admin: exit %d\n%s", code, out)
	}

	// The viewer reaches the backend (discovery is open to everyone) but
	// may not list external metrics: online, but not allowed, exit 1.
	code, st, out = status(harness.ViewerUser, "-n", "shop")
	if code != 1 || !st.Online || st.Access == nil || st.Access.Allowed || st.Access.Namespace != "shop" {
		t.Errorf("viewer: exit %d\n%s", code, out)
	}
	code, table, errOut := runCLI(t, "status", "-n", "shop", "--kubeconfig", c.UserKubeconfig(harness.ViewerUser), "--timeout", "20s")
	if code != 1 || !strings.Contains(table, "online, but user viewer may not list external.metrics.k8s.io in shop") {
		t.Errorf("viewer table: exit %d\n%s\n%s", code, table, errOut)
	}

	// Backend down: kube-apiserver still lists the group, but status
	// follows the request to the backend and says offline, and why.
	if err := a.s.Close(); err != nil {
		t.Fatal(err)
	}
	code, st, out = status(harness.AdminUser)
	if code != 1 || st.Online || st.ErrorKind != "unavailable" || !strings.Contains(st.Error, "cannot reach the backend of APIService v1beta1.external.metrics.k8s.io") {
		t.Errorf("backend down: exit %d\n%s", code, out)
	}
	code, table, _ = runCLI(t, "status", "--kubeconfig", c.AdminKubeconfig(), "--timeout", "20s")
	if code != 1 || !strings.Contains(table, "OFFLINE") {
		t.Errorf("backend down, table: exit %d\n%s", code, table)
	}
}
