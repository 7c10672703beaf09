package report

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/extmetrics/extmetrics/pkg/analysis"
)

// Files names the report files to write; an empty path skips that file.
type Files struct {
	JSON  string // WriteJSON
	JUnit string // WriteJUnit
	HTML  string // WriteHTML
}

// WriteFiles writes the report to every file named in files (created or
// truncated), in the order JSON, JUnit, HTML. It tries them all and returns
// their errors joined, each naming its path. log, when not nil, receives one
// "wrote PATH" line per file written.
func WriteFiles(rep *analysis.Report, files Files, log io.Writer) error {
	var errs []error
	for _, f := range []struct {
		path  string
		write func(io.Writer, *analysis.Report) error
	}{{files.JSON, WriteJSON}, {files.JUnit, WriteJUnit}, {files.HTML, WriteHTML}} {
		if f.path != "" {
			errs = append(errs, writeFile(f.path, rep, f.write, log))
		}
	}
	return errors.Join(errs...)
}

func writeFile(path string, rep *analysis.Report, write func(io.Writer, *analysis.Report) error, log io.Writer) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	err = write(bw, rep)
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if log != nil {
		fmt.Fprintln(log, "wrote", path)
	}
	return nil
}
