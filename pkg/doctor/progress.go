package doctor

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// progress prints the current phase and counts on a writer (stderr), once a
// second, but only when the run takes longer than a delay: quick runs stay quiet.
type progress struct {
	w       io.Writer
	mu      sync.Mutex
	name    string
	done    atomic.Int64
	total   atomic.Int64
	started time.Time
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	printed bool
}

func startProgress(ctx context.Context, w io.Writer, after time.Duration) *progress {
	p := &progress{w: w, started: time.Now()}
	if w == nil {
		return p
	}
	ctx, p.cancel = context.WithCancel(ctx)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		select {
		case <-ctx.Done():
			return
		case <-time.After(after):
		}
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			p.print()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func (p *progress) print() {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := fmt.Sprintf("doctor: %s", p.name)
	if t := p.total.Load(); t > 0 {
		line += fmt.Sprintf(" (%d/%d)", p.done.Load(), t)
	}
	fmt.Fprintf(p.w, "%s [%s]\n", line, time.Since(p.started).Round(100*time.Millisecond))
	p.printed = true
}

// phase starts a phase without counts.
func (p *progress) phase(name string) { p.count(name, 0) }

// count starts a phase of total steps (step marks one done).
func (p *progress) count(name string, total int) {
	p.mu.Lock()
	p.name = name
	p.mu.Unlock()
	p.done.Store(0)
	p.total.Store(int64(total))
}

func (p *progress) step() { p.done.Add(1) }

func (p *progress) stop() {
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.printed {
		fmt.Fprintf(p.w, "doctor: done in %s\n", time.Since(p.started).Round(100*time.Millisecond))
	}
}
