// Command e2e-binaries builds kube-apiserver and unpacks etcd into the e2e
// harness's cache (see package harness), so that later test runs start in
// seconds. CI runs it before the tests: a cold build takes longer than
// go test's default timeout allows one test binary.
//
//	go run ./test/e2e/cmd/e2e-binaries
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/extmetrics/extmetrics/test/e2e/harness"
)

func main() {
	var opts harness.BinaryOptions
	flag.StringVar(&opts.CacheDir, "cache-dir", "", "cache directory (default ${XDG_CACHE_HOME:-$HOME/.cache}/extmetrics/e2e)")
	flag.StringVar(&opts.KubeAPIServerVersion, "kube-apiserver-version", harness.DefaultKubeAPIServerVersion, "kube-apiserver version to build")
	flag.StringVar(&opts.EtcdSource, "etcd-source", "", "where a missing etcd comes from: debian, go, or empty for Debian's package and else a Go build")
	timeout := flag.Duration("timeout", time.Hour, "give up after this long")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	start := time.Now()
	bins, err := harness.EnsureBinaries(ctx, opts)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e-binaries: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("kube-apiserver %s: %s\netcd %s: %s\nready in %s\n", bins.KubeAPIServerVersion, bins.KubeAPIServer,
		bins.EtcdVersion, bins.Etcd, time.Since(start).Round(time.Second))
}
