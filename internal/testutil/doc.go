// Package testutil holds the helpers tests across the repository share: a
// Buffer safe for concurrent writers (loggers, servers), Eventually for
// polling a condition, WriteCA for a devserver's CA in a file, and
// StartCommand for a server command run in the background until its
// start-up line. It is for tests only; nothing in a production binary
// imports it.
package testutil
