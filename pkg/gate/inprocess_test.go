package gate_test

import (
	"context"
	"strings"
	"testing"

	"github.com/extmetrics/extmetrics/pkg/flagger"
	"github.com/extmetrics/extmetrics/pkg/gate"
)

// The gate in-process (analyze): any metadata, validated and run, never
// panics and never passes without a provider to read.
func FuzzWebhookInProcess(f *testing.F) {
	set := flagger.NewSet(flagger.Options{})
	set.Parse("t.yaml", []byte(`apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: t, namespace: default, annotations: {extmetrics.dev/provider-type: externalmetrics}}
spec: {provider: {type: prometheus, address: "http://127.0.0.1:1"}, query: "default/m"}
`))
	if err := set.Err(); err != nil {
		f.Fatal(err)
	}
	g, err := gate.New(gate.Options{Objects: gate.NewSetObjects(set)})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("templateRef=t;max=1")
	f.Add("templateRef=default/t;baselineTemplateRef=t;maxRatio=1.2;maxDelta=0")
	f.Add("provider=dev;query={{ target }};baseline=b;minRatio=2;maxRatio=1")
	f.Add("templateRef=t;max=NaN;variables.x=y;interval=1m")
	f.Add("address=http://x;query=q")
	f.Fuzz(func(t *testing.T, md string) {
		meta := map[string]string{}
		for _, kv := range strings.Split(md, ";") {
			k, v, _ := strings.Cut(kv, "=")
			meta[k] = v
		}
		c := &flagger.Canary{Name: "web", Namespace: "default"}
		w := &flagger.Webhook{Name: "g", URL: "http://gate" + flagger.GateCheckPath, Timeout: "1s", Metadata: meta}
		_ = g.ValidateWebhook(c, w)
		gc := g.CheckWebhook(context.Background(), c, w)
		if gc.Passed || gc.Status == 200 || gc.Message == "" {
			t.Fatalf("%q: passed without a server: %+v", md, gc)
		}
	})
}
