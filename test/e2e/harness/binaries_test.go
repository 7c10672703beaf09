package harness

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRecipe(t *testing.T) {
	mod, sum, err := recipe(DefaultKubeAPIServerVersion)
	if err != nil || !bytes.Equal(mod, recipeGoMod) || !bytes.Equal(sum, recipeGoSum) {
		t.Fatalf("default version: %v", err)
	}
	// Another version: the same module with its staging versions, no go.sum.
	mod, sum, err = recipe("v1.36.4")
	if err != nil || sum != nil {
		t.Fatalf("v1.36.4: %v", err)
	}
	s := string(mod)
	if !strings.Contains(s, "require k8s.io/kubernetes v1.36.4") || !strings.Contains(s, "k8s.io/client-go => k8s.io/client-go v0.36.4") ||
		strings.Contains(s, "v0.37.2") || strings.Contains(s, "v1.37.2") {
		t.Errorf("v1.36.4 go.mod:\n%s", s)
	}
	if _, _, err := recipe("1.37"); err == nil {
		t.Error("malformed version accepted")
	}
}

// TestLockFile: holders of the lock never overlap; a waiter gives up with
// its context.
func TestLockFile(t *testing.T) {
	path := t.TempDir() + "/x.lock"
	var inside, overlaps atomic.Int32
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := lockFile(context.Background(), path, &bytes.Buffer{})
			if err != nil {
				t.Error(err)
				return
			}
			if inside.Add(1) > 1 {
				overlaps.Add(1)
			}
			time.Sleep(20 * time.Millisecond)
			inside.Add(-1)
			unlock()
		}()
	}
	wg.Wait()
	if overlaps.Load() != 0 {
		t.Errorf("%d overlapping holders", overlaps.Load())
	}

	unlock, err := lockFile(context.Background(), path, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	var log bytes.Buffer
	if _, err := lockFile(ctx, path, &log); err == nil || !strings.Contains(log.String(), "waiting for another process") {
		t.Errorf("second holder: err %v, log %q", err, log.String())
	}
}
