package gate

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/rest"

	"github.com/extmetrics/extmetrics/pkg/analysis"
	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/provider"
)

// Registry holds the named providers of the --config file, each built once
// (so every check reuses its connections), and builds the providers of
// MetricTemplates read from the cluster, both with the one connection rule
// (provider.Connection):
//   - a named provider is the gate's own connection: the files its config
//     entry names; "cluster" without an address gets the gate's own
//     kubeconfig or in-cluster config;
//   - a MetricTemplate with spec.provider.address gets only its own
//     secretRef Secret's data, never the gate's kubeconfig or
//     service-account token;
//   - a MetricTemplate without an address means the gate's cluster (as in
//     Flagger): its Secret's token, when there is one, replaces the gate's;
//     its insecureSkipVerify is ignored (the gate's token must not travel
//     over unverified TLS because a template said so);
//   - credentials over plain http:// to a host that is not loopback are
//     refused unless allowCredentialsOverHTTP (per named provider, or
//     --allow-credentials-over-http for templates) is set.
//
// There is no way to name an address in a request.
type Registry struct {
	config     *Config
	templates  sync.Map // templateKey -> *templateProvider
	nTemplates atomic.Int64
	cluster    *rest.Config
	named      map[string]*named
	forSpec    analysis.ProviderFactory // templates' providers
	factory    bool                     // forSpec is RegistryOptions.Factory
}

// RegistryOptions configure a Registry.
type RegistryOptions struct {
	Timeout                  time.Duration     // per query, retries included (default provider.DefaultTimeout)
	Metrics                  *provider.Metrics // optional
	AllowCredentialsOverHTTP bool              // for MetricTemplates' providers
	// Factory, when set, builds the providers of MetricTemplates and of
	// the named provider "cluster" without an address (with an empty
	// spec) instead of the gate's cluster: analyze runs the gate's checks
	// in-process with its own connection rule (analysis.Connection).
	Factory analysis.ProviderFactory
}

type named struct {
	cfg ProviderConfig
	p   analysis.Querier
	err error // why the provider cannot be used (e.g. no cluster)
}

// ErrNoCluster means the gate runs without a cluster configuration.
var ErrNoCluster = errors.New("no cluster configuration (no kubeconfig and not running in a pod)")

// NewRegistry builds every named provider. cluster may be nil (no cluster):
// then a "cluster" provider without an address answers ErrNoCluster. Files
// that do not exist are errors.
func NewRegistry(cfg *Config, cluster *rest.Config, ro RegistryOptions) (*Registry, error) {
	timeout := ro.Timeout
	if timeout <= 0 {
		timeout = provider.DefaultTimeout
	}
	var base func() (*rest.Config, error)
	if cluster != nil {
		base = func() (*rest.Config, error) { return cluster, nil }
	}
	r := &Registry{config: cfg, cluster: cluster, named: map[string]*named{}, forSpec: ro.Factory, factory: ro.Factory != nil}
	if r.forSpec == nil {
		build := provider.Connection{Base: base, Options: provider.Options{
			Timeout: timeout, Metrics: ro.Metrics, AllowCredentialsOverHTTP: ro.AllowCredentialsOverHTTP,
		}}.Factory()
		r.forSpec = func(spec provider.Spec) (analysis.Querier, error) { return build(spec) }
	}
	if cfg == nil {
		return r, nil
	}
	for _, pc := range cfg.Providers {
		opts := provider.Options{
			Timeout:                  timeout,
			TokenFile:                pc.TokenFile,
			CAFile:                   pc.CAFile,
			ClientCert:               pc.ClientCertFile,
			ClientKey:                pc.ClientKeyFile,
			Metrics:                  ro.Metrics,
			AllowCredentialsOverHTTP: pc.AllowCredentialsOverHTTP,
		}
		if pc.Timeout.Duration > 0 {
			opts.Timeout = pc.Timeout.Duration
		}
		n := &named{cfg: pc}
		if pc.Address == "" && r.factory {
			// In-process (analyze): "cluster" is the caller's own connection.
			p, err := r.forSpec(provider.Spec{})
			if err != nil {
				return nil, fmt.Errorf("provider %q: %w", pc.Name, err)
			}
			n.p = p
			r.named[pc.Name] = n
			continue
		}
		if pc.Address == "" && cluster == nil {
			n.err = fmt.Errorf("provider %q: %w", pc.Name, ErrNoCluster)
			r.named[pc.Name] = n
			continue
		}
		// A named provider is the gate's own connection (Default).
		p, err := provider.Connection{Base: base, Default: provider.Spec{Address: pc.Address, InsecureSkipVerify: pc.InsecureSkipVerify}, Options: opts}.Factory()(provider.Spec{})
		if err != nil {
			return nil, fmt.Errorf("provider %q: %w", pc.Name, err)
		}
		n.p = p
		r.named[pc.Name] = n
	}
	return r, nil
}

// Config is the configuration the registry was built from (may be nil).
func (r *Registry) Config() *Config { return r.config }

// Names lists the named providers, sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.named))
	for n := range r.named {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Named returns a named provider and its identity (the coalescing key's
// provider part). It never builds anything: an unknown name makes no
// connection.
func (r *Registry) Named(name string) (analysis.Querier, string, error) {
	n, ok := r.named[name]
	if !ok {
		return nil, "", &CheckError{Kind: KindUnknownProvider, Msg: fmt.Sprintf("unknown provider %q (configured: %v)", name, r.Names())}
	}
	if n.err != nil {
		return nil, "", &CheckError{Kind: provider.ErrorKind(provider.ErrUnavailable), Msg: n.err.Error()}
	}
	return n.p, "provider/" + name, nil
}

type templateKey struct {
	t      *flagger.MetricTemplate
	secret *flagger.Secret
}

type templateProvider struct {
	p        analysis.Querier
	identity string
}

const templateCacheSize = 4096

// ForTemplateObjects is ForTemplate for objects as Objects serves them:
// the provider is remembered per (template, secret) object, and the
// informers hand out a new object on every change.
func (r *Registry) ForTemplateObjects(t *flagger.MetricTemplate, secret *flagger.Secret) (analysis.Querier, string, error) {
	k := templateKey{t, secret}
	if v, ok := r.templates.Load(k); ok {
		tp := v.(*templateProvider)
		return tp.p, tp.identity, nil
	}
	var data map[string][]byte
	if secret != nil {
		data = secret.Data
	}
	p, id, err := r.ForTemplate(t, data)
	if err != nil {
		return nil, "", err
	}
	if r.nTemplates.Add(1) > templateCacheSize {
		r.templates.Clear()
		r.nTemplates.Store(1)
	}
	r.templates.Store(k, &templateProvider{p, id})
	return p, id, nil
}

// ForTemplate builds (from the provider library's keyed pool: no new
// connection for the same inputs) the provider of a MetricTemplate with its
// secretRef Secret's data (nil without one). See Registry for the
// credentials policy.
func (r *Registry) ForTemplate(t *flagger.MetricTemplate, secret map[string][]byte) (analysis.Querier, string, error) {
	spec := provider.Spec{Address: t.Spec.Provider.Address, InsecureSkipVerify: t.Spec.Provider.InsecureSkipVerify, SecretData: secret}
	if spec.Address == "" {
		// The gate's own cluster (the rule ignores the template's
		// insecureSkipVerify there).
		spec.InsecureSkipVerify = false
		if r.cluster == nil && !r.factory {
			return nil, "", &CheckError{Kind: provider.ErrorKind(provider.ErrUnavailable), Msg: fmt.Sprintf("MetricTemplate %s has no spec.provider.address, which means the gate's own cluster: %v", t.Key(), ErrNoCluster)}
		}
	} else if err := checkAddress(spec.Address); err != nil {
		return nil, "", &CheckError{Kind: KindBadRequest, Msg: fmt.Sprintf("MetricTemplate %s: spec.provider.address: %v", t.Key(), err)}
	}
	p, err := r.forSpec(spec)
	if err != nil {
		return nil, "", &CheckError{Kind: KindBadRequest, Msg: fmt.Sprintf("MetricTemplate %s: %v", t.Key(), err)}
	}
	return p, templateIdentity(spec), nil
}

// templateIdentity is a digest of everything that decides which server and
// identity a template's provider uses (never the secret itself).
func templateIdentity(spec provider.Spec) string {
	h := sha256.New()
	fmt.Fprintf(h, "%q %t\n", spec.Address, spec.InsecureSkipVerify)
	keys := make([]string, 0, len(spec.SecretData))
	for k := range spec.SecretData {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "%q %d\n", k, len(spec.SecretData[k]))
		h.Write(spec.SecretData[k])
	}
	return "template/" + hex.EncodeToString(h.Sum(nil)[:16])
}
