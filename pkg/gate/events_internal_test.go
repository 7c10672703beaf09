package gate

import (
	"crypto/sha256"
	"testing"
	"time"
)

// The de-duplication map: a repeat within its window is not recorded, a
// full map drops new keys, expired keys are swept when the map is full (at
// most once a second) and re-recording an expired key does not grow it.
func TestEventDedupe(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	d := newEventDedupe(func() time.Time { return now }, 2)
	k := func(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }
	step := func(key string, window time.Duration, want string) {
		t.Helper()
		if got := d.allow(k(key), window); got != want {
			t.Fatalf("%s at %v: %s, want %s", key, now, got, want)
		}
	}
	step("a", time.Minute, eventRecorded)
	step("a", time.Minute, eventDeduplicated)
	step("b", 10*time.Minute, eventRecorded)
	step("c", time.Minute, eventDropped)  // full; nothing expired
	now = now.Add(time.Minute)            // a expired, b not
	step("a", time.Minute, eventRecorded) // expired: recorded again, in place
	if len(d.until) != 2 {
		t.Fatalf("%d keys", len(d.until))
	}
	now = now.Add(time.Minute)            // a expired again
	step("c", time.Minute, eventRecorded) // the sweep removed a
	step("d", time.Minute, eventDropped)  // full (b, c), and swept less than a second ago
	now = now.Add(time.Minute)            // c expired
	step("d", time.Minute, eventRecorded) // swept again: c removed
	if len(d.until) != 2 {
		t.Fatalf("%d keys, want the cap", len(d.until))
	}
}

// The key tells checks apart by everything they ask, and verdicts apart.
func TestEventKey(t *testing.T) {
	one, two := 1.0, 2.0
	obj := EventObject{Kind: "Canary", Namespace: "shop", Name: "web", UID: "u"}
	base := Request{TemplateRef: "t", Max: &one, Variables: map[string]string{"a": "1", "b": "2"}}
	same := Request{TemplateRef: "t", Max: &one, Variables: map[string]string{"b": "2", "a": "1"}}
	if eventKey(obj, &base, VerdictPass) != eventKey(obj, &same, VerdictPass) {
		t.Fatal("the same check, two keys")
	}
	for name, other := range map[string]Request{
		"bound":    {TemplateRef: "t", Max: &two, Variables: base.Variables},
		"min":      {TemplateRef: "t", Min: &one, Variables: base.Variables},
		"variable": {TemplateRef: "t", Max: &one, Variables: map[string]string{"a": "1", "b": "3"}},
		"baseline": {TemplateRef: "t", Baseline: "q", Max: &one, Variables: base.Variables},
	} {
		if eventKey(obj, &base, VerdictPass) == eventKey(obj, &other, VerdictPass) {
			t.Errorf("%s: the same key", name)
		}
	}
	// Fields are length-prefixed: "ab"+"" is not "a"+"b".
	if eventKey(obj, &Request{TemplateRef: "ab"}, VerdictPass) == eventKey(obj, &Request{TemplateRef: "a", Provider: "b"}, VerdictPass) {
		t.Error("ambiguous fields")
	}
	if eventKey(obj, &base, VerdictPass) == eventKey(obj, &base, VerdictFail) {
		t.Error("verdicts share a key")
	}
	obj2 := obj
	obj2.UID = "v" // a Canary deleted and created again
	if eventKey(obj, &base, VerdictPass) == eventKey(obj2, &base, VerdictPass) {
		t.Error("objects share a key")
	}
}
