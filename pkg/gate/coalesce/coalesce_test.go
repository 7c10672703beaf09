package coalesce

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeClock) Add(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

func TestConcurrentCallsShareOneRun(t *testing.T) {
	c := New[int](Options{TTL: time.Minute})
	var runs atomic.Int32
	release := make(chan struct{})
	const n = 200
	var wg sync.WaitGroup
	outcomes := make([]Outcome, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			v, out, err := c.Do(context.Background(), "k", nil, func(context.Context) (int, error) {
				runs.Add(1)
				<-release
				return 42, nil
			})
			if err != nil || v != 42 {
				t.Errorf("Do = %v, %v", v, err)
			}
			outcomes[i] = out
		}(i)
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if runs.Load() != 1 {
		t.Fatalf("fn ran %d times, want 1", runs.Load())
	}
	count := map[Outcome]int{}
	for _, o := range outcomes {
		count[o]++
	}
	if count[Miss] != 1 || count[Miss]+count[Hit]+count[Coalesced] != n {
		t.Fatalf("outcomes %v", count)
	}
	// Later calls are hits.
	if _, out, _ := c.Do(context.Background(), "k", nil, func(context.Context) (int, error) { return 0, errors.New("ran") }); out != Hit {
		t.Fatalf("outcome %v, want hit", out)
	}
}

func TestTTLAndErrors(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	c := New[string](Options{TTL: 10 * time.Second, Now: clk.Now})
	runs := 0
	fn := func(context.Context) (string, error) { runs++; return fmt.Sprint("v", runs), nil }
	ctx := context.Background()
	if v, out, _ := c.Do(ctx, "k", nil, fn); v != "v1" || out != Miss {
		t.Fatal(v, out)
	}
	clk.Add(9 * time.Second)
	if v, out, _ := c.Do(ctx, "k", nil, fn); v != "v1" || out != Hit {
		t.Fatal(v, out)
	}
	clk.Add(time.Second) // exactly the TTL: expired
	if v, out, _ := c.Do(ctx, "k", nil, fn); v != "v2" || out != Miss {
		t.Fatal(v, out)
	}
	// Errors are not cached.
	boom := errors.New("boom")
	for i := 0; i < 2; i++ {
		if _, out, err := c.Do(ctx, "e", nil, func(context.Context) (string, error) { runs++; return "", boom }); !errors.Is(err, boom) || out != Miss {
			t.Fatal(out, err)
		}
	}
	if runs != 4 {
		t.Fatalf("runs %d, want 4 (errors re-run)", runs)
	}
	// fresh refuses a cached value: fetched again.
	if v, out, _ := c.Do(ctx, "k", func(string, time.Time) bool { return false }, fn); v != "v5" || out != Miss {
		t.Fatal(v, out)
	}
}

func TestTTLZeroDisablesCaching(t *testing.T) {
	c := New[int](Options{})
	runs := 0
	for i := 0; i < 3; i++ {
		c.Do(context.Background(), "k", nil, func(context.Context) (int, error) { runs++; return 1, nil })
	}
	if runs != 3 || c.Len() != 0 {
		t.Fatalf("runs %d len %d", runs, c.Len())
	}
}

func TestBounded(t *testing.T) {
	c := New[int](Options{TTL: time.Hour, MaxEntries: 10})
	for i := 0; i < 1000; i++ {
		c.Do(context.Background(), fmt.Sprint(i), nil, func(context.Context) (int, error) { return i, nil })
		if c.Len() > 10 {
			t.Fatalf("len %d", c.Len())
		}
	}
}

func TestWaiterCancelDoesNotCancelRun(t *testing.T) {
	c := New[int](Options{TTL: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	started, release := make(chan struct{}), make(chan struct{})
	var runCtxErr atomic.Value
	go func() {
		<-started
		cancel()
	}()
	_, _, err := c.Do(ctx, "k", nil, func(rctx context.Context) (int, error) {
		close(started)
		<-release
		runCtxErr.Store(fmt.Sprint(rctx.Err()))
		return 7, nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	close(release)
	// The run finishes and is cached for the next caller.
	deadline := time.Now().Add(5 * time.Second)
	for c.Len() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if v, out, _ := c.Do(context.Background(), "k", nil, nil); v != 7 || out != Hit {
		t.Fatal(v, out)
	}
	if runCtxErr.Load() != "<nil>" {
		t.Fatalf("run context: %v", runCtxErr.Load())
	}
}

func BenchmarkHit(b *testing.B) {
	c := New[int](Options{TTL: time.Hour})
	fn := func(context.Context) (int, error) { return 1, nil }
	c.Do(context.Background(), "key", nil, fn)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Do(context.Background(), "key", nil, fn)
		}
	})
}
