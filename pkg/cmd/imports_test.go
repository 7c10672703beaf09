package cmd

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// cmdPrefix is the import path of the command packages.
const cmdPrefix = "github.com/extmetrics/extmetrics/pkg/cmd/"

// shared are the command packages every command may import.
var shared = map[string]bool{"cmdutil": true, "connflags": true}

// TestCommandsImportNoSibling enforces the rule of the developers' guide: a
// pkg/cmd/X package (tests included) imports no other pkg/cmd/Y except the
// shared CLI helpers cmdutil and connflags. Capabilities a second command
// needs belong in a library package.
func TestCommandsImportNoSibling(t *testing.T) {
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || filepath.Dir(path) == "." {
			return nil // the root package wires every command
		}
		own := strings.Split(filepath.ToSlash(path), "/")[0]
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			rest, ok := strings.CutPrefix(p, cmdPrefix)
			if !ok {
				continue
			}
			top := strings.Split(rest, "/")[0]
			if top != own && !shared[top] {
				t.Errorf("%s imports %s: a pkg/cmd package may import only cmdutil and connflags of its siblings; move the shared code into a library package", path, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 10 {
		t.Fatalf("checked only %d files: is the test running in pkg/cmd?", checked)
	}
}
