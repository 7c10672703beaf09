package flagger

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MaxFileSize bounds what is read from one file or stdin.
const MaxFileSize = 32 << 20

// Options tune loading; the zero value is usable.
type Options struct {
	// DefaultNamespace is used for objects without metadata.namespace
	// (default "default", as kubectl without a context namespace).
	DefaultNamespace string
	// Stdin is read for the path "-" (default os.Stdin).
	Stdin io.Reader
	// AcceptDatadog is for `extmetrics migrate datadog` only (see
	// ResolveCanary): Resolve accepts MetricTemplates with provider type
	// "datadog" without reading any template's secretRef (a migration needs
	// no credentials), and leaves the metrics extmetrics cannot run (other
	// provider types, builtin checks, inline queries) out of the checks with
	// a note instead of failing the canary. Every other command keeps it
	// false, so they refuse datadog templates with a hint to migrate them.
	AcceptDatadog bool
	// Read, when set, is given each file's name and content as it is read
	// (by Load and AddPath, before parsing): `extmetrics migrate` keeps the
	// raw YAML this way. An error it returns is recorded, named by the file,
	// and the file is not parsed.
	Read func(name string, data []byte) error
}

// Set is every object loaded, in the order read. It is not safe for
// concurrent use.
type Set struct {
	Canaries  []*Canary
	Templates []*MetricTemplate
	Secrets   []*Secret
	// Notes are non-fatal remarks: skipped kinds, ignored fields, features
	// extmetrics does not run (webhooks). They never contain secret values.
	Notes []string

	parseNotes []string // notes from loading; Resolve adds its own after them
	defaultNS  string
	stdin      io.Reader
	stdinUsed  bool
	datadog    bool                                 // Options.AcceptDatadog
	readHook   func(name string, data []byte) error // Options.Read
	errs       []error
	seen       map[string]Source // kind/namespace/name -> where first defined
}

// NewSet returns an empty set.
func NewSet(opts Options) *Set {
	s := &Set{defaultNS: opts.DefaultNamespace, stdin: opts.Stdin, datadog: opts.AcceptDatadog, readHook: opts.Read, seen: map[string]Source{}}
	if s.defaultNS == "" {
		s.defaultNS = DefaultNamespace
	}
	if s.stdin == nil {
		s.stdin = os.Stdin
	}
	return s
}

// Load reads every path: a file, a directory (its *.yaml, *.yml and *.json
// files, not recursive, in name order) or "-" for stdin. It returns the set
// and every error found (joined), each naming file, document and field.
func Load(paths []string, opts Options) (*Set, error) {
	s := NewSet(opts)
	if len(paths) == 0 {
		return s, errors.New("no files given")
	}
	for _, p := range paths {
		s.AddPath(p)
	}
	err := s.Err()
	return s, err
}

// Err is every error recorded so far, joined (nil when none).
func (s *Set) Err() error {
	return joinErrors(s.errs)
}

// AddPath loads a file, a directory or stdin ("-"); errors are recorded in the set.
func (s *Set) AddPath(path string) {
	if path == "-" {
		if s.stdinUsed {
			s.errs = append(s.errs, errors.New(`<stdin>: "-" given more than once`))
			return
		}
		s.stdinUsed = true
		s.read("<stdin>", s.stdin)
		return
	}
	info, err := os.Stat(path)
	if err != nil {
		s.errs = append(s.errs, fmt.Errorf("%s: %w", path, unwrapPathError(err)))
		return
	}
	if !info.IsDir() {
		s.addFile(path)
		return
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		s.errs = append(s.errs, fmt.Errorf("%s: %w", path, unwrapPathError(err)))
		return
	}
	n := 0
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.IsDir() || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
			continue
		}
		n++
		s.addFile(filepath.Join(path, e.Name()))
	}
	if n == 0 {
		s.errs = append(s.errs, fmt.Errorf("%s: directory has no .yaml, .yml or .json files", path))
	}
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (s *Set) addFile(path string) {
	f, err := os.Open(path)
	if err != nil {
		s.errs = append(s.errs, fmt.Errorf("%s: %w", path, unwrapPathError(err)))
		return
	}
	defer f.Close()
	s.read(path, f)
}

// read reads one file (at most MaxFileSize), hands it to Options.Read and
// parses it.
func (s *Set) read(name string, r io.Reader) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err == nil && len(data) > MaxFileSize {
		err = fmt.Errorf("larger than %d MiB", MaxFileSize>>20)
	}
	if err == nil && s.readHook != nil {
		err = s.readHook(name, data)
	}
	if err != nil {
		s.errs = append(s.errs, fmt.Errorf("%s: %w", name, err))
		return
	}
	s.Parse(name, data)
}

// Parse adds the objects of one (multi-document) YAML or JSON file; name is
// used in errors. Errors are recorded in the set (see Err).
func (s *Set) Parse(name string, data []byte) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for doc := 1; ; doc++ {
		var root yaml.Node
		err := dec.Decode(&root)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			// The decoder cannot resynchronise after a syntax error.
			s.errs = append(s.errs, &Error{Source: Source{File: name, Document: doc}, Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")})
			return
		}
		if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
			s.addDocument(Source{File: name, Document: doc}, root.Content[0])
		}
	}
}

func (s *Set) addDocument(src Source, n *yaml.Node) {
	if isNull(n) {
		return // empty document
	}
	src.Line = n.Line
	w := &walker{src: src}
	defer func() {
		s.errs = append(s.errs, w.errors()...)
		s.parseNotes = append(s.parseNotes, w.notes...)
		s.Notes = append(s.Notes, w.notes...)
	}()
	if n.Kind != yaml.MappingNode {
		w.errorf(n, nil, "want a Kubernetes object (a mapping with apiVersion and kind), got %s", describe(n))
		return
	}
	var apiVersion, kind string
	var metadata, spec, data, stringData, items, typ *yaml.Node
	for _, f := range w.fields(n, nil) {
		switch f.Key {
		case "apiVersion":
			apiVersion = w.str(f.V, f.Path())
		case "kind":
			kind = w.str(f.V, f.Path())
		case "metadata":
			metadata = f.V
		case "spec":
			spec = f.V
		case "data":
			data = f.V
		case "stringData":
			stringData = f.V
		case "items":
			items = f.V
		case "type":
			typ = f.V
		}
	}
	if w.Len() > 0 {
		return
	}
	group, _, _ := strings.Cut(apiVersion, "/")
	switch {
	case kind == "":
		w.notef(n, nil, "skipped: no kind")
	case kind == KindList && apiVersion == "v1":
		if src.Item != "" {
			w.errorf(n, nil, "a List inside a List is not supported")
			return
		}
		for i, item := range w.seq(items, field.NewPath("items")) {
			isrc := src
			isrc.Item = index("items", i)
			s.addDocument(isrc, item)
		}
	case kind == KindCanary && apiVersion == CanaryAPIVersion:
		name, ns := w.meta(metadata)
		c := &Canary{Source: src, Name: name, Namespace: s.ns(ns), Spec: w.canarySpec(spec)}
		if w.Len() == 0 && s.unique(w, n, "Canary", c.Namespace, c.Name) {
			s.Canaries = append(s.Canaries, c)
		}
	case kind == KindMetricTemplate && (apiVersion == TemplateAPIVersion || apiVersion == TemplateV1alpha1):
		name, ns := w.meta(metadata)
		t := &MetricTemplate{Source: src, APIVersion: apiVersion, Name: name, Namespace: s.ns(ns), Spec: w.templateSpec(spec), Annotations: w.annotations(metadata)}
		if w.Len() == 0 && s.unique(w, n, "MetricTemplate", t.Namespace, t.Name) {
			s.Templates = append(s.Templates, t)
		}
	case kind == KindSecret && apiVersion == "v1":
		name, ns := w.meta(metadata)
		sec := &Secret{Source: src, Name: name, Namespace: s.ns(ns), Type: w.str(typ, field.NewPath("type")), Data: w.secretData(data, stringData)}
		if w.Len() == 0 && s.unique(w, n, "Secret", sec.Namespace, sec.Name) {
			s.Secrets = append(s.Secrets, sec)
		}
	case group == Group && (kind == KindCanary || kind == KindMetricTemplate):
		want := CanaryAPIVersion
		if kind == KindMetricTemplate {
			want = TemplateAPIVersion + " or " + TemplateV1alpha1
		}
		w.errorf(n, field.NewPath("apiVersion"), "%s %s is not supported (want %s)", kind, apiVersion, want)
	default:
		w.notef(n, nil, "skipped %s %s: extmetrics reads Canary, MetricTemplate and Secret", apiVersion, kind)
	}
}

func (s *Set) ns(ns string) string {
	if ns == "" {
		return s.defaultNS
	}
	return ns
}

// unique records kind/namespace/name and reports a second definition.
func (s *Set) unique(w *walker, n *yaml.Node, kind, ns, name string) bool {
	key := kind + "/" + ns + "/" + name
	if first, ok := s.seen[key]; ok {
		w.Duplicate(n, field.NewPath("metadata", "name"), "%s %s/%s is already defined at %s (line %d)", kind, ns, name, first, first.Line)
		return false
	}
	s.seen[key] = w.src
	return true
}

// Template returns the MetricTemplate namespace/name, or nil.
func (s *Set) Template(namespace, name string) *MetricTemplate {
	for _, t := range s.Templates {
		if t.Namespace == namespace && t.Name == name {
			return t
		}
	}
	return nil
}

// Secret returns the Secret namespace/name, or nil.
func (s *Set) Secret(namespace, name string) *Secret {
	for _, sec := range s.Secrets {
		if sec.Namespace == namespace && sec.Name == name {
			return sec
		}
	}
	return nil
}

// Namespaces lists the namespaces objects of kind live in (for "did you mean" hints).
func (s *Set) templateNamespaces(name string) []string {
	var out []string
	for _, t := range s.Templates {
		if t.Name == name {
			out = append(out, t.Namespace)
		}
	}
	sort.Strings(out)
	return out
}
