package gatetest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/gate"
)

var _ gate.Objects = (*StaticObjects)(nil)

// LoadStaticObjects reads MetricTemplates, Secrets and Canaries from YAML
// files (package flagger's loader) and applies the gate's annotations.
func LoadStaticObjects(paths ...string) (*StaticObjects, error) {
	set, err := flagger.Load(paths, flagger.Options{})
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		if err := annotate(set, p); err != nil {
			return nil, err
		}
	}
	return NewStaticObjects(set), nil
}

// annotate finds the annotations of the MetricTemplates in a file.
func annotate(set *flagger.Set, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name        string            `json:"name"`
				Namespace   string            `json:"namespace"`
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
		}
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("%s: %w", path, err)
		}
		if obj.Kind != flagger.KindMetricTemplate {
			continue
		}
		ns := obj.Metadata.Namespace
		if ns == "" {
			ns = flagger.DefaultNamespace
		}
		if t := set.Template(ns, obj.Metadata.Name); t != nil {
			gate.ApplyAnnotations(t, obj.Metadata.Annotations)
		}
	}
}

// StaticObjects serves objects loaded from files (package flagger's Set) as
// gate.Objects. Safe for concurrent reads; Replace swaps the set.
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

// MetricTemplate implements gate.Objects.
func (s *StaticObjects) MetricTemplate(ns, name string) (*flagger.MetricTemplate, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if t := s.set.Template(ns, name); t != nil {
		return t, nil
	}
	return nil, fmt.Errorf("MetricTemplate %s/%s: %w", ns, name, gate.ErrNotFound)
}

// Secret implements gate.Objects.
func (s *StaticObjects) Secret(ns, name string) (*flagger.Secret, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if sec := s.set.Secret(ns, name); sec != nil {
		return sec, nil
	}
	return nil, fmt.Errorf("Secret %s/%s: %w", ns, name, gate.ErrNotFound)
}

// Canary implements gate.Objects.
func (s *StaticObjects) Canary(ns, name string) (*flagger.Canary, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, c := range s.set.Canaries {
		if c.Namespace == ns && c.Name == name {
			return c, nil
		}
	}
	return nil, fmt.Errorf("Canary %s/%s: %w", ns, name, gate.ErrNotFound)
}
