package gate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

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

// ProviderTypeAnnotation, set to "externalmetrics" on a MetricTemplate,
// makes the gate run it as an externalmetrics template whatever its
// spec.provider.type. Flagger v1.36's CRD refuses type "externalmetrics"
// (its enum predates it); a template only ever referenced from a gate
// webhook's metadata is never run by Flagger, so it may carry a type the
// CRD accepts (e.g. prometheus) and this annotation.
const ProviderTypeAnnotation = "extmetrics.dev/provider-type"

// ApplyAnnotations applies the gate's annotations of a MetricTemplate.
func ApplyAnnotations(t *flagger.MetricTemplate, annotations map[string]string) {
	if annotations[ProviderTypeAnnotation] == flagger.ProviderExternal {
		t.Spec.Provider.Type = flagger.ProviderExternal
	}
}

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
			ApplyAnnotations(t, obj.Metadata.Annotations)
		}
	}
}

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
