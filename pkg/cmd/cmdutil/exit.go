// Package cmdutil holds what every extmetrics subcommand shares: exit codes
// and the error type that carries them to main.
package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes used by every command.
const (
	ExitOK      = 0 // success
	ExitFailure = 1 // the job ran and failed (query error, failed analysis)
	ExitUsage   = 2 // bad flags, arguments or configuration
)

// ExitError carries an exit code with an error.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Usage wraps err as a usage error (exit 2).
func Usage(err error) error { return &ExitError{Code: ExitUsage, Err: err} }

// Usagef formats a usage error (exit 2).
func Usagef(format string, a ...any) error { return Usage(fmt.Errorf(format, a...)) }

// Failure wraps err as a failure (exit 1).
func Failure(err error) error { return &ExitError{Code: ExitFailure, Err: err} }

// Silent is an ExitError with no message: the command already reported.
func Silent(code int) error { return &ExitError{Code: code} }

// Code maps an error to an exit code: nil 0, an ExitError its code, else 1.
func Code(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return ExitFailure
}

// Execute runs root with args and returns the process exit code: errors are
// printed to stderr as "Error: ...", usage errors (cobra's own included)
// give ExitUsage. SIGINT and SIGTERM cancel the command's context.
func Execute(root *cobra.Command, args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Err != nil {
		fmt.Fprintln(stderr, "Error:", err.Error())
	}
	code := Code(err)
	if code == ExitFailure && isCobraUsage(err) {
		code = ExitUsage
	}
	return code
}

// isCobraUsage recognises cobra's own errors for unknown commands and flags.
func isCobraUsage(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "unknown flag") ||
		strings.HasPrefix(msg, "unknown shorthand flag") || strings.Contains(msg, "flag needs an argument")
}
