package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/socketkit/socketkit/cmd/sock/internal/sockdiag"
	"github.com/socketkit/socketkit/socket"
)

// A lesson is a short live experiment on loopback about one point of the
// socket tutorial where readers trip: it runs the tutorial's calls through
// socketkit's socket package (the tutorial's API in Go), reads what the
// kernel did (states and queues from NETLINK_SOCK_DIAG, errnos, byte
// counts), and prints that next to what the tutorial says and the Python
// spelling. Its run returns the observed facts as a struct, which the tests
// assert, and prints only from those facts.
type lesson struct {
	name     string
	title    string
	tutorial string // what the tutorial says, quoted
	python   string // the Python calls of the experiment
	goCalls  string // the same in socketkit
	run      func(lw *lessonWriter) (any, error)
}

// lessons is every lesson, in teaching order.
func lessons() []lesson {
	return []lesson{
		backlogLesson, boundariesLesson, partialSendLesson, timewaitLesson,
		nonblockingLesson, timeoutLesson, halfcloseLesson, connectExLesson,
	}
}

func findLesson(name string) (lesson, bool) {
	for _, l := range lessons() {
		if l.name == name {
			return l, true
		}
	}
	return lesson{}, false
}

func lessonNames() []string {
	var names []string
	for _, l := range lessons() {
		names = append(names, l.name)
	}
	return names
}

// lessonWriter is what a lesson prints to.
type lessonWriter struct {
	ctx context.Context
	w   io.Writer
}

func (lw *lessonWriter) say(format string, args ...any) {
	fmt.Fprintf(lw.w, format+"\n", args...)
}

// step prints one observed step, indented.
func (lw *lessonWriter) step(format string, args ...any) {
	fmt.Fprintf(lw.w, "  "+format+"\n", args...)
}

// RunLesson runs the lesson called name, printing to w, and returns the
// facts it observed (a *BacklogFacts, *BoundariesFacts...). Tests use it to
// check that each printed fact is what the kernel did.
func RunLesson(ctx context.Context, name string, w io.Writer) (any, error) {
	l, ok := findLesson(name)
	if !ok {
		return nil, usagef("no lesson %q; the lessons are: %s", name, strings.Join(lessonNames(), ", "))
	}
	lw := &lessonWriter{ctx: ctx, w: w}
	lw.say("sock demo %s: %s", l.name, l.title)
	lw.say("  The tutorial: %s", l.tutorial)
	lw.say("  Python:       %s", l.python)
	lw.say("  socketkit:    %s", l.goCalls)
	lw.say("")
	start := time.Now()
	facts, err := l.run(lw)
	if err != nil {
		return facts, fmt.Errorf("lesson %s: %w", name, err)
	}
	lw.say("(lesson %s ran in %.1f s)", name, time.Since(start).Seconds())
	return facts, nil
}

// demoLessons handles "sock demo LESSON" and "sock demo --list"; it reports
// whether it did.
func demoLessons(e *env, args []string, list bool) (bool, error) {
	if list {
		tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
		for _, l := range lessons() {
			fmt.Fprintf(tw, "%s\t%s\n", l.name, l.title)
		}
		return true, tw.Flush()
	}
	if len(args) == 0 {
		return false, nil
	}
	names := args
	if len(args) == 1 && args[0] == "all" {
		names = lessonNames()
	}
	for i, n := range names {
		if _, ok := findLesson(n); !ok {
			return true, usagef("demo's argument names a lesson, and there is no lesson %q; the lessons are: %s (or all)", n, strings.Join(lessonNames(), ", "))
		}
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		if _, err := RunLesson(e.ctx, n, e.stdout); err != nil {
			return true, err
		}
	}
	return true, nil
}

// lessonFooter ends plain "sock demo" by naming the lessons.
func lessonFooter(w io.Writer) {
	fmt.Fprintf(w, "\nLessons: what the tutorial's calls really do on this kernel, one live experiment each:\n")
	fmt.Fprintf(w, "  sock demo %s\n", strings.Join(lessonNames(), " | "))
	fmt.Fprintf(w, "  (sock demo --list says what each shows; sock demo all runs them all)\n")
}

func lessonCompletion(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return append(lessonNames(), "all"), cobra.ShellCompDirectiveNoFileComp
}

// ---- evidence helpers ----

// loopback4 is 127.0.0.1 with port 0: the kernel picks a free port, so runs
// never collide.
func loopback4() *socket.Inet4Addr { return &socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}} }

// errnoOf returns the errno inside err, or 0.
func errnoOf(err error) syscall.Errno {
	var en syscall.Errno
	if errors.As(err, &en) {
		return en
	}
	return 0
}

// errnoText names an errno as a learner meets it: "ECONNREFUSED (111,
// connection refused)"; 0 is "0 (success)".
func errnoText(e syscall.Errno) string {
	if e == 0 {
		return "0 (success)"
	}
	name := errnoCName(e)
	if name == "" {
		name = fmt.Sprintf("errno %d", int(e))
	}
	return fmt.Sprintf("%s (%d, %s)", name, int(e), e.Error())
}

// inodeOf is the inode of a socket, which the kernel's tables key on.
func inodeOf(s *socket.Socket) uint32 {
	ino, err := sockdiag.Inode(s.Fd())
	if err != nil {
		return 0
	}
	return ino
}

// tcpTable reads the kernel's IPv4 TCP table (NETLINK_SOCK_DIAG) keyed by
// inode; sockets in TIME_WAIT or SYN_RECV have inode 0 and are in rest.
type tcpTable struct {
	byInode map[uint32]sockdiag.Socket
	all     []sockdiag.Socket
}

func readTCP() (*tcpTable, error) {
	ss, err := sockdiag.Dump(sockdiag.Request{TCP: true, IPv4: true}, false)
	if err != nil {
		return nil, err
	}
	t := &tcpTable{byInode: map[uint32]sockdiag.Socket{}, all: ss}
	for _, s := range ss {
		if s.Inode != 0 {
			t.byInode[s.Inode] = s
		}
	}
	return t, nil
}

// of returns the row of socket s, or a row with State 0 when the kernel no
// longer lists it (closed).
func (t *tcpTable) of(s *socket.Socket) sockdiag.Socket { return t.byInode[inodeOf(s)] }

// onPort lists the rows whose local port is port.
func (t *tcpTable) onPort(port int) []sockdiag.Socket {
	var out []sockdiag.Socket
	for _, s := range t.all {
		if int(s.Local.Port()) == port {
			out = append(out, s)
		}
	}
	return out
}

// stateText is a state for the printout: ESTABLISHED, or "gone (closed)"
// for a socket the kernel no longer lists.
func stateText(s sockdiag.Socket) string {
	if s.State == 0 {
		return "gone (CLOSED)"
	}
	return s.State.String()
}

// waitUntil polls cond every few milliseconds until it holds or d passes.
// Kernel state changes (a SYN retried, a FIN arrived) have no notification a
// program can wait on, so the lessons poll the kernel's tables; the bound
// keeps every lesson short.
func waitUntil(ctx context.Context, d time.Duration, cond func() (bool, error)) (bool, error) {
	deadline := time.Now().Add(d)
	for {
		ok, err := cond()
		if err != nil || ok {
			return ok, err
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func inet4Port(sa socket.Sockaddr) int {
	if a, ok := sa.(*socket.Inet4Addr); ok {
		return a.Port
	}
	return 0
}

// closeAll closes sockets, ignoring nils.
func closeSockets(ss ...*socket.Socket) {
	for _, s := range ss {
		if s != nil {
			s.Close()
		}
	}
}

// isRoot reports whether this process may create network namespaces.
func asRoot() bool { return os.Geteuid() == 0 }

func countOf(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

func secText(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
