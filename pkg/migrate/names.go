package migrate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// MaxNameLength is the longest DatadogMetric name written: a DNS-1123 label.
const MaxNameLength = validation.DNS1123LabelMaxLength

const (
	hashLen    = 8  // hex digits of the suffix added to a shortened name
	maxHashLen = 16 // on a collision the suffix grows up to this
)

// IsValidName reports whether name is a DNS-1123 label of at most 63
// characters: lower-case letters, digits and '-', starting and ending
// alphanumeric.
func IsValidName(name string) bool { return len(validation.IsDNS1123Label(name)) == 0 }

// Namer gives each canary × metric of one namespace its DatadogMetric name:
// "<canary>-<metric>" when that is a valid DNS-1123 label and still free,
// otherwise the same made safe (lower case, other characters as '-'), cut so
// that "-" and a hash of canary and metric fit in 63 characters. The hash
// makes the name stable (the same pair gets the same name in every run with
// the same inputs) and tells apart pairs that read the same once made safe
// ("Error Rate" and "error-rate"; canary "a-b" metric "c" and canary "a"
// metric "b-c"). A Namer never gives one name to two pairs.
type Namer struct {
	taken map[string]string // name -> the pair key it was given to
}

// NewNamer returns a Namer for one namespace.
func NewNamer() *Namer { return &Namer{taken: map[string]string{}} }

// Name returns the name of canary × metric and whether it is not plainly
// "<canary>-<metric>". Asking again for the same pair returns the same name.
func (n *Namer) Name(canary, metric string) (string, bool, error) {
	key := canary + "\x00" + metric
	plain := canary + "-" + metric
	if IsValidName(plain) {
		if owner, ok := n.taken[plain]; !ok || owner == key {
			n.taken[plain] = key
			return plain, false, nil
		}
	}
	sum := sha256.Sum256([]byte(key))
	digest := hex.EncodeToString(sum[:])
	prefix := safePrefix(plain)
	for l := hashLen; l <= maxHashLen; l += 2 {
		p := prefix
		if max := MaxNameLength - 1 - l; len(p) > max {
			p = strings.TrimRight(p[:max], "-")
		}
		if p == "" {
			p = "m"
		}
		name := p + "-" + digest[:l]
		if owner, ok := n.taken[name]; !ok || owner == key {
			n.taken[name] = key
			return name, true, nil
		}
	}
	return "", false, fmt.Errorf("no free DatadogMetric name for canary %q metric %q", canary, metric)
}

// safePrefix lower-cases s, turns every character outside [a-z0-9] into
// '-', collapses runs of '-' and trims them at both ends.
func safePrefix(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	return b.String()
}
