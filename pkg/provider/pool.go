package provider

import (
	"container/list"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"net/http"
	"sync"

	"k8s.io/client-go/rest"
)

// poolKey identifies a transport: server, TLS material, insecure flag and the
// identity of the credentials. It is a SHA-256 digest so that secrets never
// sit in memory as map keys and can never be logged from it.
type poolKey [sha256.Size]byte

// transportEntry is what providers with the same key share: the client-go
// transport chain (TLS, auth, user agent) and, for Options.TokenFile, our
// per-request token reader on top of it.
type transportEntry struct {
	rt        http.RoundTripper
	tokenFile *tokenFileTransport // nil unless Options.TokenFile is used
}

// transportPool is a bounded LRU of transport entries.
type transportPool struct {
	mu    sync.Mutex
	max   int
	items map[poolKey]*list.Element
	order *list.List // front = most recently used; values are *poolItem
}

type poolItem struct {
	key   poolKey
	entry *transportEntry
}

// The pool is bounded (CacheLimits.Transports, default 64); a rotated
// credential leaves its old entry to be evicted (least recently used first).

func newTransportPool(max int) *transportPool {
	return &transportPool{max: max, items: make(map[poolKey]*list.Element), order: list.New()}
}

// get returns the entry for r, building it on a miss. Configs that carry
// functions (Dial, Proxy, WrapTransport, a custom Transport) cannot be keyed
// and always get a fresh entry.
func (p *transportPool) get(r *resolved) (*transportEntry, error) {
	key, ok := keyFor(r)
	if !ok {
		return newEntry(r)
	}
	p.mu.Lock()
	if el, hit := p.items[key]; hit {
		p.order.MoveToFront(el)
		e := el.Value.(*poolItem).entry
		p.mu.Unlock()
		return e, nil
	}
	p.mu.Unlock()

	e, err := newEntry(r)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if el, hit := p.items[key]; hit { // built concurrently: keep the first
		p.order.MoveToFront(el)
		return el.Value.(*poolItem).entry, nil
	}
	p.items[key] = p.order.PushFront(&poolItem{key: key, entry: e})
	for p.order.Len() > p.max {
		last := p.order.Back()
		p.order.Remove(last)
		delete(p.items, last.Value.(*poolItem).key)
	}
	return e, nil
}

func (p *transportPool) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.order.Len()
}

func newEntry(r *resolved) (*transportEntry, error) {
	rt, err := rest.TransportFor(r.cfg)
	if err != nil {
		return nil, fmt.Errorf("building transport: %v", err)
	}
	e := &transportEntry{rt: rt}
	if r.tokenFile != "" {
		e.tokenFile = &tokenFileTransport{path: r.tokenFile, next: rt}
		e.rt = e.tokenFile
	}
	return e, nil
}

func keyFor(r *resolved) (poolKey, bool) {
	c := r.cfg
	if c.Dial != nil || c.Proxy != nil || c.WrapTransport != nil || c.Transport != nil ||
		c.AuthConfigPersister != nil {
		return poolKey{}, false
	}
	h := sha256.New()
	w := func(s string) { writeField(h, []byte(s)) }
	wb := func(b []byte) { writeField(h, b) }
	w("v1")
	w(c.Host)
	w(c.APIPath)
	wb(c.CAData)
	w(c.CAFile)
	wb(c.CertData)
	w(c.CertFile)
	wb(c.KeyData)
	w(c.KeyFile)
	w(c.ServerName)
	w(fmt.Sprint(c.Insecure, c.DisableCompression, c.NextProtos))
	w(c.BearerToken)
	w(c.BearerTokenFile)
	w(r.tokenFile)
	w(c.Username)
	w(c.Password)
	w(c.UserAgent)
	if c.Impersonate.UserName != "" || c.Impersonate.UID != "" || len(c.Impersonate.Groups) > 0 || len(c.Impersonate.Extra) > 0 {
		w(fmt.Sprintf("%#v", c.Impersonate))
	}
	if c.ExecProvider != nil {
		w(fmt.Sprintf("%#v", *c.ExecProvider))
	}
	if c.AuthProvider != nil {
		w(fmt.Sprintf("%#v", *c.AuthProvider))
	}
	var k poolKey
	h.Sum(k[:0])
	return k, true
}

func writeField(h hash.Hash, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}
