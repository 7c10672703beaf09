package provider

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"

	"k8s.io/client-go/rest"
)

// buildCache maps New's inputs to what they resolve to, so that building a
// provider again for the same base config, spec and options (Flagger does
// it for every check) is a map lookup instead of copying the rest.Config,
// hashing the TLS material and consulting the transport pool. The key is the
// exact bytes of every input that matters (compared in full, no hashing
// shortcuts), kept only in memory and never printed.
type buildCache struct {
	mu  sync.RWMutex
	m   map[string]*built
	max int
}

// Cache limits. The build cache is cleared when full (entries are cheap to
// rebuild and a process's working set is small); the transport pool drops
// its least recently used transport (providers still holding it keep
// using it).
const (
	buildCacheSize     = 256
	transportCacheSize = 64
)

// caches are the memory New uses across providers: resolved builds and
// shared transports, both bounded and keyed by the exact inputs (secrets
// are never used as map keys in the clear: the transport key is a SHA-256
// digest, the build key is only compared). Every provider of the process
// shares defaultCaches; tests give their own through Options.caches. Safe
// for concurrent use.
type caches struct {
	builds *buildCache
	pool   *transportPool
}

func newCaches(builds, transports int) *caches {
	return &caches{
		builds: &buildCache{m: make(map[string]*built), max: builds},
		pool:   newTransportPool(transports),
	}
}

var defaultCaches = newCaches(buildCacheSize, transportCacheSize)

// len says how many builds and transports are cached.
func (c *caches) len() (builds, transports int) {
	c.builds.mu.RLock()
	builds = len(c.builds.m)
	c.builds.mu.RUnlock()
	return builds, c.pool.len()
}

func cachesFor(opts Options) *caches {
	if opts.caches != nil {
		return opts.caches
	}
	return defaultCaches
}

var keyBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// resolve returns the cached build for the inputs, or builds it. Inputs that
// cannot be keyed (functions, plugins, files to read) always take the slow
// path, which is still pooled by transport key.
func resolve(base *rest.Config, spec Spec, opts Options) (*built, error) {
	bp := keyBufPool.Get().(*[]byte)
	defer keyBufPool.Put(bp)
	key, ok := appendBuildKey((*bp)[:0], base, spec, opts)
	*bp = key
	cs := cachesFor(opts)
	if !ok {
		return build(cs, base, spec, opts)
	}
	if opts.TokenFile != "" {
		if _, err := os.Stat(opts.TokenFile); err != nil {
			return nil, fmt.Errorf("token file: %w", err)
		}
	}
	c := cs.builds
	c.mu.RLock()
	b, hit := c.m[string(key)]
	c.mu.RUnlock()
	if hit {
		return b, nil
	}
	b, err := build(cs, base, spec, opts)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[string(key)] = b
	c.mu.Unlock()
	return b, nil
}

// appendBuildKey appends every input buildConfig reads; ok is false when
// the inputs hold something that cannot be compared byte for byte.
func appendBuildKey(k []byte, base *rest.Config, spec Spec, opts Options) ([]byte, bool) {
	if opts.CAFile != "" || opts.ClientCert != "" || opts.ClientKey != "" {
		return k, false // file contents may change between calls
	}
	str := func(s string) {
		k = binary.AppendUvarint(k, uint64(len(s)))
		k = append(k, s...)
	}
	byt := func(b []byte) {
		k = binary.AppendUvarint(k, uint64(len(b)))
		k = append(k, b...)
	}
	flag := func(b bool) {
		if b {
			k = append(k, 1)
		} else {
			k = append(k, 0)
		}
	}
	secret := func(name string) {
		v, ok := spec.SecretData[name]
		flag(ok)
		byt(v)
	}
	flag(base != nil)
	if base != nil {
		c := base
		if c.Dial != nil || c.Proxy != nil || c.WrapTransport != nil || c.Transport != nil ||
			c.ExecProvider != nil || c.AuthProvider != nil || c.AuthConfigPersister != nil ||
			c.Impersonate.UserName != "" || c.Impersonate.UID != "" || len(c.Impersonate.Groups) > 0 || len(c.Impersonate.Extra) > 0 {
			return k, false
		}
		str(c.Host)
		str(c.APIPath)
		str(c.Username)
		str(c.Password)
		str(c.BearerToken)
		str(c.BearerTokenFile)
		str(c.UserAgent)
		flag(c.DisableCompression)
		flag(c.Insecure)
		str(c.ServerName)
		str(c.CertFile)
		str(c.KeyFile)
		str(c.CAFile)
		byt(c.CertData)
		byt(c.KeyData)
		byt(c.CAData)
		k = binary.AppendUvarint(k, uint64(len(c.NextProtos)))
		for _, p := range c.NextProtos {
			str(p)
		}
		flag(c.ContentConfig.GroupVersion != nil) // DefaultServerUrlFor ignores it; kept for safety
	}
	str(spec.Address)
	flag(spec.InsecureSkipVerify)
	secret(SecretKeyToken)
	secret(SecretKeyCA)
	secret(SecretKeyClientCert)
	secret(SecretKeyClientKey)
	str(opts.TokenFile)
	// The opt-in decides whether New refuses: a build made with it must
	// never serve a call without it.
	flag(opts.AllowCredentialsOverHTTP)
	// Labels only (they change ConnInfo, not the connection).
	for _, src := range []Source{spec.TokenFrom, opts.Sources.Base, opts.Sources.TokenFile, opts.Sources.CAFile, opts.Sources.ClientCert} {
		str(string(src.Origin))
		str(src.Name)
		str(src.Path)
	}
	return k, true
}
