package flagger

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/extmetrics/extmetrics/pkg/provider"
	"github.com/extmetrics/extmetrics/pkg/query"
)

// CompatNote is one way real Flagger would treat a metric check differently
// from extmetrics. Code is stable (tests and tools match on it, it is in the
// JSON report); Text says what Flagger would do, why it matters and the fix.
type CompatNote struct {
	Code string `json:"code"`
	Text string `json:"text"`
	// FlaggerError is the text Flagger's Canary events carry when the
	// failure the note predicts happens ("" when the note predicts no
	// particular error).
	FlaggerError string `json:"flaggerError,omitempty"`
}

// String is the text followed by the code in brackets (the text alone
// without a code).
func (n CompatNote) String() string {
	if n.Code == "" {
		return n.Text
	}
	return n.Text + " [" + n.Code + "]"
}

// CompatTexts returns the notes' texts.
func CompatTexts(notes []CompatNote) []string {
	if len(notes) == 0 {
		return nil
	}
	out := make([]string, len(notes))
	for i, n := range notes {
		out[i] = n.Text
	}
	return out
}

// JoinCompat joins notes as "text [code]; text [code]".
func JoinCompat(notes []CompatNote) string {
	s := make([]string, len(notes))
	for i, n := range notes {
		s[i] = n.String()
	}
	return strings.Join(s, "; ")
}

// Codes of the Flagger compatibility notes. They are stable: the JSON report
// carries them (flaggerCompatNotes[].code) and the real-controller tests
// match Flagger's observed behaviour against them.
const (
	// The rendered query (FlaggerCompat).
	CompatQueryControlChar = "flagger-query-control-character" // Flagger's url.Parse fails
	CompatQuerySpaces      = "flagger-query-spaces"            // Flagger keeps leading/trailing spaces
	CompatIgnoresAggregate = "flagger-ignores-aggregate"       // Flagger takes the first item
	CompatIgnoresMaxAge    = "flagger-ignores-max-age"         // Flagger accepts data of any age

	// The template's provider and Secret, with Flagger v1.43–v1.44 running
	// in a pod (FlaggerPodCompat).
	CompatPodInsecureSkipVerify = "flagger-pod-insecure-skip-verify"       // every check fails: CA file + insecure
	CompatPodSecretTokenIgnored = "flagger-pod-secret-token-ignored"       // address + Secret token: Flagger's own token sent instead (leak, 401)
	CompatPodTokenLeak          = "flagger-pod-token-leak"                 // address, no Secret token: Flagger's own token sent there
	CompatPodSecretCAIgnored    = "flagger-pod-secret-ca-ignored"          // address: the Secret's ca.crt is not used, the cluster's CA is
	CompatPodClientCertIgnored  = "flagger-pod-secret-client-cert-ignored" // address: the Secret's tls.crt/tls.key are not used
	CompatPodSecretIgnored      = "flagger-pod-secret-ignored-no-address"  // no address: the Secret is not used, Flagger's own identity is
)

// Error texts Flagger v1.43–v1.44 reports (in the Canary's events) for the
// failures the pod notes predict.
const (
	FlaggerErrInsecureWithCA   = "specifying a root certificates file with the insecure flag is not allowed"
	FlaggerErrUnknownAuthority = "x509: certificate signed by unknown authority"
	FlaggerErrUnauthorized     = "Unauthorized"
)

// FlaggerPodVersions is the range of Flagger releases the pod notes were
// checked against (externalmetrics first shipped in v1.43.0; v1.44.0 has the
// same provider).
const FlaggerPodVersions = "v1.43–v1.44"

// noFlaggerFix ends every pod note: there is no Flagger release to upgrade to.
const noFlaggerFix = "no Flagger release up to v1.44.0 fixes this"

// FlaggerCompat returns a note for every way real Flagger's externalmetrics
// provider treats a rendered query differently from extmetrics (nil when it
// treats it the same). extmetrics keeps its behaviour; the notes say what
// Flagger itself would do, so a verdict predicted here is not mistaken for
// Flagger's. Checked against Flagger v1.44.0
// (pkg/metrics/providers/externalmetrics.go: parseExternalMetricsQuery
// calls url.Parse("dummy:///" + query) and reads only labelSelector; RunQuery
// returns Items[0]).
func FlaggerCompat(rendered string) []CompatNote {
	var notes []CompatNote
	if i := strings.IndexFunc(rendered, isCTL); i >= 0 {
		what := fmt.Sprintf("a control character (%q at offset %d)", rendered[i], i)
		if strings.TrimRightFunc(rendered, isCTL) != rendered && strings.IndexFunc(strings.TrimRightFunc(rendered, isCTL), isCTL) < 0 {
			what = "a trailing newline (YAML `query: |` adds one)"
		}
		notes = append(notes, CompatNote{Code: CompatQueryControlChar, FlaggerError: "invalid control character in URL",
			Text: fmt.Sprintf("the query has %s: Flagger's url.Parse rejects control characters "+
				"(net/url: invalid control character in URL), so in Flagger every check fails and the canary rolls back; "+
				"extmetrics trims it. Write the query as `query: >-` or a quoted string", what)})
	} else if strings.TrimSpace(rendered) != rendered {
		notes = append(notes, CompatNote{Code: CompatQuerySpaces,
			Text: "the query starts or ends with spaces: Flagger keeps them (in the metric name or selector " +
				"it sends), extmetrics trims them"})
	}
	q, err := query.Parse(rendered)
	if err != nil {
		return notes // the query fails here as well
	}
	if q.Aggregate != "" {
		notes = append(notes, CompatNote{Code: CompatIgnoresAggregate,
			Text: fmt.Sprintf("Flagger ignores aggregate=%s and takes the first item the server returns", q.Aggregate)})
	}
	if q.MaxAge > 0 {
		notes = append(notes, CompatNote{Code: CompatIgnoresMaxAge,
			Text: fmt.Sprintf("Flagger ignores maxAge=%s and accepts data of any age", q.MaxAge)})
	}
	return notes
}

// isCTL is what net/url rejects: ASCII control characters and DEL.
func isCTL(r rune) bool { return r < 0x20 || r == 0x7f }

// FlaggerPodCompat returns a note for every way Flagger v1.43–v1.44, running
// in a pod, connects differently from extmetrics for an externalmetrics
// template t with its secretRef Secret (nil without one); nil when it
// connects the same way.
//
// Checked against Flagger v1.43.0 and v1.44.0: the controller builds its
// rest.Config with clientcmd.BuildConfigFromFlags (in a pod: in-cluster, so
// BearerTokenFile and the CA file of the service account), and
// NewExternalMetricsProvider (pkg/metrics/providers/externalmetrics.go)
// copies it, sets Host to the template's address, TLSClientConfig.Insecure to
// insecureSkipVerify and BearerToken to the Secret's "token", and reads no
// other Secret key. client-go (v0.35, v0.36) then refuses a CA file with
// insecure (TLSConfigFor), and its bearer round tripper prefers the token
// file to BearerToken. Only one case ends the list early: with
// insecureSkipVerify Flagger fails before any request, so nothing else it
// would do applies.
func FlaggerPodCompat(t *MetricTemplate, secret *Secret) []CompatNote {
	if t == nil || t.Spec.Provider.Type != ProviderExternal {
		return nil
	}
	p := t.Spec.Provider
	in := "Flagger " + FlaggerPodVersions + " in a pod would"
	var data map[string][]byte
	if secret != nil {
		data = secret.Data
	}
	has := func(k string) bool { _, ok := data[k]; return ok }
	if p.InsecureSkipVerify {
		fix := "Fix: drop insecureSkipVerify (without an address Flagger talks to its own cluster and verifies it with the cluster's CA), " +
			"or run the check through `extmetrics gate`; " + noFlaggerFix
		if p.Address != "" {
			fix = "Fix: run the check through `extmetrics gate` (not by dropping insecureSkipVerify: Flagger would then send its own " +
				"service-account token to " + p.Address + "); " + noFlaggerFix
		}
		return []CompatNote{{Code: CompatPodInsecureSkipVerify, FlaggerError: FlaggerErrInsecureWithCA,
			Text: fmt.Sprintf("insecureSkipVerify: true: %s fail every check of this template before any request with "+
				"`error creating external metric client: %s` (client-go refuses insecure together with the pod's CA file, "+
				"which Flagger keeps); extmetrics honours insecureSkipVerify. %s", in, FlaggerErrInsecureWithCA, fix)}}
	}
	if p.Address == "" {
		var keys []string
		for _, k := range []string{provider.SecretKeyToken, provider.SecretKeyCA, provider.SecretKeyClientCert, provider.SecretKeyClientKey} {
			if has(k) {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			return nil
		}
		them := "it"
		if len(keys) > 1 {
			them = "them"
		}
		return []CompatNote{{Code: CompatPodSecretIgnored,
			Text: fmt.Sprintf("no address and the Secret's %s: %s not use %s: it queries the cluster as its own service "+
				"account (the pod's token file wins over the Secret's token) and verifies it with the cluster's CA; extmetrics "+
				"uses the Secret's. The verdict matches only if Flagger's service account may read external.metrics.k8s.io "+
				"(Flagger's Helm chart grants it, its kustomize install does not). Fix: grant that and drop the secretRef, or run "+
				"the check through `extmetrics gate`, which uses the Secret's token; %s", strings.Join(keys, ", "), in, them, noFlaggerFix)}}
	}
	var notes []CompatNote
	tlsAddr := !isHTTP(p.Address)
	to := p.Address + " (once its certificate verifies against the cluster's CA)"
	if !tlsAddr {
		to = p.Address + " in clear text"
	}
	const leak = "a credential leak: Flagger's ClusterRole can read and write every Secret"
	if has(provider.SecretKeyToken) {
		notes = append(notes, CompatNote{Code: CompatPodSecretTokenIgnored, FlaggerError: FlaggerErrUnauthorized,
			Text: fmt.Sprintf("the Secret's token: %s send its own service-account token instead (client-go prefers the "+
				"pod's token file) to %s — %s — and get 401 Unauthorized unless the server accepts that token, so every check "+
				"fails. Fix: run the check through `extmetrics gate`, which sends only the Secret's token; %s",
				in, to, leak, noFlaggerFix)})
	} else {
		notes = append(notes, CompatNote{Code: CompatPodTokenLeak,
			Text: fmt.Sprintf("an address and no Secret token: %s send its own service-account token (the pod's token file) "+
				"to %s — %s; extmetrics sends no credential there. Fix: run the check through `extmetrics gate`, which "+
				"never sends its own token to a template's address; %s", in, to, leak, noFlaggerFix)})
	}
	if tlsAddr && has(provider.SecretKeyCA) {
		notes = append(notes, CompatNote{Code: CompatPodSecretCAIgnored, FlaggerError: FlaggerErrUnknownAuthority,
			Text: fmt.Sprintf("the Secret's ca.crt: %s ignore it and verify %s against the cluster's CA (the pod's ca.crt), "+
				"so unless that CA signed the server's certificate every check fails with `%s`. Fix: run the check through "+
				"`extmetrics gate`, which verifies with the Secret's ca.crt; %s", in, p.Address, FlaggerErrUnknownAuthority, noFlaggerFix)})
	}
	if tlsAddr && (has(provider.SecretKeyClientCert) || has(provider.SecretKeyClientKey)) {
		notes = append(notes, CompatNote{Code: CompatPodClientCertIgnored,
			Text: fmt.Sprintf("the Secret's tls.crt/tls.key: %s ignore them and present no client certificate to %s, so a "+
				"server that requires one refuses every check. Fix: run the check through `extmetrics gate`, which presents "+
				"the Secret's; %s", in, p.Address, noFlaggerFix)})
	}
	return notes
}

// isHTTP reports whether an address is plain http.
func isHTTP(address string) bool {
	u, err := url.Parse(address)
	return err == nil && strings.EqualFold(u.Scheme, "http")
}
