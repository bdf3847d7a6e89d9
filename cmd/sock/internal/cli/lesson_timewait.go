package cli

import (
	"time"

	"github.com/socketkit/socketkit/cmd/sock/internal/sockdiag"
	"github.com/socketkit/socketkit/socket"
)

var timewaitLesson = lesson{
	name:  "timewait",
	title: "restarting a server: \"address already in use\", TIME_WAIT and SO_REUSEADDR",
	tutorial: "sk.bind(('127.0.0.1', 6254)) ... 传输完毕后，关闭套接字 (\"close the socket when done\");\n" +
		"                run s1.py twice in a row and the second bind may fail: the tutorial does not say why",
	python:  "sk.bind(addr) -> OSError: [Errno 98] Address already in use; sk.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)",
	goCalls: "sk.Bind(addr) -> errors.Is(err, syscall.EADDRINUSE); sk.SetReuseAddr(true)",
	run:     runTimewait,
}

// TimewaitFacts is what the timewait lesson observed.
type TimewaitFacts struct {
	// ClientFirst: the client closes first, as c1.py does.
	ClientFirst TimewaitCase
	// ServerFirst: the server closes its connection first (or is killed
	// with clients connected); neither server sets SO_REUSEADDR, then only
	// the new one does.
	ServerFirst TimewaitCase
	// BothReuse: the same, but the old server had set SO_REUSEADDR too.
	BothReuse TimewaitCase
}

// TimewaitCase is one close order.
type TimewaitCase struct {
	Port     int  // the server's port
	OldReuse bool // whether the old server set SO_REUSEADDR
	// TimeWaitOnServerPort counts TIME_WAIT sockets whose local port is
	// the server's, TimeWaitOnClientPort those on the client's port;
	// Expires is the time left of the first, in ms.
	TimeWaitOnServerPort, TimeWaitOnClientPort int
	Expires                                    uint32
	// PlainErr is what bind() of a new server to the same port returned
	// without SO_REUSEADDR, ReuseErr with it, and ReuseListenErr listen()
	// after that bind.
	PlainErr, ReuseErr, ReuseListenErr error
}

func runTimewait(lw *lessonWriter) (any, error) {
	f := &TimewaitFacts{}
	var err error
	lw.step("1. c1.py's order: the client closes first, then the server")
	if f.ClientFirst, err = timewaitCase(lw, false, false); err != nil {
		return f, err
	}
	lw.step("2. the server closes first (s1.py ends, or is killed, while a client is connected)")
	if f.ServerFirst, err = timewaitCase(lw, true, false); err != nil {
		return f, err
	}
	lw.step("3. the same, but the old server had set SO_REUSEADDR before its bind() too")
	if f.BothReuse, err = timewaitCase(lw, true, true); err != nil {
		return f, err
	}
	lw.say("")
	lw.say("What this shows: the side that closes first keeps the connection in TIME_WAIT for 60 s, so that")
	lw.say("late packets of the old connection cannot reach a new one. When that side is the server, its port")
	lw.say("is still in use and a plain bind() fails with EADDRINUSE (98) although nothing listens. SO_REUSEADDR")
	lw.say("lets a new listener bind past TIME_WAIT, but on Linux only when the old socket had it too (accepted")
	lw.say("connections inherit it from their listener): set it on every server, before bind(). Python's")
	lw.say("socket.create_server() does, and socketserver does with allow_reuse_address = True (a class attribute,")
	lw.say("set before the server is made); socat 1.8 made it its default for listeners, and sock listen sets it.")
	lw.say("It never lets two sockets listen on one port (that is SO_REUSEPORT).")
	return f, nil
}

// timewaitCase runs one server and one client, closes them in the order
// asked, then tries a new bind to the server's port, without and with
// SO_REUSEADDR.
func timewaitCase(lw *lessonWriter, serverFirst, oldReuse bool) (TimewaitCase, error) {
	tc := TimewaitCase{OldReuse: oldReuse}
	sk, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		return tc, err
	}
	defer sk.Close()
	if oldReuse {
		sk.SetReuseAddr(true)
	}
	if err := sk.Bind(loopback4()); err != nil {
		return tc, err
	}
	if err := sk.Listen(5); err != nil {
		return tc, err
	}
	laddr, _ := sk.Getsockname()
	tc.Port = inet4Port(laddr)
	c, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		return tc, err
	}
	defer c.Close()
	c.SetTimeout(2 * time.Second)
	if err := c.Connect(laddr); err != nil {
		return tc, err
	}
	caddr, _ := c.Getsockname()
	sk.SetTimeout(2 * time.Second)
	conn, _, err := sk.Accept()
	if err != nil {
		return tc, err
	}
	defer conn.Close()
	conn.SetTimeout(2 * time.Second)
	first, second := c, conn
	if serverFirst {
		first, second = conn, c
	}
	first.Close()
	// The other side reads the end of the stream (recv returns b''), then
	// closes too, as a program does.
	if n, err := second.Recv(make([]byte, 16), 0); err != nil || n != 0 {
		return tc, err
	}
	second.Close()
	sk.Close()
	// The kernel's table: wait until the connection is in TIME_WAIT.
	var rows []sockdiag.Socket
	if _, err := waitUntil(lw.ctx, 2*time.Second, func() (bool, error) {
		t, err := readTCP()
		if err != nil {
			return false, err
		}
		tc.TimeWaitOnServerPort, tc.TimeWaitOnClientPort = 0, 0
		rows = rows[:0]
		for _, s := range t.all {
			if s.State != sockdiag.TIME_WAIT {
				continue
			}
			switch {
			case int(s.Local.Port()) == tc.Port && int(s.Peer.Port()) == inet4Port(caddr):
				tc.TimeWaitOnServerPort++
				rows = append(rows, s)
			case int(s.Local.Port()) == inet4Port(caddr) && int(s.Peer.Port()) == tc.Port:
				tc.TimeWaitOnClientPort++
				rows = append(rows, s)
			}
		}
		return len(rows) > 0, nil
	}); err != nil {
		return tc, err
	}
	for _, r := range rows {
		tc.Expires = r.Expires
		lw.step("   kernel (NETLINK_SOCK_DIAG): TIME_WAIT %v -> %v, %.0f s left", r.Local, r.Peer, float64(r.Expires)/1000)
	}
	if len(rows) == 0 {
		lw.step("   kernel (NETLINK_SOCK_DIAG): no TIME_WAIT socket for this connection")
	}
	// Restart: a new server binds the same port, without SO_REUSEADDR and
	// with it.
	for _, reuse := range []bool{false, true} {
		ns, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
		if err != nil {
			return tc, err
		}
		if reuse {
			ns.SetReuseAddr(true)
			tc.ReuseErr = ns.Bind(laddr)
			if tc.ReuseErr == nil {
				tc.ReuseListenErr = ns.Listen(5)
			}
			lw.step("   restart with sk.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1): bind() = %s%s", errnoText(errnoOf(tc.ReuseErr)),
				listenText(tc.ReuseErr, tc.ReuseListenErr))
		} else {
			tc.PlainErr = ns.Bind(laddr)
			lw.step("   restart: a new sk.bind(('127.0.0.1', %d)) without SO_REUSEADDR = %s", tc.Port, errnoText(errnoOf(tc.PlainErr)))
		}
		ns.Close()
	}
	for _, err := range []error{tc.PlainErr, tc.ReuseErr, tc.ReuseListenErr} {
		if err != nil && errnoOf(err) == 0 {
			return tc, err
		}
	}
	return tc, nil
}

func listenText(bindErr, listenErr error) string {
	if bindErr != nil {
		return ""
	}
	return ", listen() = " + errnoText(errnoOf(listenErr))
}
