package kubesource_test

// Unit tests of the informer layer with client-go's fake clients. The proof
// against a real kube-apiserver is in the e2e tests.

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/extmetrics/extmetrics/internal/testutil"
	"github.com/extmetrics/extmetrics/pkg/gate"
	"github.com/extmetrics/extmetrics/pkg/gate/kubesource"
)

func template(ns, name, query string, provider map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate",
		"metadata": map[string]any{"name": name, "namespace": ns, "resourceVersion": "1"},
		"spec":     map[string]any{"provider": provider, "query": query},
	}}
}

func canary(ns, name, target string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
		"metadata": map[string]any{"name": name, "namespace": ns, "uid": "uid-" + name},
		"spec": map[string]any{
			"targetRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
			"service":   map[string]any{"port": int64(80)},
			"analysis": map[string]any{"interval": "30s", "threshold": int64(2), "metrics": []any{
				map[string]any{"name": "errors", "templateRef": map[string]any{"name": "errors"}, "interval": "2m",
					"templateVariables": map[string]any{"metric": "m"}, "thresholdRange": map[string]any{"max": int64(1)}},
			}},
		},
		"status": map[string]any{"phase": "Progressing"},
	}}
}

func newSource(t *testing.T, opts kubesource.Options, objs ...runtime.Object) (*kubesource.Source, *dynfake.FakeDynamicClient, *kubefake.Clientset) {
	t.Helper()
	var dynObjs, kubeObjs []runtime.Object
	for _, o := range objs {
		if _, ok := o.(*unstructured.Unstructured); ok {
			dynObjs = append(dynObjs, o)
		} else {
			kubeObjs = append(kubeObjs, o)
		}
	}
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		kubesource.MetricTemplates: "MetricTemplateList", kubesource.Canaries: "CanaryList",
	}, dynObjs...)
	kube := kubefake.NewSimpleClientset(kubeObjs...)
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	s := kubesource.NewForClients(dyn, kube, opts)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if ok, _ := s.Ready(); ok {
		t.Fatal("ready before start")
	}
	s.Start(ctx)
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if !s.WaitForSync(wctx) {
		t.Fatal("informers did not sync")
	}
	if ok, detail := s.Ready(); !ok {
		t.Fatal(detail)
	}
	return s, dyn, kube
}

func TestSourceServesAndFollowsChanges(t *testing.T) {
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "shop", Annotations: map[string]string{
			"kubectl.kubernetes.io/last-applied-configuration": `{"data":{"token":"c2VjcmV0"}}`}},
		Data: map[string][]byte{"token": []byte("secret")},
	}
	s, dyn, kube := newSource(t, kubesource.Options{},
		template("shop", "errors", "shop/{{ variables.metric }}", map[string]any{"type": "externalmetrics", "secretRef": map[string]any{"name": "creds"}}),
		canary("shop", "web", "web-deploy"), sec)

	tm, err := s.MetricTemplate("shop", "errors")
	if err != nil || tm.Spec.Provider.SecretRef.Name != "creds" || tm.Spec.Query != "shop/{{ variables.metric }}" {
		t.Fatalf("%+v %v", tm, err)
	}
	c, err := s.Canary("shop", "web")
	// metadata.uid is kept: the gate's Events name the Canary by it.
	if err != nil || c.Spec.TargetRef.Name != "web-deploy" || c.Spec.Analysis.Metrics[0].Interval != "2m" || c.UID != "uid-web" {
		t.Fatalf("%+v %v", c, err)
	}
	got, err := s.Secret("shop", "creds")
	if err != nil || string(got.Data["token"]) != "secret" {
		t.Fatalf("%v %v", got, err)
	}
	if !s.Watches("shop") || !s.Watches("other") {
		t.Fatal("Watches: every namespace without --namespaces")
	}
	if _, err := s.MetricTemplate("shop", "nosuch"); !errors.Is(err, gate.ErrNotFound) {
		t.Fatal(err)
	}

	// Update and delete are followed.
	ctx := context.Background()
	upd := template("shop", "errors", "shop/other", map[string]any{"type": "externalmetrics"})
	upd.SetResourceVersion("2")
	if _, err := dyn.Resource(kubesource.MetricTemplates).Namespace("shop").Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "update", func() bool {
		tm, _ := s.MetricTemplate("shop", "errors")
		return tm != nil && tm.Spec.Query == "shop/other"
	})
	if err := kube.CoreV1().Secrets("shop").Delete(ctx, "creds", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "secret delete", func() bool { _, err := s.Secret("shop", "creds"); return err != nil })

	// A broken template reports the decoder's error.
	bad := template("shop", "broken", "x", map[string]any{"type": "externalmetrics", "adress": "https://x"})
	if _, err := dyn.Resource(kubesource.MetricTemplates).Namespace("shop").Create(ctx, bad, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "broken", func() bool {
		_, err := s.MetricTemplate("shop", "broken")
		return err != nil && strings.Contains(err.Error(), "adress")
	})
}

func TestProviderTypeAnnotation(t *testing.T) {
	annotated := template("shop", "a", "q", map[string]any{"type": "prometheus", "address": "https://dca.datadog:8443"})
	annotated.SetAnnotations(map[string]string{kubesource.ProviderTypeAnnotation: "externalmetrics"})
	s, _, _ := newSource(t, kubesource.Options{}, annotated, template("shop", "b", "q", map[string]any{"type": "prometheus"}))
	if tm, err := s.MetricTemplate("shop", "a"); err != nil || tm.Spec.Provider.Type != "externalmetrics" || tm.Spec.Provider.Address != "https://dca.datadog:8443" {
		t.Fatalf("%+v %v", tm, err)
	}
	if tm, err := s.MetricTemplate("shop", "b"); err != nil || tm.Spec.Provider.Type != "prometheus" {
		t.Fatalf("%+v %v", tm, err)
	}
}

func TestSourceNamespaces(t *testing.T) {
	s, _, _ := newSource(t, kubesource.Options{Namespaces: []string{"shop"}},
		template("shop", "a", "q", map[string]any{"type": "externalmetrics"}),
		template("other", "b", "q", map[string]any{"type": "externalmetrics"}))
	if _, err := s.MetricTemplate("shop", "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MetricTemplate("other", "b"); !errors.Is(err, gate.ErrNotWatched) || !strings.Contains(err.Error(), "--namespaces shop") {
		t.Fatal(err)
	}
	if !s.Watches("shop") || s.Watches("other") { // the gate writes Events in watched namespaces only
		t.Fatal("Watches")
	}
}
