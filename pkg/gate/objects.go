package gate

import (
	"errors"

	"github.com/extmetrics/extmetrics/pkg/flagger"
)

// Objects is where the gate reads MetricTemplates, Secrets and Canaries:
// the cluster through informers (package kubesource), or a fixed set
// (package gatetest, for tests).
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

// ProviderTypeAnnotation set to "externalmetrics" on a MetricTemplate,
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
