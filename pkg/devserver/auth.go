package devserver

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
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

// Prefixes of the Tokens keys that name a user or a group authenticated by
// request headers (or a client certificate's common name) instead of a
// bearer token: "user:alice", "group:team-a".
const (
	UserRulePrefix  = "user:"
	GroupRulePrefix = "group:"
)

// authenticator checks bearer tokens, front-proxy request headers and
// client certificates.
type authenticator struct {
	ids        []*identity // sorted by token, so names are stable for one set of tokens
	userRules  map[string]*identity
	groupRules map[string]*identity
	rh         *requestHeaderAuth // nil: request-header authentication off
	certs      bool               // the TLS layer requires verified client certificates
	adminHash  [sha256.Size]byte
	hasAdmin   bool
}

func newAuthenticator(tokens map[string][]string, adminToken string) (*authenticator, error) {
	a := &authenticator{userRules: map[string]*identity{}, groupRules: map[string]*identity{}}
	keys := make([]string, 0, len(tokens))
	for tok := range tokens {
		keys = append(keys, tok)
	}
	sort.Strings(keys)
	n := 0
	for _, tok := range keys {
		var name string
		var rules map[string]*identity
		switch {
		case strings.HasPrefix(tok, UserRulePrefix):
			name, rules = tok, a.userRules
		case strings.HasPrefix(tok, GroupRulePrefix):
			name, rules = tok, a.groupRules
		default:
			n++
			name = "token#" + strconv.Itoa(n)
			if err := checkToken(tok); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
		if rules != nil {
			subject := strings.TrimSpace(strings.SplitN(tok, ":", 2)[1])
			if subject == "" {
				return nil, fmt.Errorf("%q: no user or group name after the prefix", tok)
			}
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
		if rules != nil {
			rules[strings.TrimSpace(strings.SplitN(tok, ":", 2)[1])] = id
			continue
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

// enabled reports whether reads need an identity: a token, a front-proxy
// identity, a user or group rule, or a client certificate.
func (a *authenticator) enabled() bool {
	return len(a.ids) > 0 || a.rh != nil || a.hasRules() || a.certs
}

func (a *authenticator) hasRules() bool { return len(a.userRules)+len(a.groupRules) > 0 }

// subjectIdentity is a user authenticated by request headers or a client
// certificate, with the namespaces its user and group rules allow. Without
// any rule every namespace is allowed: kube-apiserver's RBAC already
// decided. With rules and none matching, none is.
func (a *authenticator) subjectIdentity(user string, groups []string) *identity {
	if !a.hasRules() {
		return &identity{name: user, all: true}
	}
	id := &identity{name: user, namespaces: map[string]struct{}{}}
	add := func(r *identity) {
		if r == nil {
			return
		}
		id.all = id.all || r.all
		for ns := range r.namespaces {
			id.namespaces[ns] = struct{}{}
		}
	}
	add(a.userRules[user])
	for _, g := range groups {
		add(a.groupRules[g])
	}
	return id
}

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

// authenticate returns the identity of the request, or nil when it has
// none that counts. In order: a verified front-proxy certificate with a
// user header (request-header authentication); a bearer token, when tokens
// are configured; the verified client certificate's common name (mTLS).
// With no authentication configured every request is anonymous. Every
// configured token is compared, in constant time, so the time taken does
// not depend on which token (if any) matched.
func (a *authenticator) authenticate(r *http.Request) *identity {
	if !a.enabled() {
		return anonymous
	}
	if a.rh != nil {
		user, groups, err := a.rh.authenticate(r)
		if err == nil {
			return a.subjectIdentity(user, groups)
		}
		if !errors.Is(err, errNoFrontProxy) {
			return nil // the front proxy named no user
		}
	}
	if len(a.ids) > 0 {
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
	if a.certs && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		cn := r.TLS.VerifiedChains[0][0].Subject.CommonName
		return a.subjectIdentity(cn, r.TLS.VerifiedChains[0][0].Subject.Organization)
	}
	return nil
}

// describe says which authentication is in force, for the start-up line.
func (a *authenticator) describe() string {
	var parts []string
	if a.rh != nil {
		names := "any name"
		if len(a.rh.allowedNames) > 0 {
			names = strings.Join(a.rh.allowedNames, ",")
		}
		parts = append(parts, fmt.Sprintf("front-proxy request headers %s (certificate %s)", strings.Join(a.rh.userHeaders, ","), names))
	}
	if len(a.ids) > 0 {
		parts = append(parts, fmt.Sprintf("bearer tokens (%d)", len(a.ids)))
	}
	if a.certs && len(a.ids) == 0 {
		parts = append(parts, "client certificates")
	} else if a.certs {
		parts = append(parts, "client certificates required")
	}
	if len(parts) == 0 {
		return "none: every request is accepted without authentication"
	}
	s := strings.Join(parts, " + ")
	if a.hasRules() {
		s += fmt.Sprintf("; namespace rules for %d users, %d groups", len(a.userRules), len(a.groupRules))
	}
	return s
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
// the namespaces it may read ("*" for all). A key "user:<name>" or
// "group:<name>" stands for a user or group authenticated by front-proxy
// request headers (or a client certificate) instead of a token:
//
//	s3cr3t-ci: ["*"]
//	team-a-token: [team-a, team-a-canary]
//	"user:system:serviceaccount:flagger:flagger": ["*"]
//	"group:team-b": [team-b]
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
