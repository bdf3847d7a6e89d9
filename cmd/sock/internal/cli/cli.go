// Package cli is the sock command line. Run is the whole program, in
// process, so that tests and fuzzers drive it without building a binary.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	ExitOK    = 0
	ExitError = 1 // the command failed: a refused port, an unknown host...
	ExitUsage = 2 // the command line is wrong: a bad flag, a missing argument
)

// usageError marks an error in the command line itself.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// env is what every command gets: its streams and a context that ends on
// SIGINT/SIGTERM (in the serving commands) or when the caller cancels.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// Run runs sock with args (without the program name) and returns the exit
// status. Errors are printed as one line on stderr, with no stack trace.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return RunContext(context.Background(), args, stdin, stdout, stderr)
}

// RunContext is Run with a context that stops long-running commands.
func RunContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "sock: internal error: %v\n", r)
			code = ExitError
		}
	}()
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(stderr, "sock: "+oneLine(err.Error())+explainHint(err))
	if isUsage(err) {
		help := "sock"
		if cmd != nil {
			help = cmd.CommandPath()
		}
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", help)
		return ExitUsage
	}
	return ExitError
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// isUsage reports whether err is about the command line itself. Every
// error of that kind is made a usageError where it arises: ours by usagef,
// cobra's flag errors by the FlagErrorFunc, its argument checks by
// usageArgs.
func isUsage(err error) bool {
	var ue usageError
	return errors.As(err, &ue)
}

// usageArgs makes the argument checks of cmd and its subcommands return
// usage errors, whichever validator each uses.
func usageArgs(cmd *cobra.Command) {
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			err := check(c, args)
			if err != nil && !isUsage(err) {
				err = usageError{err}
			}
			return err
		}
	}
	for _, sub := range cmd.Commands() {
		usageArgs(sub)
	}
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "sock [flags] [HOST PORT]",
		Short: "sock runs the socket tutorial and pokes at sockets like nc, ncat and socat",
		Long: `sock is the command line of socketkit, a Go toolkit for socket programming.

It runs the socket tutorial's server and client in one command (sock demo),
serves the classic services (sock serve), and does what nc, ncat and socat
do: connect, listen, relay, send and receive files, ping, scan, benchmark.
Without a command it behaves as nc: "sock HOST PORT" connects and
"sock -l PORT" listens, with nc's flags (-lvkp 4444).`,
		Example: `  sock demo                         # the tutorial's s1.py and c1.py, then every family x type
  sock serve echo --addr 127.0.0.1:6254
  sock connect 127.0.0.1 6254       # stdin -> socket -> stdout
  sock -lvkp 4444                   # nc style: listen on 4444, keep open, verbose`,
		SilenceUsage:               true,
		SilenceErrors:              true,
		SuggestionsMinimumDistance: 2,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newDemo(e), newServe(e), newConnect(e), newListen(e), newRelay(e), newSend(e), newRecv(e),
		newPing(e), newScan(e), newBench(e), newResolve(e), newInfo(e))
	root.AddCommand(newSS(e), newDoctor(e), newExplain(e)) // learn and diagnose (issue 15)
	root.AddCommand(newProxy(e))                           // proxies, WebSocket, stream bench (issue 16)
	ncRoot(e, root)
	usageArgs(root)
	return root
}

// rangeArgs accepts min to max positional arguments; its error is a usage
// error that says how many the command takes.
func rangeArgs(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || len(args) > max {
			if min == max {
				return usagef("%s takes %s, got %d", cmd.Name(), plural(min, "argument"), len(args))
			}
			return usagef("%s takes %d to %d arguments, got %d", cmd.Name(), min, max, len(args))
		}
		return nil
	}
}
