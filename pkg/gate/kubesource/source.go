package kubesource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/gate"
)

// Resources the source watches.
var (
	MetricTemplates = schema.GroupVersionResource{Group: flagger.Group, Version: "v1beta1", Resource: "metrictemplates"}
	Canaries        = schema.GroupVersionResource{Group: flagger.Group, Version: "v1beta1", Resource: "canaries"}
	Secrets         = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
)

// ProviderTypeAnnotation is gate.ProviderTypeAnnotation.
const ProviderTypeAnnotation = gate.ProviderTypeAnnotation

// Options configure a Source.
type Options struct {
	// Namespaces to watch; empty means every namespace.
	Namespaces []string
	// Resync is the informers' resync period (0: none).
	Resync time.Duration
	Logger *slog.Logger
	// Registerer receives the extmetrics_gate_informer_* collectors
	// (optional; see also Collectors).
	Registerer prometheus.Registerer
}

// Source serves MetricTemplates, Secrets and Canaries from informers.
type Source struct {
	namespaces []string // sorted; nil = all
	log        *slog.Logger

	mu        sync.RWMutex
	templates map[string]entry[*flagger.MetricTemplate]
	canaries  map[string]entry[*flagger.Canary]
	secrets   map[string]*flagger.Secret

	synced    []namedSync
	allSynced atomic.Bool // the initial lists are in: lag is meaningful from now on
	dyn       []dynamicinformer.DynamicSharedInformerFactory
	kube      []informers.SharedInformerFactory

	lag     *prometheus.HistogramVec
	syncedG *prometheus.GaugeVec
	eventsC *prometheus.CounterVec
	now     func() time.Time
}

type entry[T any] struct {
	obj T
	err error // the object could not be decoded
}

type namedSync struct {
	resource string
	ns       string
	synced   cache.InformerSynced
}

// New builds a source for a cluster.
func New(cfg *rest.Config, opts Options) (*Source, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "extmetrics-gate"
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return NewForClients(dyn, kube, opts), nil
}

// NewForClients builds a source on clients (client-go's fakes in unit tests).
func NewForClients(dyn dynamic.Interface, kube kubernetes.Interface, opts Options) *Source {
	s := &Source{
		log:       opts.Logger,
		templates: map[string]entry[*flagger.MetricTemplate]{},
		canaries:  map[string]entry[*flagger.Canary]{},
		secrets:   map[string]*flagger.Secret{},
		now:       time.Now,
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for _, ns := range opts.Namespaces {
		if ns = strings.TrimSpace(ns); ns != "" && !slices.Contains(s.namespaces, ns) {
			s.namespaces = append(s.namespaces, ns)
		}
	}
	sort.Strings(s.namespaces)
	s.lag = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: gate.MetricsNamespace, Name: "informer_lag_seconds",
		Help:    "Time from an object's last change (managedFields time, else creation; 1 s resolution) to the gate seeing it, by resource; after the initial list.",
		Buckets: []float64{.01, .05, .1, .25, .5, 1, 2, 5, 10, 30, 60},
	}, []string{"resource"})
	s.syncedG = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: gate.MetricsNamespace, Name: "informer_synced",
		Help: "1 once the informer of a resource has synced in every watched namespace.",
	}, []string{"resource"})
	s.eventsC = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: gate.MetricsNamespace, Name: "informer_events_total",
		Help: "Informer events handled, by resource and type (add, update, delete).",
	}, []string{"resource", "type"})
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(s.lag, s.syncedG, s.eventsC)
	}

	nss := s.namespaces
	if len(nss) == 0 {
		nss = []string{metav1.NamespaceAll}
	}
	for _, ns := range nss {
		df := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, opts.Resync, ns, nil)
		s.dyn = append(s.dyn, df)
		s.watch("metrictemplates", ns, df.ForResource(MetricTemplates).Informer(), s.onTemplate)
		s.watch("canaries", ns, df.ForResource(Canaries).Informer(), s.onCanary)
		kf := informers.NewSharedInformerFactoryWithOptions(kube, opts.Resync, informers.WithNamespace(ns),
			informers.WithTransform(stripSecret))
		s.kube = append(s.kube, kf)
		s.watch("secrets", ns, kf.Core().V1().Secrets().Informer(), s.onSecret)
	}
	return s
}

// Collectors are the source's extmetrics_gate_informer_* metrics.
func (s *Source) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.lag, s.syncedG, s.eventsC}
}

// stripSecret keeps only what the gate needs of a Secret.
func stripSecret(obj any) (any, error) {
	if sec, ok := obj.(*corev1.Secret); ok {
		sec.ManagedFields = nil
		sec.Annotations = nil // kubectl.kubernetes.io/last-applied-configuration holds the data
		sec.Labels = nil
	}
	return obj, nil
}

func (s *Source) watch(resource, ns string, inf cache.SharedIndexInformer, on func(obj any, deleted bool)) {
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.event(resource, "add", obj); on(obj, false) },
		UpdateFunc: func(_, obj any) { s.event(resource, "update", obj); on(obj, false) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			s.eventsC.WithLabelValues(resource, "delete").Inc()
			on(obj, true)
		},
	})
	if err != nil { // only when the informer already stopped
		s.log.Error("cannot watch", "resource", resource, "namespace", nsName(ns), "error", err.Error())
	}
	_ = inf.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
		s.log.Warn("watch failed; retrying", "resource", resource, "namespace", nsName(ns), "error", err.Error())
	})
	// Synced once this handler has seen every initial object (the
	// registration's HasSynced), not merely once the informer's store has
	// them: the lookups read the maps the handler fills, so /readyz must not
	// say ready before a listed object can be found.
	synced := inf.HasSynced
	if reg != nil {
		synced = reg.HasSynced
	}
	s.synced = append(s.synced, namedSync{resource: resource, ns: ns, synced: synced})
}

func nsName(ns string) string {
	if ns == "" {
		return "(all)"
	}
	return ns
}

func (s *Source) event(resource, typ string, obj any) {
	s.eventsC.WithLabelValues(resource, typ).Inc()
	if !s.allSynced.Load() {
		return // the initial list: objects' ages, not the informer's lag
	}
	m, err := metaAccessor(obj)
	if err != nil {
		return
	}
	last := m.GetCreationTimestamp().Time
	for _, mf := range m.GetManagedFields() {
		if mf.Time != nil && mf.Time.After(last) {
			last = mf.Time.Time
		}
	}
	if !last.IsZero() {
		if d := s.now().Sub(last); d >= 0 {
			s.lag.WithLabelValues(resource).Observe(d.Seconds())
		}
	}
}

func metaAccessor(obj any) (metav1.Object, error) {
	if m, ok := obj.(metav1.Object); ok {
		return m, nil
	}
	return nil, errors.New("not an object")
}

func key(ns, name string) string { return ns + "/" + name }

func (s *Source) onTemplate(obj any, deleted bool) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	k := key(u.GetNamespace(), u.GetName())
	if deleted {
		s.mu.Lock()
		delete(s.templates, k)
		s.mu.Unlock()
		return
	}
	e := entry[*flagger.MetricTemplate]{}
	set, err := flagger.DecodeUnstructured(u)
	switch {
	case err != nil:
		e.err = err
	case len(set.Templates) != 1:
		e.err = fmt.Errorf("MetricTemplate %s: not decoded (apiVersion %q)", k, u.GetAPIVersion())
	default:
		e.obj = set.Templates[0]
		gate.ApplyAnnotations(e.obj, u.GetAnnotations())
	}
	if e.err != nil {
		s.log.Warn("invalid MetricTemplate", "template", k, "error", e.err.Error())
	}
	s.mu.Lock()
	s.templates[k] = e
	s.mu.Unlock()
}

func (s *Source) onCanary(obj any, deleted bool) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	k := key(u.GetNamespace(), u.GetName())
	if deleted {
		s.mu.Lock()
		delete(s.canaries, k)
		s.mu.Unlock()
		return
	}
	e := entry[*flagger.Canary]{}
	set, err := flagger.DecodeUnstructured(u) // keeps the UID, by which the gate's Events name the Canary
	switch {
	case err != nil:
		e.err = err
	case len(set.Canaries) != 1:
		e.err = fmt.Errorf("Canary %s: not decoded (apiVersion %q)", k, u.GetAPIVersion())
	default:
		e.obj = set.Canaries[0]
	}
	s.mu.Lock()
	s.canaries[k] = e
	s.mu.Unlock()
}

func (s *Source) onSecret(obj any, deleted bool) {
	sec, ok := obj.(*corev1.Secret)
	if !ok {
		return
	}
	k := key(sec.Namespace, sec.Name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if deleted {
		delete(s.secrets, k)
		return
	}
	data := make(map[string][]byte, len(sec.Data)+len(sec.StringData))
	for k, v := range sec.Data {
		data[k] = v
	}
	for k, v := range sec.StringData {
		data[k] = []byte(v)
	}
	s.secrets[k] = &flagger.Secret{Name: sec.Name, Namespace: sec.Namespace, Type: string(sec.Type), Data: data}
}

// Start starts the informers; they stop when ctx ends.
func (s *Source) Start(ctx context.Context) {
	for _, f := range s.dyn {
		f.Start(ctx.Done())
	}
	for _, f := range s.kube {
		f.Start(ctx.Done())
	}
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			s.Ready()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

// WaitForSync waits until every informer synced or ctx ends.
func (s *Source) WaitForSync(ctx context.Context) bool {
	fns := make([]cache.InformerSynced, len(s.synced))
	for i, n := range s.synced {
		fns[i] = n.synced
	}
	return cache.WaitForCacheSync(ctx.Done(), fns...)
}

// Ready reports whether every informer synced, and what is missing.
func (s *Source) Ready() (bool, string) {
	var missing []string
	per := map[string]bool{}
	for _, n := range s.synced {
		ok := n.synced()
		if !ok {
			missing = append(missing, n.resource+" in "+nsName(n.ns))
		}
		if v, seen := per[n.resource]; !seen || v {
			per[n.resource] = ok
		}
	}
	for r, ok := range per {
		v := 0.0
		if ok {
			v = 1
		}
		s.syncedG.WithLabelValues(r).Set(v)
	}
	s.allSynced.Store(len(missing) == 0)
	if len(missing) > 0 {
		return false, "informers not synced: " + strings.Join(missing, ", ") + " (are Flagger's CRDs installed and may the gate list them?)"
	}
	return true, fmt.Sprintf("informers synced (metrictemplates, canaries, secrets in %s)", s.describeNamespaces())
}

func (s *Source) describeNamespaces() string {
	if len(s.namespaces) == 0 {
		return "every namespace"
	}
	return "namespaces " + strings.Join(s.namespaces, ",")
}

// Watches reports whether the source watches namespace ns (--namespaces);
// the gate records Events only there.
func (s *Source) Watches(ns string) bool { return s.watched(ns) == nil }

func (s *Source) watched(ns string) error {
	if len(s.namespaces) == 0 || slices.Contains(s.namespaces, ns) {
		return nil
	}
	return fmt.Errorf("namespace %q is not watched by the gate (--namespaces %s): %w", ns, strings.Join(s.namespaces, ","), gate.ErrNotWatched)
}

// MetricTemplate implements gate.Objects.
func (s *Source) MetricTemplate(ns, name string) (*flagger.MetricTemplate, error) {
	return lookup(s, s.templates, "MetricTemplate", ns, name)
}

// Canary implements gate.Objects.
func (s *Source) Canary(ns, name string) (*flagger.Canary, error) {
	return lookup(s, s.canaries, "Canary", ns, name)
}

// lookup reads one converted object of a watched namespace: not found, or
// the conversion error the informer recorded for it, or the object.
func lookup[T any](s *Source, m map[string]entry[T], kind, ns, name string) (T, error) {
	var zero T
	if err := s.watched(ns); err != nil {
		return zero, err
	}
	s.mu.RLock()
	e, ok := m[key(ns, name)]
	s.mu.RUnlock()
	switch {
	case !ok:
		return zero, fmt.Errorf("%s %s/%s: %w", kind, ns, name, gate.ErrNotFound)
	case e.err != nil:
		return zero, e.err
	}
	return e.obj, nil
}

// Secret implements gate.Objects.
func (s *Source) Secret(ns, name string) (*flagger.Secret, error) {
	if err := s.watched(ns); err != nil {
		return nil, err
	}
	s.mu.RLock()
	sec, ok := s.secrets[key(ns, name)]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("Secret %s/%s: %w", ns, name, gate.ErrNotFound)
	}
	return sec, nil
}

var _ gate.Objects = (*Source)(nil)
