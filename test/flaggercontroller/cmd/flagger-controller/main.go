// Command flagger-controller builds the real Flagger controller the tests of
// this module run (internal/flaggerctl), or finds it in the cache, and
// prints its path. .ci/run calls it before the tests so that a cold build
// (minutes on 2 cores) does not count against go test's timeout.
//
//	go run ./cmd/flagger-controller
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/extmetrics/extmetrics/test/flaggercontroller/internal/flaggerctl"
)

func main() {
	bin, err := run()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(bin)
}

// run builds the controller and fetches the CRDs; the deferred cancel runs
// before main exits.
func run() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	logf := func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }
	bin, err := flaggerctl.Build(ctx, logf)
	if err != nil {
		return "", err
	}
	if _, err := flaggerctl.CRDs(ctx); err != nil {
		return "", err
	}
	return bin, nil
}
