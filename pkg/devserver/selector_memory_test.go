package devserver_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"github.com/extmetrics/extmetrics/pkg/devserver"
	"github.com/extmetrics/extmetrics/pkg/devserver/devservertest"
)

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// Distinct large selectors must not stay in memory: before the cache was
// bounded by size, 100 distinct 15 KB selectors kept 7.5 MiB live (76 KiB each; 5000 distinct 67 KB ones took the process to 1.95 GB) (the
// parsed form of each is several times its text). The bound is on the live
// heap, measured, not on time.
func TestDistinctLargeSelectorsKeepMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 100 large requests")
	}
	s := devservertest.New(t, devserver.Config{})
	if err := s.SetSeries("default", "m", map[string]string{"k": "v1"}, "1"); err != nil {
		t.Fatal(err)
	}
	client := devservertest.HTTPClient(s)
	get := func(sel string) int {
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"/apis/external.metrics.k8s.io/v1beta1/namespaces/default/m?labelSelector="+url.QueryEscape(sel), http.NoBody)
		req.Header.Set("Authorization", "Bearer "+devservertest.Token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	// A valid selector of about 15 KB: "k in (vNNNN-0,vNNNN-1,...)".
	large := func(i int) string {
		var b strings.Builder
		b.WriteString("k in (v1")
		for j := 0; b.Len() < 15<<10; j++ {
			fmt.Fprintf(&b, ",v%d-%d", i, j)
		}
		b.WriteString(")")
		return b.String()
	}
	if code := get(large(0)); code != http.StatusOK {
		t.Fatalf("15 KB selector: %d", code)
	}
	before := liveHeap()
	const n = 100
	for i := 1; i <= n; i++ {
		if code := get(large(i)); code != http.StatusOK {
			t.Fatalf("request %d: %d", i, code)
		}
	}
	client.CloseIdleConnections()
	after := liveHeap()
	grown := int64(after) - int64(before)
	t.Logf("live heap %d MiB -> %d MiB after %d distinct 15 KB selectors (%+d KiB)", before>>20, after>>20, n, grown>>10)
	if grown > 3<<20 {
		t.Fatalf("live heap grew by %d MiB after %d distinct large selectors", grown>>20, n)
	}

	// Over the cap: refused, as kube-apiserver-fronted servers refuse
	// oversized requests.
	huge := large(1) + strings.Repeat(",x", 1<<10)
	if code := get(huge); code != http.StatusBadRequest {
		t.Fatalf("selector of %d bytes: %d, want 400", len(huge), code)
	}
}
