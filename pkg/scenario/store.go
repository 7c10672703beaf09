package scenario

import (
	"fmt"
	"maps"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/utils/clock"
)

// Value is one series' current value, ready to become an ExternalMetricValue.
type Value struct {
	Metric        string            // as written in the scenario or the Set call
	Labels        map[string]string // never nil; shared with the store: read only
	Value         float64
	Timestamp     time.Time // already includes the series' timestamp offset and any StaleBy
	WindowSeconds *int64    // shared with the store: read only
}

// Store holds the live series (from a scenario plus admin changes) and faults.
// It is safe for concurrent use; time comes from the clock given to NewStore.
//
// Readers never block: the series and faults live in an immutable snapshot
// that writers (Load, Set, Delete, SetFault) copy, change and publish
// atomically; only the per-series poll counters change in place (atomically).
type Store struct {
	clk   clock.PassiveClock
	start time.Time
	mu    sync.Mutex // serialises writers
	snap  atomic.Pointer[snapshot]
}

type series struct {
	name      string // as written
	namespace string
	labels    map[string]string // never nil, never modified
	window    *int64
	offset    time.Duration
	gen       Generator
	admin     bool // created by Set
	polls     atomic.Uint64
}

type snapshot struct {
	byName     map[string][]*series // lowercased metric name -> its series, in order
	all        []*series            // every series, in order
	names      []string             // distinct names as first written, sorted
	faults     map[string]Fault     // lowercased metric name -> fault
	faultNames map[string]string    // metric name -> name as written
	global     Fault
}

// NewStore returns an empty store; elapsed time for generators counts from now.
func NewStore(clk clock.PassiveClock) *Store {
	if clk == nil {
		clk = clock.RealClock{}
	}
	s := &Store{clk: clk, start: clk.Now()}
	s.snap.Store(&snapshot{byName: map[string][]*series{}, faults: map[string]Fault{}, faultNames: map[string]string{}})
	return s
}

// Start is the time elapsed time counts from.
func (s *Store) Start() time.Time { return s.start }

// Load atomically replaces the scenario's series and faults (admin-set series
// and faults are replaced too, and poll counts start again from 0). The
// generators' start time is kept across reloads. A nil scenario empties the
// store. Load does not validate: Parse does, and Scenario.Validate checks a
// scenario built in code. A metric without a generator serves 0.
func (s *Store) Load(sc *Scenario) {
	next := &snapshot{byName: map[string][]*series{}, faults: map[string]Fault{}, faultNames: map[string]string{}}
	if sc != nil {
		next.all = make([]*series, 0, len(sc.Metrics))
		for _, m := range sc.Metrics {
			ns := m.Namespace
			if ns == "" {
				ns = DefaultNamespace
			}
			lbls := make(map[string]string, len(m.Labels))
			maps.Copy(lbls, m.Labels)
			gen := m.Generator
			if gen == nil {
				gen = Constant(0)
			}
			se := &series{name: m.Name, namespace: ns, labels: lbls, window: copyInt64(m.WindowSeconds), offset: m.TimestampOffset, gen: gen}
			next.all = append(next.all, se)
			k := m.Name
			next.byName[k] = append(next.byName[k], se)
		}
		for name, f := range sc.Faults {
			next.setFault(name, f)
		}
	}
	next.names = distinctNames(next.all)
	s.mu.Lock()
	s.snap.Store(next)
	s.mu.Unlock()
}

func copyInt64(p *int64) *int64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func distinctNames(all []*series) []string {
	seen := make(map[string]bool, len(all))
	var names []string
	for _, se := range all {
		k := se.name
		if !seen[k] {
			seen[k] = true
			names = append(names, se.name)
		}
	}
	sort.Strings(names)
	return names
}

// Lookup returns the values of metric in namespace whose labels match sel,
// each generator advanced one poll. namespace "" matches every namespace.
// known reports whether the metric name exists at all (in any namespace when
// namespace is "", else in that namespace). Metric names compare exactly.
// A nil sel matches everything. Values come in scenario order, admin-added
// series last.
func (s *Store) Lookup(namespace, metric string, sel labels.Selector) (values []Value, known bool) {
	m := Matcher{sel: sel, all: sel == nil || sel.Empty()}
	return s.lookup(nil, namespace, metric, &m, true)
}

// AppendLookup is Lookup with a prepared Matcher (nil matches everything),
// appending the values to dst, whose array it reuses when large enough: a
// server answering many requests keeps one dst per worker and allocates
// nothing. dst's old elements are overwritten only past len(dst).
func (s *Store) AppendLookup(dst []Value, namespace, metric string, m *Matcher) (values []Value, known bool) {
	if m == nil {
		m = &matchEverything
	}
	return s.lookup(dst, namespace, metric, m, false)
}

func (s *Store) lookup(dst []Value, namespace, metric string, m *Matcher, size bool) (values []Value, known bool) {
	snap := s.snap.Load()
	key := metric
	list := snap.byName[key]
	if len(list) == 0 {
		return dst, false
	}
	now := s.clk.Now()
	elapsed := now.Sub(s.start)
	if elapsed < 0 {
		elapsed = 0
	}
	stale := snap.fault(key).StaleBy
	if size {
		// Size the result once: the series in the namespace bound the matches.
		n := len(list)
		if namespace != "" {
			n = 0
			for _, se := range list {
				if se.namespace == namespace {
					n++
				}
			}
			if n == 0 {
				return dst, false
			}
		}
		dst = make([]Value, 0, n)
	}
	values = dst
	for _, se := range list {
		if namespace != "" && se.namespace != namespace {
			continue
		}
		known = true
		if !m.Matches(se.labels) {
			continue
		}
		poll := se.polls.Add(1) - 1
		values = append(values, Value{
			Metric:        se.name,
			Labels:        se.labels,
			Value:         se.gen.Value(elapsed, poll),
			Timestamp:     now.Add(se.offset - stale),
			WindowSeconds: se.window,
		})
	}
	return values, known
}

// Matcher is a label selector prepared for AppendLookup. A selector made
// only of equality requirements (k=v, k==v), the common case, compares the
// series' labels directly instead of going through labels.Selector; any
// other selector is asked with Matches. Build one per distinct selector and
// reuse it: it is immutable and safe for concurrent use.
type Matcher struct {
	sel labels.Selector
	all bool        // matches everything
	eq  []labelPair // when non-nil: the selector is exactly these equalities
}

type labelPair struct{ key, value string }

var matchEverything = Matcher{sel: labels.Everything(), all: true}

// NewMatcher prepares sel (nil matches everything).
func NewMatcher(sel labels.Selector) *Matcher {
	m := &Matcher{sel: sel, all: sel == nil || sel.Empty()}
	if m.all {
		return m
	}
	reqs, selectable := sel.Requirements()
	if !selectable || len(reqs) == 0 {
		return m
	}
	eq := make([]labelPair, 0, len(reqs))
	for i := range reqs {
		r := &reqs[i]
		vals := r.ValuesUnsorted()
		switch op := r.Operator(); {
		case (op == selection.Equals || op == selection.DoubleEquals) && len(vals) == 1:
			eq = append(eq, labelPair{r.Key(), vals[0]})
		default:
			return m
		}
	}
	m.eq = eq
	return m
}

// Selector is the label selector m was made from (labels.Everything for nil).
func (m *Matcher) Selector() labels.Selector {
	if m.sel == nil {
		return labels.Everything()
	}
	return m.sel
}

// Matches reports whether a series with these labels is selected.
func (m *Matcher) Matches(lbls map[string]string) bool {
	switch {
	case m.all:
		return true
	case m.eq != nil:
		for _, p := range m.eq {
			if v, ok := lbls[p.key]; !ok || v != p.value {
				return false
			}
		}
		return true
	}
	return m.sel.Matches(labels.Set(lbls))
}

// MetricNames lists the distinct metric names served (sorted, as written;
// of names differing only in case, the first written).
func (s *Store) MetricNames() []string {
	return append([]string(nil), s.snap.Load().names...)
}

// Set creates or replaces a constant series; value is a number or a quantity
// string ("1500m"). Namespace, metric name, labels and value are validated
// and a bad one is an error naming it. Replacing a series keeps its window
// and timestamp offset and restarts its poll count.
func (s *Store) Set(namespace, metric string, lbls map[string]string, value string) error {
	if err := ValidateNamespace(namespace); err != nil {
		return err
	}
	if err := ValidateMetricName(metric); err != nil {
		return err
	}
	if err := ValidateLabels(lbls); err != nil {
		return err
	}
	v, err := ParseValue(value)
	if err != nil {
		return err
	}
	own := make(map[string]string, len(lbls))
	maps.Copy(own, lbls)
	se := &series{name: metric, namespace: namespace, labels: own, gen: Constant(v), admin: true}

	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.snap.Load()
	next := cur.clone()
	key := metric
	list := append([]*series(nil), cur.byName[key]...)
	if i := find(list, namespace, lbls); i >= 0 {
		old := list[i]
		se.window, se.offset = old.window, old.offset
		list[i] = se
		for j, x := range next.all {
			if x == old {
				next.all[j] = se
				break
			}
		}
	} else {
		list = append(list, se)
		next.all = append(next.all, se)
	}
	next.byName[key] = list
	next.names = distinctNames(next.all)
	s.snap.Store(next)
	return nil
}

// Delete removes a series (exact label match; nil and empty labels are the
// same) and reports whether it existed.
func (s *Store) Delete(namespace, metric string, lbls map[string]string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.snap.Load()
	key := metric
	i := find(cur.byName[key], namespace, lbls)
	if i < 0 {
		return false
	}
	old := cur.byName[key][i]
	next := cur.clone()
	list := append(append([]*series(nil), cur.byName[key][:i]...), cur.byName[key][i+1:]...)
	if len(list) == 0 {
		delete(next.byName, key)
	} else {
		next.byName[key] = list
	}
	for j, x := range next.all {
		if x == old {
			next.all = append(next.all[:j], next.all[j+1:]...)
			break
		}
	}
	next.names = distinctNames(next.all)
	s.snap.Store(next)
	return true
}

func find(list []*series, namespace string, lbls map[string]string) int {
	for i, se := range list {
		if se.namespace == namespace && maps.Equal(se.labels, lbls) {
			return i
		}
	}
	return -1
}

// clone copies the snapshot's maps and slices (not the series) for a writer to change.
func (sn *snapshot) clone() *snapshot {
	return &snapshot{
		byName:     maps.Clone(sn.byName),
		all:        append([]*series(nil), sn.all...),
		names:      sn.names,
		faults:     maps.Clone(sn.faults),
		faultNames: maps.Clone(sn.faultNames),
		global:     sn.global,
	}
}

func (sn *snapshot) fault(key string) Fault {
	if len(sn.faults) > 0 {
		if f, ok := sn.faults[key]; ok {
			return f
		}
	}
	return sn.global
}

func (sn *snapshot) setFault(metric string, f Fault) {
	if metric == "" || metric == "*" {
		sn.global = f
		return
	}
	k := metric
	if f.IsZero() {
		delete(sn.faults, k)
		delete(sn.faultNames, k)
		return
	}
	sn.faults[k] = f
	sn.faultNames[k] = metric
}

// Fault returns the fault in force for metric: the metric's own, else the
// global one. Names compare exactly.
func (s *Store) Fault(metric string) Fault {
	return s.snap.Load().fault(metric)
}

// SetFault sets the fault of one metric, or the global one when metric is ""
// (or "*"). A zero Fault clears it. The fault is not validated: callers
// decoding user input get validation from Fault.UnmarshalJSON or Validate.
func (s *Store) SetFault(metric string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.snap.Load().clone()
	next.setFault(metric, f)
	s.snap.Store(next)
}

// State is a JSON-ready snapshot of a Store, for the admin API.
type State struct {
	Start   time.Time        `json:"start"`
	Now     time.Time        `json:"now"`
	Elapsed string           `json:"elapsed"` // Go duration, e.g. "1m30s"
	Series  []SeriesState    `json:"series"`
	Faults  map[string]Fault `json:"faults"` // by metric name; "*" is the global fault
}

// SeriesState is one series in a State.
type SeriesState struct {
	Namespace     string            `json:"namespace"`
	Metric        string            `json:"metric"`
	Labels        map[string]string `json:"labels"`
	Value         string            `json:"value"`     // quantity, e.g. "1500m": what the next poll returns
	Timestamp     time.Time         `json:"timestamp"` // with timestamp offset and StaleBy applied
	WindowSeconds *int64            `json:"windowSeconds,omitempty"`
	Generator     string            `json:"generator"` // constant, steps, ramp, sine, noise or sequence
	Polls         uint64            `json:"polls"`     // lookups that returned the series so far
	Source        string            `json:"source"`    // "scenario" or "admin"
}

// Snapshot is a JSON-ready snapshot of every series (with current values)
// and fault, for the admin API. It does not advance any poll count: a
// series' value is the one its next poll would return.
func (s *Store) Snapshot() State {
	snap := s.snap.Load()
	now := s.clk.Now()
	elapsed := now.Sub(s.start)
	if elapsed < 0 {
		elapsed = 0
	}
	st := State{Start: s.start, Now: now, Elapsed: elapsed.String(), Series: make([]SeriesState, 0, len(snap.all)), Faults: map[string]Fault{}}
	for _, se := range snap.all {
		polls := se.polls.Load()
		src := "scenario"
		if se.admin {
			src = "admin"
		}
		st.Series = append(st.Series, SeriesState{
			Namespace:     se.namespace,
			Metric:        se.name,
			Labels:        maps.Clone(se.labels),
			Value:         FormatQuantity(se.gen.Value(elapsed, polls)),
			Timestamp:     now.Add(se.offset - snap.fault(se.name).StaleBy),
			WindowSeconds: copyInt64(se.window),
			Generator:     se.gen.Kind(),
			Polls:         polls,
			Source:        src,
		})
	}
	if !snap.global.IsZero() {
		st.Faults["*"] = snap.global
	}
	for k, f := range snap.faults {
		st.Faults[snap.faultNames[k]] = f
	}
	return st
}

// String describes the store briefly, for logs.
func (s *Store) String() string {
	snap := s.snap.Load()
	faults := len(snap.faults)
	if !snap.global.IsZero() {
		faults++
	}
	return fmt.Sprintf("%d series of %d metrics, %d faults", len(snap.all), len(snap.names), faults)
}
