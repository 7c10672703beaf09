package flagger

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestFlaggerCompat(t *testing.T) {
	cases := []struct {
		rendered string
		want     []string // substrings, one per note, in order
		codes    []string
	}{
		{"ci/errors?labelSelector=app=web", nil, nil},
		{"ci/errors\n", []string{"a trailing newline"}, []string{CompatQueryControlChar}},
		{"ci/errors?labelSelector=app=web\r\n", []string{"a trailing newline"}, []string{CompatQueryControlChar}},
		{"ci/err\tors", []string{`a control character ('\t' at offset 6)`}, []string{CompatQueryControlChar}},
		{" ci/errors", []string{"starts or ends with spaces"}, []string{CompatQuerySpaces}},
		{"ci/errors?aggregate=sum&maxAge=90s", []string{"ignores aggregate=sum", "ignores maxAge=1m30s"}, []string{CompatIgnoresAggregate, CompatIgnoresMaxAge}},
		{"ci/errors?aggregate=first\n", []string{"trailing newline", "ignores aggregate=first"}, []string{CompatQueryControlChar, CompatIgnoresAggregate}},
		{"ci/errors?bogus=1", nil, nil}, // an error here anyway
	}
	for _, c := range cases {
		got := FlaggerCompat(c.rendered)
		if len(got) != len(c.want) {
			t.Errorf("%q: %d notes %q, want %d", c.rendered, len(got), got, len(c.want))
			continue
		}
		for i, w := range c.want {
			if !strings.Contains(got[i].Text, w) || got[i].Code != c.codes[i] {
				t.Errorf("%q: note %d %+v lacks %q or has not code %s", c.rendered, i, got[i], w, c.codes[i])
			}
		}
	}
}

func podTemplate(address string, insecure bool) *MetricTemplate {
	return &MetricTemplate{Name: "t", Namespace: "ci", Spec: MetricTemplateSpec{
		Provider: MetricProvider{Type: ProviderExternal, Address: address, InsecureSkipVerify: insecure},
		Query:    "ci/errors",
	}}
}

func podSecret(keys ...string) *Secret {
	s := &Secret{Name: "s", Namespace: "ci", Data: map[string][]byte{}}
	for _, k := range keys {
		s.Data[k] = []byte("x")
	}
	return s
}

// Each claim of issue 17 (item 3), and no note where Flagger in a pod would
// connect as extmetrics does.
func TestFlaggerPodCompat(t *testing.T) {
	const addr = "https://metrics.example:8443"
	type note struct {
		code  string
		parts []string // substrings of the text
	}
	cases := []struct {
		name     string
		t        *MetricTemplate
		secret   *Secret
		want     []note
		flaggErr []string // FlaggerError per note
	}{
		{name: "no address, no secret", t: podTemplate("", false)},
		{name: "no address, secret without known keys", t: podTemplate("", false), secret: podSecret("other")},
		{name: "other provider type", t: func() *MetricTemplate { t := podTemplate(addr, true); t.Spec.Provider.Type = "prometheus"; return t }()},
		{name: "insecure, no address", t: podTemplate("", true), want: []note{{CompatPodInsecureSkipVerify, []string{
			"Flagger v1.43–v1.44 in a pod would fail every check", "before any request",
			"error creating external metric client: specifying a root certificates file with the insecure flag is not allowed",
			"Fix: drop insecureSkipVerify", "extmetrics gate", "no Flagger release up to v1.44.0 fixes this"}}},
			flaggErr: []string{FlaggerErrInsecureWithCA}},
		// With insecureSkipVerify Flagger never connects: no token, CA or
		// client-certificate note, and the fix warns about the token.
		{name: "insecure, address, secret", t: podTemplate(addr, true), secret: podSecret("token", "ca.crt", "tls.crt", "tls.key"),
			want: []note{{CompatPodInsecureSkipVerify, []string{"specifying a root certificates file with the insecure flag is not allowed",
				"not by dropping insecureSkipVerify: Flagger would then send its own service-account token to " + addr}}},
			flaggErr: []string{FlaggerErrInsecureWithCA}},
		{name: "address, secret token", t: podTemplate(addr, false), secret: podSecret("token"), want: []note{{CompatPodSecretTokenIgnored, []string{
			"Flagger v1.43–v1.44 in a pod would send its own service-account token instead", "pod's token file",
			"to " + addr + " (once its certificate verifies against the cluster's CA)", "a credential leak", "401 Unauthorized",
			"`extmetrics gate`, which sends only the Secret's token"}}},
			flaggErr: []string{FlaggerErrUnauthorized}},
		{name: "address, no secret", t: podTemplate(addr, false), want: []note{{CompatPodTokenLeak, []string{
			"Flagger v1.43–v1.44 in a pod would send its own service-account token", "to " + addr, "a credential leak",
			"(once its certificate verifies against the cluster's CA)", "extmetrics sends no credential there"}}},
			flaggErr: []string{""}},
		{name: "http address, secret without token", t: podTemplate("http://metrics:8080", false), secret: podSecret("ca.crt", "tls.crt", "tls.key"),
			want:     []note{{CompatPodTokenLeak, []string{"in clear text"}}}, // no CA or client-certificate note over http
			flaggErr: []string{""}},
		{name: "address, secret CA", t: podTemplate(addr, false), secret: podSecret("token", "ca.crt"), want: []note{
			{CompatPodSecretTokenIgnored, nil},
			{CompatPodSecretCAIgnored, []string{"Flagger v1.43–v1.44 in a pod would ignore it", "verify " + addr + " against the cluster's CA",
				"x509: certificate signed by unknown authority", "extmetrics gate"}}},
			flaggErr: []string{FlaggerErrUnauthorized, FlaggerErrUnknownAuthority}},
		{name: "address, client certificate", t: podTemplate(addr, false), secret: podSecret("tls.crt", "tls.key"), want: []note{
			{CompatPodTokenLeak, nil},
			{CompatPodClientCertIgnored, []string{"present no client certificate to " + addr}}},
			flaggErr: []string{"", ""}},
		{name: "no address, secret token and CA", t: podTemplate("", false), secret: podSecret("token", "ca.crt", "other"), want: []note{
			{CompatPodSecretIgnored, []string{"no address and the Secret's token, ca.crt:", "as its own service account", "external.metrics.k8s.io"}}},
			flaggErr: []string{""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := FlaggerPodCompat(c.t, c.secret)
			if len(got) != len(c.want) {
				t.Fatalf("%d notes, want %d:\n%s", len(got), len(c.want), JoinCompat(got))
			}
			for i, w := range c.want {
				if got[i].Code != w.code || got[i].FlaggerError != c.flaggErr[i] {
					t.Errorf("note %d: code %q flaggerError %q, want %q %q", i, got[i].Code, got[i].FlaggerError, w.code, c.flaggErr[i])
				}
				for _, p := range w.parts {
					if !strings.Contains(got[i].Text, p) {
						t.Errorf("note %d (%s) lacks %q:\n%s", i, got[i].Code, p, got[i].Text)
					}
				}
				if e := got[i].FlaggerError; e != "" && !strings.Contains(got[i].Text, e) && e != FlaggerErrUnauthorized {
					t.Errorf("note %d does not quote Flagger's error %q", i, e)
				}
			}
		})
	}
}

// The codes are the JSON contract: unique and stable.
func TestCompatCodes(t *testing.T) {
	codes := []string{CompatQueryControlChar, CompatQuerySpaces, CompatIgnoresAggregate, CompatIgnoresMaxAge,
		CompatPodInsecureSkipVerify, CompatPodSecretTokenIgnored, CompatPodTokenLeak, CompatPodSecretCAIgnored,
		CompatPodClientCertIgnored, CompatPodSecretIgnored}
	want := []string{"flagger-query-control-character", "flagger-query-spaces", "flagger-ignores-aggregate", "flagger-ignores-max-age",
		"flagger-pod-insecure-skip-verify", "flagger-pod-secret-token-ignored", "flagger-pod-token-leak", "flagger-pod-secret-ca-ignored",
		"flagger-pod-secret-client-cert-ignored", "flagger-pod-secret-ignored-no-address"}
	if !slices.Equal(codes, want) {
		t.Fatalf("codes changed:\n%q\nwant\n%q", codes, want)
	}
	b, err := json.Marshal(CompatNote{Code: CompatPodTokenLeak, Text: "x"})
	if err != nil || string(b) != `{"code":"flagger-pod-token-leak","text":"x"}` {
		t.Fatalf("JSON %s %v", b, err)
	}
	if s := (CompatNote{Code: "c", Text: "t"}).String(); s != "t [c]" {
		t.Errorf("String %q", s)
	}
	if s := JoinCompat([]CompatNote{{Code: "a", Text: "x"}, {Text: "y"}}); s != "x [a]; y" {
		t.Errorf("JoinCompat %q", s)
	}
}

// Resolve puts the pod notes after the query's on every check of the
// template (each metric of a canary that references it).
func TestResolvePodCompat(t *testing.T) {
	s := NewSet(Options{})
	s.Parse("objects.yaml", []byte(`apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: remote, namespace: ci}
spec:
  provider:
    type: externalmetrics
    address: https://metrics.example:8443
    secretRef: {name: creds}
  query: |
    {{ namespace }}/errors
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: local, namespace: ci}
spec:
  provider: {type: externalmetrics}
  query: '{{ namespace }}/errors'
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: ci}
stringData: {token: abc, ca.crt: pem}
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: web, namespace: ci}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  analysis:
    interval: 1m
    threshold: 1
    iterations: 2
    metrics:
      - {name: remote, templateRef: {name: remote}, thresholdRange: {max: 1}}
      - {name: local, templateRef: {name: local}, thresholdRange: {max: 1}}
`))
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	rs, err := s.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	var codes [][]string
	for _, ch := range rs[0].Checks {
		var c []string
		for _, n := range ch.Compat {
			c = append(c, n.Code)
		}
		codes = append(codes, c)
	}
	want := [][]string{{CompatQueryControlChar, CompatPodSecretTokenIgnored, CompatPodSecretCAIgnored}, nil}
	if len(codes) != 2 || !slices.Equal(codes[0], want[0]) || codes[1] != nil {
		t.Fatalf("codes %q, want %q", codes, want)
	}
}
