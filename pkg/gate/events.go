package gate

import (
	"crypto/sha256"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/extmetrics/extmetrics/pkg/flagger"
)

// Event types (core/v1 Event.type): Normal for a pass or a measurement,
// Warning for a fail and for every error (fail closed: no data is no pass).
const (
	EventNormal  = "Normal"
	EventWarning = "Warning"
)

// Event reasons, one per verdict.
const (
	EventReasonPassed   = "CheckPassed"   // Normal: the value is within its bounds
	EventReasonMeasured = "CheckMeasured" // Normal: a value and no bounds (Argo's successCondition judges it)
	EventReasonFailed   = "CheckFailed"   // Warning: the value is outside its bounds
	EventReasonError    = "CheckError"    // Warning: no verdict (no data, stale, ambiguous, an upstream or request error)
)

// The objects checks are recorded on.
const (
	CanaryAPIVersion      = flagger.Group + "/v1beta1"
	CanaryKind            = flagger.KindCanary
	AnalysisRunAPIVersion = "argoproj.io/v1alpha1"
	AnalysisRunKind       = "AnalysisRun"
)

// DefaultEventInterval is the de-duplication window of a check's events
// when its analysis interval is unknown (an AnalysisRun without interval=,
// a Canary without spec.analysis.interval: Flagger's default, 1m).
const DefaultEventInterval = time.Minute

// MaxEventKeys bounds the de-duplication memory: beyond it (every entry
// still within its interval), events of new (object, check, verdict)
// triples are dropped — counted in
// extmetrics_gate_events_total{outcome="dropped"} — until entries expire.
const MaxEventKeys = 4096

// MaxEventMessageBytes bounds an event's message (one line).
const MaxEventMessageBytes = 1024

// EventObject is the object an event is recorded on (core/v1
// ObjectReference): the Canary, with its UID so that `kubectl describe
// canary` lists the event, or the AnalysisRun (by name: the gate may not
// read AnalysisRuns, so it has no UID for them).
type EventObject struct {
	APIVersion, Kind, Namespace, Name, UID string
}

// Event is one check's verdict as a Kubernetes Event: type (EventNormal or
// EventWarning), reason (EventReason*) and a one-line message with the
// values, the bounds and whether the answer was cached. Never a token.
type Event struct {
	Object  EventObject
	Type    string
	Reason  string
	Message string
}

// EventRecorder records events (package kubeevents: Kubernetes Events
// through client-go's event recorder). Record must not block.
type EventRecorder interface {
	Record(Event)
}

// Outcomes of extmetrics_gate_events_total.
const (
	eventRecorded     = "recorded"     // handed to the recorder
	eventDeduplicated = "deduplicated" // the same (object, check, verdict) was recorded within the interval
	eventDropped      = "dropped"      // MaxEventKeys reached
	eventNoObject     = "no-object"    // the Canary is unknown to the gate, or the namespace is not watched
)

// namespaceWatcher is implemented by Objects that watch some namespaces
// only (kubesource.Source): events go to watched namespaces only.
type namespaceWatcher interface{ Watches(namespace string) bool }

// recordEvent records a check on the object its request names (the
// Canary of a Flagger webhook, the AnalysisRun= of an Argo request), at
// most once per (object, check, verdict) per analysis interval.
func (g *Gate) recordEvent(req *Request, res *Result) {
	if g.events == nil || (!req.CanaryEvents && req.AnalysisRun == "") {
		return
	}
	typ, reason := eventType(res.Verdict)
	obj, interval, ok := g.eventObject(req, res)
	if !ok {
		g.metrics.events.WithLabelValues(typ, eventNoObject).Inc()
		return
	}
	outcome := g.eventDedupe.allow(eventKey(obj, req, res.Verdict), interval)
	g.metrics.events.WithLabelValues(typ, outcome).Inc()
	if outcome != eventRecorded {
		return
	}
	g.events.Record(Event{Object: obj, Type: typ, Reason: reason, Message: oneLine(g.redact(res.eventMessage()), MaxEventMessageBytes)})
}

func eventType(verdict string) (typ, reason string) {
	switch verdict {
	case VerdictPass:
		return EventNormal, EventReasonPassed
	case VerdictMeasured:
		return EventNormal, EventReasonMeasured
	case VerdictFail:
		return EventWarning, EventReasonFailed
	}
	return EventWarning, EventReasonError
}

// eventObject is the object a request's event goes to and the check's
// analysis interval (the de-duplication window).
func (g *Gate) eventObject(req *Request, res *Result) (EventObject, time.Duration, bool) {
	interval := res.interval
	if interval <= 0 {
		if d, err := time.ParseDuration(req.Interval); err == nil && d > 0 {
			interval = d
		}
	}
	ns := req.Namespace
	if !dnsLabel.MatchString(ns) {
		return EventObject{}, 0, false
	}
	if w, ok := g.objects.(namespaceWatcher); ok && !w.Watches(ns) {
		return EventObject{}, 0, false
	}
	if req.AnalysisRun != "" {
		if !dnsSubdomain.MatchString(req.AnalysisRun) {
			return EventObject{}, 0, false
		}
		if interval <= 0 {
			interval = DefaultEventInterval
		}
		return EventObject{APIVersion: AnalysisRunAPIVersion, Kind: AnalysisRunKind, Namespace: ns, Name: req.AnalysisRun}, interval, true
	}
	// The Canary must be known (watched and existing): the payload's
	// name alone must not let a caller write events about any name.
	if g.objects == nil || !dnsSubdomain.MatchString(req.Name) {
		return EventObject{}, 0, false
	}
	c, err := g.objects.Canary(ns, req.Name)
	if err != nil || c == nil {
		return EventObject{}, 0, false
	}
	if interval <= 0 {
		interval = DefaultEventInterval
		if a := c.Spec.Analysis; a != nil {
			if d, err := time.ParseDuration(a.Interval); err == nil && d > 0 {
				interval = d
			}
		}
	}
	return EventObject{APIVersion: CanaryAPIVersion, Kind: CanaryKind, Namespace: ns, Name: c.Name, UID: c.UID}, interval, true
}

// eventKey identifies (object, check, verdict): the check is everything
// the request asks (template or provider and query, baseline, bounds,
// template variables), so two webhooks that differ only in a bound are two
// checks. A digest: the memory per key is fixed whatever the query's size.
func eventKey(obj EventObject, req *Request, verdict string) [sha256.Size]byte {
	var arr [512]byte // the usual key fits: no allocation
	b := arr[:0]
	for _, s := range [...]string{obj.APIVersion, obj.Kind, obj.Namespace, obj.Name, obj.UID, verdict,
		req.TemplateRef, req.Provider, req.Query, req.Baseline, req.BaselineTemplateRef,
		req.Target, req.Service, req.Ingress, req.Route, req.Interval} {
		b = appendField(b, s)
	}
	for _, v := range [...]*float64{req.Min, req.Max, req.MinRatio, req.MaxRatio, req.MinDelta, req.MaxDelta} {
		if v == nil {
			b = append(b, '-')
			continue
		}
		b = strconv.AppendFloat(b, *v, 'g', -1, 64)
		b = append(b, ';')
	}
	if len(req.Variables) > 0 {
		keys := make([]string, 0, len(req.Variables))
		for k := range req.Variables {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b = appendField(appendField(b, k), req.Variables[k])
		}
	}
	return sha256.Sum256(b)
}

// appendField appends s, prefixed by its length (unambiguous fields).
func appendField(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

// eventDedupe remembers, per (object, check, verdict), until when a
// repeat is not recorded again. At most max keys; expired keys are swept
// when the map is full (at most once a second, so a flood of new keys
// costs no sweep per check).
type eventDedupe struct {
	now func() time.Time
	max int

	mu        sync.Mutex
	until     map[[sha256.Size]byte]time.Time
	lastSweep time.Time
}

func newEventDedupe(now func() time.Time, max int) *eventDedupe {
	return &eventDedupe{now: now, max: max, until: map[[sha256.Size]byte]time.Time{}}
}

// allow says whether an event of key may be recorded now (eventRecorded,
// and then none again for window), or why not.
func (d *eventDedupe) allow(key [sha256.Size]byte, window time.Duration) string {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	until, ok := d.until[key]
	if ok && now.Before(until) {
		return eventDeduplicated
	}
	if !ok && len(d.until) >= d.max {
		if d.lastSweep.IsZero() || now.Sub(d.lastSweep) >= time.Second || now.Before(d.lastSweep) {
			d.lastSweep = now
			for k, u := range d.until {
				if !now.Before(u) {
					delete(d.until, k)
				}
			}
		}
		if len(d.until) >= d.max {
			return eventDropped
		}
	}
	d.until[key] = now.Add(window)
	return eventRecorded
}

// eventMessage is the event's one line: the check (template, or provider
// and query), the values (canary and, for a relative check, baseline,
// ratio and delta), the bounds, whether the answer was cached, and the
// queries — the last, so a cut keeps the verdict.
func (r *Result) eventMessage() string {
	s := r.summary()
	if r.Verdict == VerdictError {
		if b := r.bounds(); b.Min != nil || b.Max != nil || b.Relative() {
			s += "; bounds " + b.String()
		}
	}
	s += "; cached: " + strconv.FormatBool(r.Cached)
	return oneLine(s+r.querySuffix(), MaxEventMessageBytes)
}

func newEventsCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: MetricsNamespace, Name: "events_total",
		Help: "Checks recorded as Kubernetes Events, by type (Normal, Warning) and outcome: recorded, deduplicated (the same object, check and verdict within the analysis interval), dropped (de-duplication memory full), no-object (Canary unknown or namespace not watched).",
	}, []string{"type", "outcome"})
}

// validateAnalysisRun checks the analysisRun parameter: a name, in the
// request's namespace.
func validateAnalysisRun(req *Request) error {
	if req.AnalysisRun == "" {
		return nil
	}
	if req.Namespace == "" {
		return badRequest(fmt.Sprintf("analysisRun %q needs namespace (the AnalysisRun's namespace)", req.AnalysisRun))
	}
	if !dnsLabel.MatchString(req.Namespace) || !dnsSubdomain.MatchString(req.AnalysisRun) {
		return badRequest(fmt.Sprintf("analysisRun %q in namespace %q: want an AnalysisRun's name and namespace", req.AnalysisRun, req.Namespace))
	}
	return nil
}
