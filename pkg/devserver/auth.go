package devserver

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// AllNamespaces in a token's namespace list allows every namespace.
const AllNamespaces = "*"

// identity is one accepted bearer token. The token itself is not kept: only
// its SHA-256, compared in constant time, and a name for logs ("token#2").
type identity struct {
	name       string
	hash       [sha256.Size]byte
	all        bool
	namespaces map[string]struct{}
}

func (id *identity) allows(namespace string) bool {
	if id == nil || id.all {
		return true
	}
	_, ok := id.namespaces[namespace]
	return ok
}

// adminIdentity is who is logged for requests made with the admin token.
var adminIdentity = &identity{name: "admin-token", all: true}

// anonymous is who is logged when authentication is off.
var anonymous = &identity{name: "anonymous", all: true}

// authenticator checks bearer tokens.
type authenticator struct {
	ids       []*identity // sorted by token, so names are stable for one set of tokens
	adminHash [sha256.Size]byte
	hasAdmin  bool
}

func newAuthenticator(tokens map[string][]string, adminToken string) (*authenticator, error) {
	a := &authenticator{}
	keys := make([]string, 0, len(tokens))
	for tok := range tokens {
		keys = append(keys, tok)
	}
	sort.Strings(keys)
	for i, tok := range keys {
		name := "token#" + strconv.Itoa(i+1)
		if err := checkToken(tok); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		nss := tokens[tok]
		if len(nss) == 0 {
			return nil, fmt.Errorf("%s: no namespaces allowed (use %q for all)", name, AllNamespaces)
		}
		id := &identity{name: name, hash: sha256.Sum256([]byte(tok)), namespaces: map[string]struct{}{}}
		for _, ns := range nss {
			switch {
			case ns == AllNamespaces:
				id.all = true
			case !validNamespace(ns):
				return nil, fmt.Errorf("%s: invalid namespace %q: must be a DNS-1123 label (lower case letters, digits, '-'), or %q for all", name, ns, AllNamespaces)
			default:
				id.namespaces[ns] = struct{}{}
			}
		}
		a.ids = append(a.ids, id)
	}
	if adminToken != "" {
		if err := checkToken(adminToken); err != nil {
			return nil, fmt.Errorf("admin token: %w", err)
		}
		a.hasAdmin = true
		a.adminHash = sha256.Sum256([]byte(adminToken))
	}
	return a, nil
}

// checkToken refuses tokens that cannot travel in an Authorization header.
func checkToken(tok string) error {
	if tok == "" {
		return fmt.Errorf("empty token")
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("token contains a space, control or non-ASCII character at byte %d", i)
		}
	}
	return nil
}

// enabled reports whether reads need a token.
func (a *authenticator) enabled() bool { return len(a.ids) > 0 }

// bearer extracts the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header["Authorization"]
	if len(h) != 1 {
		return "", false
	}
	v := h[0]
	const prefix = "Bearer "
	if len(v) <= len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		return "", false
	}
	tok := strings.TrimSpace(v[len(prefix):])
	return tok, tok != ""
}

// authenticate returns the identity of the request's token, or nil when the
// token is missing or unknown. With authentication off every request is
// anonymous. Every configured token is compared, in constant time, so the
// time taken does not depend on which token (if any) matched.
func (a *authenticator) authenticate(r *http.Request) *identity {
	if !a.enabled() {
		return anonymous
	}
	tok, ok := bearer(r)
	if !ok {
		return nil
	}
	sum := sha256.Sum256([]byte(tok))
	var found *identity
	for _, id := range a.ids {
		if subtle.ConstantTimeCompare(sum[:], id.hash[:]) == 1 {
			found = id
		}
	}
	return found
}

// isAdmin reports whether the request carries the admin token.
func (a *authenticator) isAdmin(r *http.Request) bool {
	if !a.hasAdmin {
		return false
	}
	tok, ok := bearer(r)
	if !ok {
		return false
	}
	sum := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(sum[:], a.adminHash[:]) == 1
}

// LoadTokensFile reads a YAML (or JSON) file mapping each bearer token to
// the namespaces it may read ("*" for all):
//
//	s3cr3t-ci: ["*"]
//	team-a-token: [team-a, team-a-canary]
func LoadTokensFile(path string) (map[string][]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tokens map[string][]string
	if err := yaml.UnmarshalStrict(data, &tokens); err != nil {
		return nil, fmt.Errorf("%s: want a mapping of token to a list of namespaces: %v", path, redactYAMLError(err))
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("%s: no tokens", path)
	}
	if _, err := newAuthenticator(tokens, ""); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return tokens, nil
}

// redactYAMLError keeps YAML errors from echoing file content (which holds
// tokens): only the line reference survives.
func redactYAMLError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "line "); i >= 0 {
		end := i + len("line ")
		for end < len(msg) && msg[end] >= '0' && msg[end] <= '9' {
			end++
		}
		return "syntax or type error at " + msg[i:end]
	}
	return "syntax or type error"
}
