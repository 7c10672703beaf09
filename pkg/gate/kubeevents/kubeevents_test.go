package kubeevents_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/extmetrics/extmetrics/internal/testutil"
	"github.com/extmetrics/extmetrics/pkg/gate"
	"github.com/extmetrics/extmetrics/pkg/gate/kubeevents"
)

func list(t *testing.T, c *fake.Clientset, ns string) []corev1.Event {
	t.Helper()
	l, err := c.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// Unit test against client-go's fake clientset (the real API server:
// test/e2e/gate TestGateEvents): the event's object, type, reason,
// message and source; a repeat of the same message becomes a count (the
// correlator's patch); Shutdown leaves no goroutine and Record after it
// does nothing.
func TestRecorder(t *testing.T) {
	before := runtime.NumGoroutine()
	c := fake.NewClientset()
	r := kubeevents.NewForClient(c.CoreV1(), kubeevents.Options{Host: "gate-0"})
	obj := gate.EventObject{APIVersion: "flagger.app/v1beta1", Kind: "Canary", Namespace: "shop", Name: "web", UID: "u-1"}
	r.Record(gate.Event{Object: obj, Type: gate.EventNormal, Reason: gate.EventReasonPassed, Message: "provider dev: value 1 within max 2; cached: false"})
	var got []corev1.Event
	testutil.Eventually(t, 10*time.Second, "the event", func() (bool, string) {
		got = list(t, c, "shop")
		return len(got) == 1, ""
	})
	e := got[0]
	io := e.InvolvedObject
	if io.APIVersion != obj.APIVersion || io.Kind != "Canary" || io.Namespace != "shop" || io.Name != "web" || io.UID != "u-1" ||
		e.Type != "Normal" || e.Reason != "CheckPassed" || e.Message != "provider dev: value 1 within max 2; cached: false" ||
		e.Source.Component != "extmetrics-gate" || e.Source.Host != "gate-0" || e.ReportingController != "extmetrics-gate" || e.Count != 1 {
		t.Fatalf("%+v", e)
	}
	// The same event again: client-go's correlator counts it on the same Event.
	r.Record(gate.Event{Object: obj, Type: gate.EventNormal, Reason: gate.EventReasonPassed, Message: "provider dev: value 1 within max 2; cached: false"})
	testutil.Eventually(t, 10*time.Second, "count 2", func() (bool, string) {
		got = list(t, c, "shop")
		return len(got) == 1 && got[0].Count == 2, ""
	})
	// An AnalysisRun (no UID) in another namespace.
	r.Record(gate.Event{Object: gate.EventObject{APIVersion: "argoproj.io/v1alpha1", Kind: "AnalysisRun", Namespace: "pay", Name: "run-1"},
		Type: gate.EventWarning, Reason: gate.EventReasonFailed, Message: "m"})
	testutil.Eventually(t, 10*time.Second, "the AnalysisRun's event", func() (bool, string) {
		got = list(t, c, "pay")
		return len(got) == 1 && got[0].InvolvedObject.Kind == "AnalysisRun" && got[0].Type == "Warning", ""
	})

	r.Shutdown()
	r.Shutdown() // idempotent
	r.Record(gate.Event{Object: obj, Type: gate.EventNormal, Reason: gate.EventReasonPassed, Message: "after"})
	testutil.Eventually(t, 10*time.Second, "no goroutine left", func() (bool, string) {
		n := runtime.NumGoroutine()
		return n <= before, ""
	})
	if got := list(t, c, "shop"); len(got) != 1 || got[0].Count != 2 {
		t.Fatalf("recorded after Shutdown: %+v", got)
	}
}

// Shutdown right after recording writes what was recorded first; when the
// API server does not answer, it gives up after DrainTimeout and leaves no
// goroutine behind.
func TestShutdownDrains(t *testing.T) {
	c := fake.NewClientset()
	r := kubeevents.NewForClient(c.CoreV1(), kubeevents.Options{Host: "gate-0"})
	for i := 0; i < 20; i++ {
		r.Record(gate.Event{Object: gate.EventObject{APIVersion: "flagger.app/v1beta1", Kind: "Canary", Namespace: "shop", Name: fmt.Sprintf("c%d", i)},
			Type: gate.EventWarning, Reason: gate.EventReasonFailed, Message: "m"})
	}
	r.Shutdown()
	if got := list(t, c, "shop"); len(got) != 20 {
		t.Fatalf("%d events written before Shutdown returned, want 20", len(got))
	}

	before := runtime.NumGoroutine()
	down := fake.NewClientset()
	down.PrependReactor("create", "events", func(k8stesting.Action) (bool, k8sruntime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	r = kubeevents.NewForClient(down.CoreV1(), kubeevents.Options{DrainTimeout: 300 * time.Millisecond})
	r.Record(gate.Event{Object: gate.EventObject{Kind: "Canary", Namespace: "shop", Name: "web"}, Type: gate.EventNormal, Reason: gate.EventReasonPassed, Message: "m"})
	start := time.Now()
	r.Shutdown()
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Fatalf("Shutdown took %v with the API server down, want about the 300ms DrainTimeout", d)
	}
	testutil.Eventually(t, 10*time.Second, "no goroutine left", func() (bool, string) {
		return runtime.NumGoroutine() <= before, fmt.Sprint(runtime.NumGoroutine(), " > ", before)
	})
}
