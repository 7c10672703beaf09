package kubeevents

import (
	"cmp"
	"context"
	"errors"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"github.com/extmetrics/extmetrics/pkg/gate"
)

// Component is the events' source component (reportingController).
const Component = "extmetrics-gate"

// Spam filter of client-go's correlator, per (source, object): a burst of
// SpamBurst events, then one per SpamInterval. client-go's default (25,
// then one per 5 minutes) would hide most verdicts of a canary with a few
// gate webhooks; the gate already sends at most one event per check,
// verdict and interval.
const (
	SpamBurst    = 100
	SpamInterval = 5 // seconds
)

// DefaultDrainTimeout bounds Shutdown's wait for the events still queued.
const DefaultDrainTimeout = 5 * time.Second

// Options configure a Recorder.
type Options struct {
	// Host is the events' reportingInstance and source host (default the
	// host name: the pod's name in a cluster).
	Host string
	// DrainTimeout bounds how long Shutdown waits for the events still
	// queued to be written (default DefaultDrainTimeout).
	DrainTimeout time.Duration
}

// Recorder records gate.Events as core/v1 Events. Record never blocks
// (client-go drops events beyond its queue of 1000).
type Recorder struct {
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
	sink        *sink
	drain       time.Duration

	mu     sync.RWMutex
	closed bool
}

// Client rate limit of the events' writes (its own client, so events never
// wait behind the informers): client-go's default, 5 per second, would
// hold back a gate judging a hundred canaries with a few checks each every
// minute; beyond the limit, client-go's queue (1000 events) drops.
const (
	ClientQPS   = 20
	ClientBurst = 50
)

// New builds a recorder writing to cfg's cluster.
func New(cfg *rest.Config, opts Options) (*Recorder, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = Component
	cfg.QPS, cfg.Burst = ClientQPS, ClientBurst
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return NewForClient(kube.CoreV1(), opts), nil
}

// NewForClient builds a recorder writing with client (client-go's fake
// clientset in unit tests).
func NewForClient(client typedcorev1.EventsGetter, opts Options) *Recorder {
	host := opts.Host
	if host == "" {
		host, _ = os.Hostname()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &sink{client: client, ctx: ctx, cancel: cancel, drained: make(chan struct{})}
	s.idle = sync.NewCond(&s.mu)
	b := record.NewBroadcaster(record.WithCorrelatorOptions(record.CorrelatorOptions{
		BurstSize: SpamBurst, QPS: 1.0 / SpamInterval,
	}))
	b.StartRecordingToSink(s)
	return &Recorder{
		broadcaster: b,
		recorder:    b.NewRecorder(runtime.NewScheme(), corev1.EventSource{Component: Component, Host: host}),
		sink:        s,
		drain:       cmp.Or(opts.DrainTimeout, DefaultDrainTimeout),
	}
}

// Record implements gate.EventRecorder: an Event on e.Object. After
// Shutdown it does nothing.
func (r *Recorder) Record(e gate.Event) {
	ref := &corev1.ObjectReference{
		APIVersion: e.Object.APIVersion, Kind: e.Object.Kind,
		Namespace: e.Object.Namespace, Name: e.Object.Name, UID: types.UID(e.Object.UID),
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return
	}
	r.recorder.Event(ref, e.Type, e.Reason, e.Message)
}

// Shutdown stops recording: it waits (at most Options.DrainTimeout) until
// the events already recorded are written, then stops the broadcaster,
// cancels the writes still in flight and waits for them. Idempotent.
func (r *Recorder) Shutdown() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	// A marker behind every event recorded so far: the broadcaster hands
	// events to the sink in order, so once the sink sees it, they are all
	// written (or given up). Its own object: no spam filter or aggregation
	// of the gate's events holds it back. Never sent to the API server.
	r.recorder.Event(&corev1.ObjectReference{Kind: drainKind, Namespace: "default", Name: "drain"}, corev1.EventTypeNormal, "Drain", "drain")
	r.mu.Unlock()
	t := time.NewTimer(r.drain)
	select {
	case <-r.sink.drained:
	case <-t.C:
	}
	t.Stop()
	r.broadcaster.Shutdown()
	r.sink.close()
}

// drainKind marks Shutdown's marker event.
const drainKind = "extmetrics.dev/drain-marker"

var _ gate.EventRecorder = (*Recorder)(nil)

// sink writes events with a context Shutdown cancels, and counts the
// writes in flight so that Shutdown can wait for them.
type sink struct {
	client  typedcorev1.EventsGetter
	ctx     context.Context
	cancel  context.CancelFunc
	drained chan struct{} // closed when Shutdown's marker arrives
	once    sync.Once

	mu       sync.Mutex
	idle     *sync.Cond
	inFlight int
	closed   bool
}

var errClosed = errors.New("the gate's event recorder is shut down")

func (s *sink) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	s.inFlight++
	return nil
}

func (s *sink) done() {
	s.mu.Lock()
	s.inFlight--
	if s.inFlight == 0 {
		s.idle.Broadcast()
	}
	s.mu.Unlock()
}

func (s *sink) close() {
	s.cancel()
	s.mu.Lock()
	s.closed = true
	for s.inFlight > 0 {
		s.idle.Wait()
	}
	s.mu.Unlock()
}

func (s *sink) Create(e *corev1.Event) (*corev1.Event, error) {
	if e.InvolvedObject.Kind == drainKind {
		s.once.Do(func() { close(s.drained) })
		return e, nil
	}
	if err := s.start(); err != nil {
		return nil, err
	}
	defer s.done()
	return s.client.Events(e.Namespace).CreateWithEventNamespaceWithContext(s.ctx, e)
}

func (s *sink) Update(e *corev1.Event) (*corev1.Event, error) {
	if err := s.start(); err != nil {
		return nil, err
	}
	defer s.done()
	return s.client.Events(e.Namespace).UpdateWithEventNamespaceWithContext(s.ctx, e)
}

func (s *sink) Patch(e *corev1.Event, data []byte) (*corev1.Event, error) {
	if err := s.start(); err != nil {
		return nil, err
	}
	defer s.done()
	return s.client.Events(e.Namespace).PatchWithEventNamespaceWithContext(s.ctx, e, data)
}
