// Command extmetrics judges canaries with metrics read from the Kubernetes
// External Metrics API. All behaviour lives in importable packages under pkg/;
// this file only hands the command line to them.
package main

import (
	"os"

	"github.com/extmetrics/extmetrics/pkg/cmd"
)

func main() {
	os.Exit(cmd.Main(os.Args[1:], os.Stdout, os.Stderr))
}
