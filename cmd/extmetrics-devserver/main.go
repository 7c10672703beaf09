// Command extmetrics-devserver is `extmetrics devserver` on its own: the same
// command and flags in a binary without the analysis engine, provider and
// client-go, so the server maps fewer pages (about 4 MiB less RSS) — for CI
// images, sidecars and load tests (`extmetrics loadtest --spawn
// --spawn-binary extmetrics-devserver`). `extmetrics-devserver devserver
// ...` is accepted too.
package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
	"github.com/extmetrics/extmetrics/pkg/cmd/devserver"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "devserver" {
		args = args[1:]
	}
	c := devserver.NewCommand()
	c.Use = "extmetrics-devserver"
	c.SilenceUsage, c.SilenceErrors = true, true
	c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cmdutil.Usage(err) })
	os.Exit(cmdutil.Execute(c, args, os.Stdout, os.Stderr))
}
