package gatetest

import (
	"sync"

	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/gate"
)

var _ gate.Objects = (*StaticObjects)(nil)

// LoadStaticObjects reads MetricTemplates, Secrets and Canaries from YAML
// files (package flagger's loader); the gate's annotations apply
// (gate.SetObjects).
func LoadStaticObjects(paths ...string) (*StaticObjects, error) {
	set, err := flagger.Load(paths, flagger.Options{})
	if err != nil {
		return nil, err
	}
	return NewStaticObjects(set), nil
}

// StaticObjects serves objects loaded from files (package flagger's Set) as
// gate.Objects, through gate.SetObjects. Safe for concurrent reads;
// Replace swaps the set.
type StaticObjects struct {
	mu   sync.RWMutex
	objs *gate.SetObjects
}

// NewStaticObjects serves set.
func NewStaticObjects(set *flagger.Set) *StaticObjects {
	return &StaticObjects{objs: gate.NewSetObjects(set)}
}

// Replace serves another set.
func (s *StaticObjects) Replace(set *flagger.Set) {
	objs := gate.NewSetObjects(set)
	s.mu.Lock()
	s.objs = objs
	s.mu.Unlock()
}

func (s *StaticObjects) current() *gate.SetObjects {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.objs
}

// MetricTemplate implements gate.Objects.
func (s *StaticObjects) MetricTemplate(ns, name string) (*flagger.MetricTemplate, error) {
	return s.current().MetricTemplate(ns, name)
}

// Secret implements gate.Objects.
func (s *StaticObjects) Secret(ns, name string) (*flagger.Secret, error) {
	return s.current().Secret(ns, name)
}

// Canary implements gate.Objects.
func (s *StaticObjects) Canary(ns, name string) (*flagger.Canary, error) {
	return s.current().Canary(ns, name)
}
