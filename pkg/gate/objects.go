package gate

import (
	"errors"
	"fmt"
	"sync"

	"github.com/extmetrics/extmetrics/pkg/flagger"
)

// Objects is where the gate reads MetricTemplates, Secrets and Canaries:
// the cluster through informers (package kubesource), or a fixed set.
// Lookups return ErrNotFound (wrapped, with the reason) when the object does
// not exist or its namespace is not watched.
type Objects interface {
	MetricTemplate(namespace, name string) (*flagger.MetricTemplate, error)
	Secret(namespace, name string) (*flagger.Secret, error)
	Canary(namespace, name string) (*flagger.Canary, error)
}

// ErrNotFound is wrapped by Objects lookups that find nothing.
var ErrNotFound = errors.New("not found")

// ErrNotWatched is wrapped by Objects lookups in a namespace the gate does
// not watch (--namespaces).
var ErrNotWatched = errors.New("namespace not watched")

// StaticObjects serves objects loaded from files (package flagger's Set):
// for tests and for running the gate without a cluster. Safe for concurrent
// reads; Replace swaps the set.
type StaticObjects struct {
	mu  sync.RWMutex
	set *flagger.Set
}

// NewStaticObjects serves set.
func NewStaticObjects(set *flagger.Set) *StaticObjects { return &StaticObjects{set: set} }

// Replace serves another set.
func (s *StaticObjects) Replace(set *flagger.Set) {
	s.mu.Lock()
	s.set = set
	s.mu.Unlock()
}

func (s *StaticObjects) MetricTemplate(ns, name string) (*flagger.MetricTemplate, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if t := s.set.Template(ns, name); t != nil {
		return t, nil
	}
	return nil, fmt.Errorf("MetricTemplate %s/%s: %w", ns, name, ErrNotFound)
}

func (s *StaticObjects) Secret(ns, name string) (*flagger.Secret, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if sec := s.set.Secret(ns, name); sec != nil {
		return sec, nil
	}
	return nil, fmt.Errorf("Secret %s/%s: %w", ns, name, ErrNotFound)
}

func (s *StaticObjects) Canary(ns, name string) (*flagger.Canary, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, c := range s.set.Canaries {
		if c.Namespace == ns && c.Name == name {
			return c, nil
		}
	}
	return nil, fmt.Errorf("Canary %s/%s: %w", ns, name, ErrNotFound)
}
