package provider

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzStatusError: any error body classifies without panicking, into one
// sentinel, and the message never carries the token.
func FuzzStatusError(f *testing.F) {
	const token = "fuzz-secret-token"
	for _, seed := range []struct {
		code int
		body string
	}{
		{404, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"not found","reason":"NotFound","code":404}`},
		{500, `{"kind":"Status","message":"DatadogMetric not found for metric name: x"}`},
		{500, `{"kind":"Status","message":"DatadogMetric is stale, last updated: 2026-01-01T00:00:00Z"}`},
		{401, "Authorization: Bearer " + token},
		{403, `{"kind":"Status","message":"token=` + token + `"}`},
		{502, "<html>\x00\xff bad gateway</html>"},
		{429, ""},
		{500, `{"kind":"Status","details":{"causes":[{"message":"` + token + `"}]}}`},
	} {
		f.Add(seed.code, []byte(seed.body))
	}
	r := redactor{secrets: func() []string { return []string{token} }}
	f.Fuzz(func(t *testing.T, code int, body []byte) {
		h := http.Header{"Retry-After": []string{string(body[:min(len(body), 10)])}}
		kind, msg, cause := statusError(code, h, body, r)
		n := 0
		for _, k := range kinds {
			if errors.Is(kind, k.err) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("kind %v", kind)
		}
		if strings.Contains(msg, token) || (cause != nil && strings.Contains(cause.Error(), token)) {
			t.Fatalf("token in %q", msg)
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"1", "0", "-5", "99999999999999999999", "Thu, 01 Jan 2026 00:00:07 GMT", "soon", ""} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseRetryAfter(s, now)
		if ok && (d < 0 || d > 24*time.Hour) {
			t.Fatalf("%q -> %v", s, d)
		}
	})
}
