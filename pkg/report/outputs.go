package report

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/extmetrics/extmetrics/pkg/analysis"
)

// Output names one file a report will be written to: Name says where it
// came from in messages (a flag such as "--junit"), Path is the file.
type Output struct {
	Name string
	Path string
}

// CheckOutputs checks, before an analysis starts, that every output with a
// Path can be written: its directory exists and is writable, the path is not
// a directory, an existing file can be opened for writing, and no two
// outputs name the same file. It creates nothing that outlives it (an
// existing file is opened without truncation; writability of a directory is
// probed with a temporary file that is removed). Every problem is returned,
// joined, each naming the output and its path.
func CheckOutputs(outputs ...Output) error {
	var errs []error
	seen := map[string]string{}
	for _, o := range outputs {
		if o.Path == "" {
			continue
		}
		fail := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf("%s %s: %s", o.Name, o.Path, fmt.Sprintf(format, a...)))
		}
		abs, err := filepath.Abs(o.Path)
		if err != nil {
			fail("%v", err)
			continue
		}
		if other, dup := seen[abs]; dup {
			fail("same file as %s: each report needs its own file", other)
			continue
		}
		seen[abs] = o.Name
		if err := checkWritable(abs); err != nil {
			fail("%v", err)
		}
	}
	return errors.Join(errs...)
}

func checkWritable(path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("directory %s does not exist", dir)
	case err != nil:
		return fmt.Errorf("directory %s: %v", dir, unwrapPath(err))
	case !st.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	if st, err := os.Stat(path); err == nil {
		if st.IsDir() {
			return errors.New("is a directory")
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("cannot be written: %v", unwrapPath(err))
		}
		return f.Close()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return unwrapPath(err)
	}
	f, err := os.CreateTemp(dir, ".extmetrics-probe-*")
	if err != nil {
		return fmt.Errorf("directory %s is not writable: %v", dir, unwrapPath(err))
	}
	name := f.Name()
	cerr := f.Close()
	if rerr := os.Remove(name); cerr == nil {
		cerr = rerr
	}
	return cerr
}

// unwrapPath drops the "open PATH: " of an *fs.PathError (the caller names
// the path already).
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Verdicts is a one-line account of a report's verdicts, for messages that
// must say what the analysis concluded when something after it failed
// (writing a report file): "ci/web Succeeded, shop/checkout Failed".
func Verdicts(r *analysis.Report) string {
	if r == nil || len(r.Canaries) == 0 {
		return "no canary analysed"
	}
	var b strings.Builder
	for i := range r.Canaries {
		if i > 0 {
			b.WriteString(", ")
		}
		c := &r.Canaries[i]
		b.WriteString(clean(canaryID(c)) + " " + verdictText(c.Verdict))
	}
	return b.String()
}
