package provider

import (
	"strings"
	"testing"
)

func TestErrorSummary(t *testing.T) {
	e := &Error{Op: "query", Query: "ns/m", Kind: ErrUnavailable, Message: "503", Retries: 1}
	if got, want := e.Summary(), "ns/m: server unavailable: 503 (after 1 retry)"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
	if !strings.HasSuffix(e.Error(), ": server unavailable: 503 (after 1 retry)") {
		t.Errorf("Error() = %q", e.Error())
	}
	e.Retries, e.Query = 3, ""
	if got := e.Summary(); got != "server unavailable: 503 (after 3 retries)" {
		t.Errorf("Summary() = %q", got)
	}
}
