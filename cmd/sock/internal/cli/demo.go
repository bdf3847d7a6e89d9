package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/socketkit/socketkit/socket"
)

func newDemo(e *env) *cobra.Command {
	addr := "127.0.0.1:6254"
	list := false
	cmd := &cobra.Command{
		Use:   "demo [LESSON]",
		Short: "Run the tutorial's s1.py and c1.py, then try every family x type",
		Long: `demo runs the socket tutorial in one command.

First s1.py and c1.py: a server binds 127.0.0.1:6254, listens with a backlog
of 5, prints that it is waiting, accepts one client and prints the client's
address and the connection; the client connects and closes. If port 6254 is
taken, demo says so and uses a free port.

Then it tours every address family and socket type the tutorial names
(AF_INET, AF_INET6, AF_UNIX x SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_RDM,
SOCK_SEQPACKET) on this kernel and prints a table: was the socket created,
bound, and did it exchange a message? If not, why.

With a LESSON, demo runs one live experiment on loopback about a point where
the tutorial's readers trip (listen's backlog, message boundaries, partial
sends, TIME_WAIT, non-blocking calls, timeouts, half-close, connect_ex's
error numbers) and prints what the kernel did, read from NETLINK_SOCK_DIAG,
next to what the tutorial says and the Python call. "sock demo --list" lists
them, "sock demo all" runs them all.`,
		Example: `  sock demo
  sock demo --addr 127.0.0.1:7000
  sock demo --list
  sock demo backlog                 # listen(5) with 8 clients
  sock demo all`,
		Args:              rangeArgs(0, 1),
		ValidArgsFunction: lessonCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			if done, err := demoLessons(e, args, list); done {
				return err
			}
			sa, err := socket.ParseAddr(socket.AF_INET, addr)
			if err != nil {
				return usageError{err}
			}
			if err := tutorialPair(e, sa.(*socket.Inet4Addr)); err != nil {
				return err
			}
			fmt.Fprintln(e.stdout)
			if err := tour(e); err != nil {
				return err
			}
			lessonFooter(e.stdout)
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", addr, "address of the tutorial's server")
	cmd.Flags().BoolVar(&list, "list", false, "list the lessons")
	return cmd
}

// tutorialPair is s1.py and c1.py.
func tutorialPair(e *env, addr *socket.Inet4Addr) error {
	out := e.stdout
	fmt.Fprintf(out, "s1.py: sk = socket.socket(); sk.bind(('%s', %d)); sk.listen(5)\n", addrHost(addr), addr.Port)
	sk, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	defer sk.Close()
	sk.SetReuseAddr(true) // a rerun must not trip over TIME_WAIT
	if err := sk.Bind(addr); err != nil {
		if !errors.Is(err, syscall.EADDRINUSE) {
			return err
		}
		fmt.Fprintf(out, "port %d is in use (%v); using a free port instead\n", addr.Port, err)
		free := *addr
		free.Port = 0
		if err := sk.Bind(&free); err != nil {
			return err
		}
	}
	if err := sk.Listen(5); err != nil {
		return err
	}
	bound, err := sk.Getsockname()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "正在等待客户端连接.... (waiting for a client on %v)\n", bound)

	// c1.py runs beside the server, as a second program would.
	clientErr := make(chan error, 1)
	go func() {
		obj, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
		if err != nil {
			clientErr <- err
			return
		}
		defer obj.Close()
		obj.SetTimeout(5 * time.Second)
		if err := obj.Connect(bound); err != nil {
			clientErr <- err
			return
		}
		clientErr <- obj.Close()
	}()
	sk.SetTimeout(5 * time.Second)
	conn, address, err := sk.Accept()
	if err != nil {
		return err
	}
	defer conn.Close()
	fmt.Fprintf(out, "c1.py: obj = socket.socket(); obj.connect(%v); obj.close()\n", bound)
	fmt.Fprintln(out, "s1.py: print(address, conn)")
	fmt.Fprintln(out, address, conn)
	if err := <-clientErr; err != nil {
		return fmt.Errorf("c1.py: %w", err)
	}
	return nil
}

func addrHost(a *socket.Inet4Addr) string {
	return fmt.Sprintf("%d.%d.%d.%d", a.Addr[0], a.Addr[1], a.Addr[2], a.Addr[3])
}

// tourRow is one family x type: how far it got and why it stopped.
type tourRow struct {
	family                   socket.Family
	typ                      socket.Type
	created, bound, exchange bool
	note                     string
}

func tour(e *env) error {
	dir, err := os.MkdirTemp("", "sockdemo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintln(e.stdout, "Every family x type of the tutorial on this kernel:")
	tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "FAMILY\tTYPE\tCREATED\tBOUND\tEXCHANGED\tDETAIL")
	for _, f := range []socket.Family{socket.AF_INET, socket.AF_INET6, socket.AF_UNIX} {
		for _, t := range []socket.Type{socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW, socket.SOCK_RDM, socket.SOCK_SEQPACKET} {
			r := tourOne(f, t, filepath.Join(dir, fmt.Sprintf("%s-%s", strings.ToLower(f.String()[3:]), strings.ToLower(t.String()[5:]))))
			fmt.Fprintf(tw, "%v\t%v\t%s\t%s\t%s\t%s\n", r.family, r.typ, yes(r.created), yes(r.bound), yes(r.exchange), r.note)
		}
	}
	return tw.Flush()
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// tourOne tries family f and type t: create, bind, exchange a message.
func tourOne(f socket.Family, t socket.Type, unixBase string) (r tourRow) {
	r = tourRow{family: f, typ: t}
	proto := socket.Protocol(0)
	if t == socket.SOCK_RAW {
		switch f {
		case socket.AF_INET:
			proto = socket.IPPROTO_ICMP
		case socket.AF_INET6:
			proto = socket.IPPROTO_ICMPV6
		}
	}
	local := func(i int) socket.Sockaddr {
		switch f {
		case socket.AF_INET:
			return &socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}}
		case socket.AF_INET6:
			return &socket.Inet6Addr{Addr: [16]byte{15: 1}}
		}
		return &socket.UnixAddr{Path: fmt.Sprintf("%s-%c.sock", unixBase, 'a'+i)}
	}
	a, err := socket.New(f, t, proto)
	if err != nil {
		r.note = shortErr(err)
		return r
	}
	defer a.Close()
	r.created = true
	a.SetTimeout(2 * time.Second)
	if err := a.Bind(local(0)); err != nil {
		r.note = shortErr(err)
		return r
	}
	r.bound = true
	aAddr, _ := a.Getsockname()
	msg := []byte("hello from socketkit")
	buf := make([]byte, 2048)
	fail := func(err error) tourRow { r.note = shortErr(err); return r }

	switch {
	case t == socket.SOCK_STREAM || t == socket.SOCK_SEQPACKET:
		if err := a.Listen(5); err != nil {
			return fail(err)
		}
		c, err := socket.New(f, t, 0)
		if err != nil {
			return fail(err)
		}
		defer c.Close()
		c.SetTimeout(2 * time.Second)
		if err := c.Connect(aAddr); err != nil {
			return fail(err)
		}
		s, _, err := a.Accept()
		if err != nil {
			return fail(err)
		}
		defer s.Close()
		s.SetTimeout(2 * time.Second)
		if _, err := c.Sendall(msg, 0); err != nil {
			return fail(err)
		}
		n, err := s.Recv(buf[:len(msg)], socket.MSG_WAITALL)
		if err != nil {
			return fail(err)
		}
		if string(buf[:n]) != string(msg) {
			return fail(fmt.Errorf("received %q", buf[:n]))
		}
		cAddr, _ := c.Getsockname()
		r.exchange = true
		r.note = fmt.Sprintf("%d bytes %s -> %s", n, showAddr(cAddr), showAddr(aAddr))
		if t == socket.SOCK_SEQPACKET {
			r.note += " (one record)"
		}
	case t == socket.SOCK_RAW && f != socket.AF_UNIX:
		n, err := pingLoopback(a, f, aAddr)
		if err != nil {
			return fail(err)
		}
		r.exchange = true
		ap, _ := socket.AddrPortOf(aAddr) // a raw socket's "port" is its protocol
		r.note = fmt.Sprintf("ICMP echo reply from %s (%d bytes)", ap.Addr(), n)
	default: // datagrams, and AF_UNIX SOCK_RAW, which Linux treats as SOCK_DGRAM
		b, err := socket.New(f, t, proto)
		if err != nil {
			return fail(err)
		}
		defer b.Close()
		if err := b.Bind(local(1)); err != nil {
			return fail(err)
		}
		if _, err := b.Sendto(msg, 0, aAddr); err != nil {
			return fail(err)
		}
		n, from, err := a.Recvfrom(buf, 0)
		if err != nil {
			return fail(err)
		}
		if string(buf[:n]) != string(msg) {
			return fail(fmt.Errorf("received %q", buf[:n]))
		}
		r.exchange = true
		r.note = fmt.Sprintf("%d-byte datagram %s -> %s", n, showAddr(from), showAddr(aAddr))
		if t == socket.SOCK_RAW {
			r.note += " (Linux runs AF_UNIX SOCK_RAW as SOCK_DGRAM)"
		}
	}
	return r
}

func showAddr(sa socket.Sockaddr) string {
	if sa == nil {
		return "?"
	}
	if ua, ok := sa.(*socket.UnixAddr); ok {
		if ua.Path == "" {
			return "(unnamed)"
		}
		return filepath.Base(ua.Path)
	}
	return sa.String()
}

// shortErr trims an error to its cause for the table.
func shortErr(err error) string {
	var se *os.SyscallError
	if errors.As(err, &se) {
		s := se.Syscall + ": " + se.Err.Error()
		if full := err.Error(); len(full) > 0 && full[len(full)-1] == ')' {
			if i := lastParen(full); i >= 0 {
				s += " " + full[i:]
			}
		}
		return s
	}
	return err.Error()
}

func lastParen(s string) int {
	depth := 0
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case ')':
			depth++
		case '(':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// pingLoopback sends an ICMP (or ICMPv6) echo request from a raw socket to
// its own loopback address and waits for the reply.
func pingLoopback(s *socket.Socket, f socket.Family, to socket.Sockaddr) (int, error) {
	id := os.Getpid() & 0xffff
	var typ icmp.Type = ipv4.ICMPTypeEcho
	var reply icmp.Type = ipv4.ICMPTypeEchoReply
	proto := 1
	if f == socket.AF_INET6 {
		typ, reply, proto = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply, 58
	}
	m := icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: 1, Data: []byte("socketkit demo")}}
	b, err := m.Marshal(nil) // the kernel fills in the ICMPv6 checksum
	if err != nil {
		return 0, err
	}
	if _, err := s.Sendto(b, 0, to); err != nil {
		return 0, err
	}
	buf := make([]byte, 1500)
	for {
		n, _, err := s.Recvfrom(buf, 0)
		if err != nil {
			return 0, err
		}
		pkt := buf[:n]
		if f == socket.AF_INET && n > 0 {
			pkt = pkt[int(pkt[0]&0x0f)*4:] // IPv4 raw sockets include the IP header
		}
		rm, err := icmp.ParseMessage(proto, pkt)
		if err != nil {
			continue
		}
		if echo, ok := rm.Body.(*icmp.Echo); ok && rm.Type == reply && echo.ID == id {
			return n, nil
		}
	}
}
