package flagger

import (
	"strings"
	"testing"
)

func TestFlaggerCompat(t *testing.T) {
	cases := []struct {
		rendered string
		want     []string // substrings, one per note, in order
	}{
		{"ci/errors?labelSelector=app=web", nil},
		{"ci/errors\n", []string{"a trailing newline"}},
		{"ci/errors?labelSelector=app=web\r\n", []string{"a trailing newline"}},
		{"ci/err\tors", []string{`a control character ('\t' at offset 6)`}},
		{" ci/errors", []string{"starts or ends with spaces"}},
		{"ci/errors?aggregate=sum&maxAge=90s", []string{"ignores aggregate=sum", "ignores maxAge=1m30s"}},
		{"ci/errors?aggregate=first\n", []string{"trailing newline", "ignores aggregate=first"}},
		{"ci/errors?bogus=1", nil}, // an error here anyway
	}
	for _, c := range cases {
		got := FlaggerCompat(c.rendered)
		if len(got) != len(c.want) {
			t.Errorf("%q: %d notes %q, want %d", c.rendered, len(got), got, len(c.want))
			continue
		}
		for i, w := range c.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("%q: note %d %q lacks %q", c.rendered, i, got[i], w)
			}
		}
	}
}
