package coalesce

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Outcome says how Do answered.
type Outcome int

const (
	// Miss means this caller ran fn (alone or as the leader of waiting callers).
	Miss Outcome = iota
	// Hit means the value came from the cache; fn did not run.
	Hit
	// Coalesced means another caller's fn, in flight, answered this one too.
	Coalesced
)

func (o Outcome) String() string {
	switch o {
	case Hit:
		return "hit"
	case Coalesced:
		return "coalesced"
	}
	return "miss"
}

// DefaultMaxEntries bounds the cache when Options.MaxEntries is 0.
const DefaultMaxEntries = 10000

// Options configure a Cache.
type Options struct {
	// TTL is how long a successful value is served; 0 turns caching off
	// (concurrent identical calls are still coalesced).
	TTL time.Duration
	// MaxEntries bounds the remembered keys; default DefaultMaxEntries.
	MaxEntries int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Cache coalesces and caches calls by key. The zero value is not usable; use New.
type Cache[V any] struct {
	ttl time.Duration
	max int
	now func() time.Time

	group singleflight.Group
	mu    sync.RWMutex
	m     map[string]entry[V]
}

type entry[V any] struct {
	v       V
	expires time.Time
}

// New returns a cache.
func New[V any](opts Options) *Cache[V] {
	c := &Cache[V]{ttl: opts.TTL, max: opts.MaxEntries, now: opts.Now, m: map[string]entry[V]{}}
	if c.max <= 0 {
		c.max = DefaultMaxEntries
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// TTL is the configured time to live.
func (c *Cache[V]) TTL() time.Duration { return c.ttl }

// Len is the number of remembered keys (expired ones included until swept).
func (c *Cache[V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// Do returns the value for key: from the cache when an entry is younger than
// the TTL and fresh(v, now) agrees (fresh may be nil), else from fn. Callers
// arriving while fn runs for the same key wait for it (or for ctx). fn runs
// with a context that is not canceled when the first caller goes away
// (other callers may still want the answer): fn must bound its own time.
// A successful value is cached; an error is returned to every waiting caller
// and forgotten.
func (c *Cache[V]) Do(ctx context.Context, key string, fresh func(v V, now time.Time) bool, fn func(ctx context.Context) (V, error)) (V, Outcome, error) {
	if c.ttl > 0 {
		c.mu.RLock()
		e, ok := c.m[key]
		c.mu.RUnlock()
		if ok {
			now := c.now()
			if now.Before(e.expires) && (fresh == nil || fresh(e.v, now)) {
				return e.v, Hit, nil
			}
		}
	}
	leader := false
	ch := c.group.DoChan(key, func() (any, error) {
		leader = true
		v, err := fn(context.WithoutCancel(ctx))
		if err == nil && c.ttl > 0 {
			c.store(key, v)
		}
		return v, err
	})
	select {
	case r := <-ch:
		out := Coalesced
		if leader {
			out = Miss
		}
		v, _ := r.Val.(V)
		return v, out, r.Err
	case <-ctx.Done():
		var zero V
		return zero, Coalesced, ctx.Err()
	}
}

func (c *Cache[V]) store(key string, v V) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok && len(c.m) >= c.max {
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.max {
			clear(c.m) // every entry is live: start over rather than grow
		}
	}
	c.m[key] = entry[V]{v: v, expires: now.Add(c.ttl)}
}
