package gate

import (
	"sort"
	"strings"
	"sync"

	"github.com/extmetrics/extmetrics/pkg/flagger"
)

// renderCache remembers rendered queries: Flagger asks the same few
// (template, canary) pairs at every interval, and parsing a text/template
// costs more than the rest of a cached check. Rendering itself is
// pkg/flagger's (Flagger's variables and functions); only successful
// renders are kept, keyed by the template text and every model field.
type renderCache struct {
	mu sync.RWMutex
	m  map[string]string
}

const renderCacheSize = 4096

func (c *renderCache) render(name, text string, m flagger.Model) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil // no action: text/template would copy it verbatim
	}
	key := renderKey(name, text, m)
	c.mu.RLock()
	out, ok := c.m[key]
	c.mu.RUnlock()
	if ok {
		return out, nil
	}
	out, err := flagger.Render(name, text, m)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= renderCacheSize {
		c.m = make(map[string]string)
	}
	c.m[key] = out
	c.mu.Unlock()
	return out, nil
}

func renderKey(name, text string, m flagger.Model) string {
	var b strings.Builder
	field := func(s string) {
		b.WriteString(s)
		b.WriteByte(0)
	}
	for _, s := range []string{name, text, m.Name, m.Namespace, m.Target, m.Service, m.Ingress, m.Route, m.Interval} {
		field(s)
	}
	keyFields(m.Variables, field)
	return b.String()
}

// keyFields writes a map's keys and values, sorted by key, as fields of a
// key (the render cache's, the events' de-duplication's).
func keyFields(m map[string]string, field func(string)) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		field(k)
		field(m[k])
	}
}
