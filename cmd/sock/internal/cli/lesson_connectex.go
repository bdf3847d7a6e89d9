package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/socketkit/socketkit/cmd/sock/internal/netns"
	"github.com/socketkit/socketkit/socket"
)

var connectExLesson = lesson{
	name:  "connect-ex",
	title: "connect_ex() error numbers on this OS (111, not 10061)",
	tutorial: "sk.connect_ex(address): 连接成功时返回 0 ，连接失败时候返回编码，例如：10061\n" +
		"                (\"returns 0 on success, an error code on failure, for example 10061\")",
	python:  "err = c.connect_ex(addr); errno.errorcode[err]; os.strerror(err)",
	goCalls: "errno, err := c.ConnectEx(addr); errors.Is(err, syscall.ECONNREFUSED)",
	run:     runConnectEx,
}

// ConnectExFacts is what the connect-ex lesson observed: one row per try.
type ConnectExFacts struct {
	Rows []ConnectExRow
	// UnreachableSkipped says why the unreachable-network row did not run.
	UnreachableSkipped string
}

// ConnectExRow is one connect_ex call.
type ConnectExRow struct {
	What    string
	Errno   syscall.Errno
	Windows string // the Winsock name and number of the same condition
}

// winsock names the Windows error of the same condition, which tutorials
// written on Windows quote.
var winsock = map[syscall.Errno]string{
	0:                    "0",
	syscall.ECONNREFUSED: "WSAECONNREFUSED 10061",
	syscall.EISCONN:      "WSAEISCONN 10056",
	syscall.EINPROGRESS:  "WSAEWOULDBLOCK 10035",
	syscall.EALREADY:     "WSAEALREADY 10037",
	syscall.ENETUNREACH:  "WSAENETUNREACH 10051",
	syscall.EHOSTUNREACH: "WSAEHOSTUNREACH 10065",
	syscall.ETIMEDOUT:    "WSAETIMEDOUT 10060",
	syscall.ECONNRESET:   "WSAECONNRESET 10054",
	syscall.EADDRINUSE:   "WSAEADDRINUSE 10048",
}

func runConnectEx(lw *lessonWriter) (any, error) {
	f := &ConnectExFacts{}
	add := func(what string, en syscall.Errno) {
		w := winsock[en]
		if w == "" {
			w = "-"
		}
		f.Rows = append(f.Rows, ConnectExRow{What: what, Errno: en, Windows: w})
	}

	// A port that is bound but not listening: nothing listens, and the
	// bound socket keeps anyone else from taking the port meanwhile.
	hold, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		return f, err
	}
	defer hold.Close()
	if err := hold.Bind(loopback4()); err != nil {
		return f, err
	}
	closed, _ := hold.Getsockname()
	c, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		return f, err
	}
	defer c.Close()
	c.SetTimeout(2 * time.Second)
	en, err := c.ConnectEx(closed)
	if err != nil {
		return f, err
	}
	add("c.connect_ex(a port where nothing listens)", en)

	// A listener: success, then again on the connected socket.
	l, err := socket.CreateServer("127.0.0.1:0", nil)
	if err != nil {
		return f, err
	}
	defer l.Close()
	laddr, _ := l.Getsockname()
	c2, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		return f, err
	}
	defer c2.Close()
	c2.SetTimeout(2 * time.Second)
	if en, err = c2.ConnectEx(laddr); err != nil {
		return f, err
	}
	add("c.connect_ex(a listening port)", en)
	if en, err = c2.ConnectEx(laddr); err != nil {
		return f, err
	}
	add("c.connect_ex(...) again on the connected socket", en)

	// Non-blocking, to a listener whose queue is full so that the handshake
	// stays in progress: EINPROGRESS, then EALREADY.
	full, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		return f, err
	}
	defer full.Close()
	if err := full.Bind(loopback4()); err != nil {
		return f, err
	}
	if err := full.Listen(0); err != nil {
		return f, err
	}
	faddr, _ := full.Getsockname()
	filler, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		return f, err
	}
	defer filler.Close()
	filler.SetTimeout(2 * time.Second)
	if err := filler.Connect(faddr); err != nil {
		return f, err
	}
	c3, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		return f, err
	}
	defer c3.Close()
	c3.SetBlocking(false)
	if en, err = c3.ConnectEx(faddr); err != nil {
		return f, err
	}
	add("c.setblocking(False); c.connect_ex(addr)", en)
	if en, err = c3.ConnectEx(faddr); err != nil {
		return f, err
	}
	add("c.connect_ex(addr) again while the handshake goes on", en)

	// AF_UNIX: a path that does not exist, and one where nobody listens.
	dir, err := os.MkdirTemp("", "sock-connect-ex")
	if err != nil {
		return f, err
	}
	defer os.RemoveAll(dir)
	u, err := socket.New(socket.AF_UNIX, socket.SOCK_STREAM, 0)
	if err != nil {
		return f, err
	}
	defer u.Close()
	if en, err = u.ConnectEx(&socket.UnixAddr{Path: filepath.Join(dir, "missing.sock")}); err != nil {
		return f, err
	}
	add("AF_UNIX c.connect_ex('/tmp/.../missing.sock')", en)
	bound, err := socket.New(socket.AF_UNIX, socket.SOCK_STREAM, 0)
	if err != nil {
		return f, err
	}
	defer bound.Close()
	path := filepath.Join(dir, "bound.sock")
	if err := bound.Bind(&socket.UnixAddr{Path: path}); err != nil {
		return f, err
	}
	u2, err := socket.New(socket.AF_UNIX, socket.SOCK_STREAM, 0)
	if err != nil {
		return f, err
	}
	defer u2.Close()
	if en, err = u2.ConnectEx(&socket.UnixAddr{Path: path}); err != nil {
		return f, err
	}
	add("AF_UNIX c.connect_ex(a bound socket that does not listen)", en)

	// An unreachable network: in a namespace with no route, as root.
	err = netns.Run(func() error {
		s, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
		if err != nil {
			return err
		}
		defer s.Close()
		s.SetTimeout(2 * time.Second)
		// 192.0.2.1 is TEST-NET-1 (RFC 5737); with no route no packet leaves.
		en, err := s.ConnectEx(&socket.Inet4Addr{Addr: [4]byte{192, 0, 2, 1}, Port: 80})
		if err != nil {
			return err
		}
		add("c.connect_ex(('192.0.2.1', 80)) with no route (own netns)", en)
		return nil
	})
	if err != nil {
		if !errors.Is(err, netns.ErrNeedRoot) && !errors.Is(err, errors.ErrUnsupported) {
			return f, err
		}
		f.UnreachableSkipped = "needs root to make a network namespace with no route"
	}
	tw := tabwriter.NewWriter(lw.w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "  CALL\tLINUX RETURNS\tWINDOWS WOULD SAY\n")
	for _, r := range f.Rows {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", r.What, errnoText(r.Errno), r.Windows)
	}
	if f.UnreachableSkipped != "" {
		fmt.Fprintf(tw, "  %s\tskipped: %s\t\n", "c.connect_ex(an unreachable network)", f.UnreachableSkipped)
	}
	tw.Flush()

	lw.say("")
	lw.say("What this shows: connect_ex returns the errno of connect(2), and the numbers are the operating")
	lw.say("system's: Linux says 111 (ECONNREFUSED) where Windows says 10061 (WSAECONNREFUSED), the number the")
	lw.say("tutorial quotes. Compare with the names, never with numbers: err == errno.ECONNREFUSED in Python,")
	lw.say("errors.Is(err, syscall.ECONNREFUSED) or errno == syscall.ECONNREFUSED in Go. sock explain NAME says")
	lw.say("what each means.")
	return f, nil
}
