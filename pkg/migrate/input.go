package migrate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	yaml "go.yaml.in/yaml/v3"

	"github.com/extmetrics/extmetrics/pkg/flagger"
)

// Input is what a migration reads: the Flagger objects (loaded with
// flagger.Options.AcceptDatadog) and the raw YAML of every file, so that
// Canaries are rewritten in place — every field, comment and order kept but
// the templateRefs that change.
type Input struct {
	Set   *flagger.Set
	files map[string][]byte       // flagger's file name -> content
	docs  map[string][]*yaml.Node // file -> its decoded documents (nil: not a mapping), on first use
}

// LoadOptions tune Load.
type LoadOptions struct {
	DefaultNamespace string    // for objects without metadata.namespace (default "default")
	Stdin            io.Reader // read for "-" (default os.Stdin)
}

// Load reads files, directories (their *.yaml, *.yml and *.json, not
// recursive, in name order) and "-" (stdin) with flagger.Load, as
// `extmetrics analyze` does, keeping each file's content (a file given twice
// is an error). Every error names file, document and field.
func Load(paths []string, opts LoadOptions) (*Input, error) {
	in := &Input{files: map[string][]byte{}}
	set, err := flagger.Load(paths, flagger.Options{
		DefaultNamespace: opts.DefaultNamespace,
		Stdin:            opts.Stdin,
		AcceptDatadog:    true,
		Read: func(name string, data []byte) error {
			if _, ok := in.files[name]; ok {
				return errors.New("given more than once")
			}
			in.files[name] = data
			return nil
		},
	})
	in.Set = set
	return in, err
}

// NewInput wraps content already in memory (name -> YAML), for tests and
// callers that do not read files.
func NewInput(defaultNamespace string, files map[string][]byte, order ...string) (*Input, error) {
	in := &Input{Set: flagger.NewSet(flagger.Options{DefaultNamespace: defaultNamespace, AcceptDatadog: true}), files: map[string][]byte{}}
	if len(order) == 0 {
		order = slices.Sorted(maps.Keys(files))
	}
	for _, name := range order {
		in.files[name] = files[name]
		in.Set.Parse(name, files[name])
	}
	return in, in.Set.Err()
}

// node returns the mapping node of the object at src (document, and List
// item). Each file is decoded once; callers copy before changing (expand).
func (in *Input) node(src flagger.Source) (*yaml.Node, error) {
	docs, err := in.documents(src.File)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	if src.Document < 1 || src.Document > len(docs) || docs[src.Document-1] == nil {
		return nil, fmt.Errorf("%s: not found again in the file", src)
	}
	n := docs[src.Document-1]
	if src.Item == "" {
		return n, nil
	}
	var i int
	if _, err := fmt.Sscanf(src.Item, "items[%d]", &i); err != nil {
		return nil, fmt.Errorf("%s: bad item %q", src, src.Item)
	}
	items := mapValue(n, "items")
	if items == nil || items.Kind != yaml.SequenceNode || i < 0 || i >= len(items.Content) {
		return nil, fmt.Errorf("%s: item not found again", src)
	}
	return items.Content[i], nil
}

// documents decodes a file's documents as flagger numbers them (1-based,
// every document counted).
func (in *Input) documents(file string) ([]*yaml.Node, error) {
	if docs, ok := in.docs[file]; ok {
		return docs, nil
	}
	data, ok := in.files[file]
	if !ok {
		return nil, errors.New("file content not kept")
	}
	var docs []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var root yaml.Node
		err := dec.Decode(&root)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("decoding again: %v", err)
		}
		var n *yaml.Node
		if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
			n = root.Content[0]
		}
		docs = append(docs, n)
	}
	if in.docs == nil {
		in.docs = map[string][]*yaml.Node{}
	}
	in.docs[file] = docs
	return docs, nil
}

// mapValue is the value of key in mapping n (aliases followed), or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return deref(n.Content[i+1])
		}
	}
	return nil
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}
