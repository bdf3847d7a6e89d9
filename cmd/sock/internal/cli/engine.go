package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/socket"
)

// The services written for the event-loop engine's callbacks.

type loopEcho struct{ eventloop.BaseHandler }

func (loopEcho) OnData(c *eventloop.Conn) eventloop.Action {
	b, _ := c.Next(-1)
	c.Write(b)
	return eventloop.None
}

func (loopEcho) OnPacket(p *eventloop.Packet) eventloop.Action {
	p.Reply(p.Data)
	return eventloop.None
}

type loopDiscard struct{ eventloop.BaseHandler }

func (loopDiscard) OnPacket(p *eventloop.Packet) eventloop.Action { return eventloop.None }

type loopDaytime struct{ eventloop.BaseHandler }

func (loopDaytime) OnOpen(c *eventloop.Conn) eventloop.Action {
	c.Write([]byte(daytimeText(time.Now())))
	return eventloop.Close
}

func (loopDaytime) OnPacket(p *eventloop.Packet) eventloop.Action {
	p.Reply([]byte(daytimeText(time.Now())))
	return eventloop.None
}

type loopTime struct{ eventloop.BaseHandler }

func (loopTime) OnOpen(c *eventloop.Conn) eventloop.Action {
	c.Write(rfc868Now())
	return eventloop.Close
}

func (loopTime) OnPacket(p *eventloop.Packet) eventloop.Action {
	p.Reply(rfc868Now())
	return eventloop.None
}

// loopChargen keeps each connection's output topped up to the high
// watermark: OnWritable refills it as the client drains it.
type loopChargen struct {
	eventloop.BaseHandler
	block []byte
}

func newLoopChargen() *loopChargen {
	h := &loopChargen{}
	for i := 0; i < 95; i++ {
		h.block = append(h.block, chargenLine(i)...)
	}
	return h
}

func (h *loopChargen) fill(c *eventloop.Conn) eventloop.Action {
	for c.OutboundBuffered() < 256<<10 {
		c.Write(h.block)
	}
	return eventloop.None
}

func (h *loopChargen) OnOpen(c *eventloop.Conn) eventloop.Action     { return h.fill(c) }
func (h *loopChargen) OnWritable(c *eventloop.Conn) eventloop.Action { return h.fill(c) }
func (h *loopChargen) OnPacket(p *eventloop.Packet) eventloop.Action {
	n := rand.IntN(513)
	b := make([]byte, 0, n+74)
	for i := 0; len(b) < n; i++ {
		b = append(b, chargenLine(i)...)
	}
	p.Reply(b[:n])
	return eventloop.None
}

// loopChat is the chat room on the engine. A client's queue is its
// outbound buffer: AsyncWrite refuses to queue more than HighWatermark
// (1 MiB, as sendQ), and the room then disconnects the client.
type loopChat struct {
	eventloop.BaseHandler
	room *room
}

// loopClient is a connection of the engine in the room.
type loopClient struct {
	c      *eventloop.Conn
	name   string
	kicked atomic.Bool
}

func (l *loopClient) send(msg []byte) bool {
	return !errors.Is(l.c.AsyncWrite(msg, nil), eventloop.ErrOutboundFull)
}

// drop closes the connection at once: on its loop (Wake), OnData sees
// kicked and resets the connection, output and all.
func (l *loopClient) drop() {
	l.kicked.Store(true)
	l.c.Wake()
}

func (h *loopChat) OnOpen(c *eventloop.Conn) eventloop.Action {
	cl := &loopClient{c: c, name: netAddrName(c.RemoteAddr(), c.Fd())}
	c.SetContext(cl)
	h.room.join(cl, cl.name)
	return eventloop.None
}

func (h *loopChat) OnData(c *eventloop.Conn) eventloop.Action {
	cl := c.Context().(*loopClient)
	if cl.kicked.Load() {
		// No lingering over output the client will not read: SO_LINGER 0
		// makes the close a reset, and with the sending side shut down the
		// engine's next write fails and closes the connection now.
		unix.SetsockoptLinger(c.Fd(), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		unix.Shutdown(c.Fd(), unix.SHUT_RDWR)
		c.Discard(-1)
		return eventloop.Close
	}
	for {
		b, _ := c.Peek(-1)
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if len(b) > maxChatLine {
				return eventloop.Close // as bufio.Scanner: a line too long
			}
			return eventloop.None // wait for the rest of the line
		}
		line := b[:i]
		if i > 0 && line[i-1] == '\r' {
			line = line[:i-1]
		}
		h.room.say(cl, line)
		c.Discard(i + 1)
	}
}

func (h *loopChat) OnClose(c *eventloop.Conn, err error) {
	if cl, ok := c.Context().(*loopClient); ok {
		h.room.leave(cl)
	}
}

// netAddrName names a client of the engine as clientName does.
func netAddrName(a net.Addr, fd int) string {
	switch a := a.(type) {
	case *net.TCPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
	case *net.UnixAddr:
		if a.Name != "" {
			return a.Name
		}
	}
	if fd < 0 {
		return "an unnamed socket"
	}
	return fmt.Sprintf("fd%d", fd)
}

func loopHandler(name string) (eventloop.Handler, error) {
	switch name {
	case "echo":
		return loopEcho{}, nil
	case "discard":
		return loopDiscard{}, nil
	case "daytime":
		return loopDaytime{}, nil
	case "time":
		return loopTime{}, nil
	case "chargen":
		return newLoopChargen(), nil
	case "chat":
		return &loopChat{room: newRoom(chatRoom, nil)}, nil
	}
	return nil, usagef("unknown service %q", name)
}

// serveLoop runs a service on the event-loop engine: on --addr, on the
// sockets systemd passed, or on those the sock it replaces handed down
// (--graceful-restart), one engine per socket.
func serveLoop(e *env, name string, o *serveOpts) error {
	network, err := protoNetwork(o.proto)
	if err != nil {
		return err
	}
	if err := loopServes(name, network, o); err != nil {
		return err
	}
	addr := o.serveAddr(name, network)
	// TLS is the engine's own: the handshake and the records on the
	// loops, no goroutine per connection; the services are the same.
	h, err := loopHandler(name)
	if err != nil {
		return err
	}
	var tlsCfg *tls.Config
	var tlsNote string
	if o.tls || o.tlsCert != "" || o.tlsKey != "" {
		cfg, fp, err := serverTLSConfig(o.tlsCert, o.tlsKey)
		if err != nil {
			return err
		}
		tlsCfg, tlsNote = cfg, "; TLS certificate "+fp
		h = reportHandshakeErrors(h, e.stderr)
	}
	upg, err := o.newUpgrader(false, network)
	if err != nil {
		return err
	}
	if upg != nil {
		defer upg.Stop()
	}
	socks, err := o.acquire(e, upg, network, addr)
	if err != nil {
		return err
	}
	for _, s := range socks {
		if err := loopServes(name, socketNetwork(s.sock), o); err != nil {
			closeInherited(socks)
			return err
		}
	}
	// The listeners first, then Serve: the address is known before the
	// loops start. Bound here, with SO_REUSEPORT (and for UDP, always)
	// each loop gets a socket of its own; an inherited socket is served
	// by an engine of its own, with one loop for a datagram socket.
	var groups [][]*socket.Socket
	var from []string
	if socks != nil {
		for _, s := range socks {
			groups = append(groups, []*socket.Socket{s.sock})
			if s.fd >= 0 {
				from = append(from, ", from systemd "+s.label())
			} else {
				from = append(from, "")
			}
		}
	} else {
		lns, err := o.loopListeners(network, addr)
		if err != nil {
			return err
		}
		groups, from = [][]*socket.Socket{lns}, []string{""}
		if sa, err := lns[0].Getsockname(); err == nil {
			if ua, ok := sa.(*socket.UnixAddr); ok && ua.Path != "" && ua.Path[0] != '@' {
				defer os.Remove(ua.Path)
			}
		}
	}
	closeGroups := func() {
		for _, g := range groups {
			for _, l := range g {
				l.Close()
			}
		}
	}
	var engines []*eventloop.Engine
	var rs []runner
	for i, lns := range groups {
		udp := lns[0].Type() == socket.SOCK_DGRAM
		loops := loopsOrDefault(o.loops)
		if udp {
			loops = len(lns)
		}
		eng := &eventloop.Engine{Handler: h, Loops: loops, IdleTimeout: o.idle.d, MaxConns: o.maxConns, Backend: engineBackends[o.engine],
			TLSConfig: tlsCfg, TLSHandshakeTimeout: 10 * time.Second}
		backend, why := eng.ResolvedBackend()
		if udp {
			backend, why = eventloop.BackendEpoll, "UDP is served by epoll under every backend"
		}
		if !udp && eng.Backend == eventloop.BackendIOUring && backend != eventloop.BackendIOUring {
			closeGroups()
			return fmt.Errorf("--engine uring: %s", why)
		}
		engines = append(engines, eng)
		fmt.Fprintf(e.stderr, "sock: serving %s on %v (%s, event-loop engine on %s, %s%s)%s; Ctrl-C stops\n",
			name, lns[0].LocalAddr(), socketProto(lns[0]), backend, plural(loops, "loop"), from[i], tlsNote)
		if o.verbose {
			switch {
			case why != "":
			case eng.Backend == eventloop.BackendAuto:
				why = "io_uring works here"
			default:
				why = "as --engine " + o.engine + " asks"
			}
			fmt.Fprintf(e.stderr, "sock: the loops run on %s: %s\n", backend, why)
		}
		rs = append(rs, runner{
			serve:    func() error { return eng.Serve(lns...) },
			shutdown: eng.Shutdown,
			drain: func(ctx context.Context) error {
				// A handover: the next sock accepts from now on. Let the
				// connections end by themselves, then stop.
				eng.StopAccept()
				err := waitIdle(ctx, func() int64 { return eng.Stats().Active })
				if err != nil {
					eng.Close()
				}
				return errors.Join(err, eng.Shutdown(ctx))
			},
			closed: func(err error) bool { return errors.Is(err, eventloop.ErrEngineClosed) },
		})
	}
	total := 0
	for _, eng := range engines {
		total += eng.Loops
	}
	defer spareP(e.stderr, o.verbose, total)()
	if o.metricsAddr != "" {
		stop, err := startMetrics(e, o.metricsAddr, upg, engineCollectors(engines, groups))
		if err != nil {
			closeGroups()
			return err
		}
		defer stop()
	}
	err = runAll(e, rs, upg, o.pidFile, false, "shutting down; sending pending output (signal again to force)")
	var st eventloop.Stats
	for _, eng := range engines {
		s := eng.Stats()
		st.Accepted += s.Accepted
		st.Rejected += s.Rejected
		st.BytesIn += s.BytesIn
		st.BytesOut += s.BytesOut
	}
	fmt.Fprintf(e.stderr, "sock: served %s (%d rejected), %d bytes in, %d out\n", plural(int(st.Accepted), "connection"), st.Rejected, st.BytesIn, st.BytesOut)
	return err
}

// loopServes refuses what the engine cannot serve: a network, or chat and
// TLS over datagrams.
func loopServes(name, network string, o *serveOpts) error {
	udp := network == "udp" || network == "udp4" || network == "udp6"
	switch {
	case network == "unixgram" || network == "unixpacket":
		if network == "unixpacket" {
			network = "seqpacket"
		}
		return usagef("the loop engine serves tcp, udp and unix; not %s", network)
	case udp && name == "chat":
		return usagef("chat on the loop engine serves tcp and unix; for udp use --engine goroutines")
	case udp && (o.tls || o.tlsCert != "" || o.tlsKey != ""):
		return usagef("--tls needs a stream protocol (tcp or unix), not %s", network)
	}
	return nil
}

// socketNetwork is the Go network name of s (unixpacket for seqpacket).
func socketNetwork(s *socket.Socket) string {
	if p := socketProto(s); p != "seqpacket" {
		return p
	}
	return "unixpacket"
}

// loopListeners binds --addr for the engine: one socket, or with
// SO_REUSEPORT (and for UDP, always) one per loop.
func (o *serveOpts) loopListeners(network, addr string) ([]*socket.Socket, error) {
	udp := network == "udp" || network == "udp4" || network == "udp6"
	count := 1
	reusePort := (o.reusePort || udp) && network != "unix"
	if reusePort {
		count = loopsOrDefault(o.loops)
	}
	var lns []*socket.Socket
	for i := 0; i < count; i++ {
		ln, err := socket.Listen(network, addr, &socket.ListenOptions{ReusePort: reusePort})
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, listenErr(err)
		}
		lns = append(lns, ln)
		if i == 0 && count > 1 {
			addr = ln.LocalAddr().String() // the others share the port the first one got
		}
	}
	return lns, nil
}

// engineBackends maps --engine to the engine's backends.
var engineBackends = map[string]eventloop.Backend{
	"loop": eventloop.BackendEpoll, "epoll": eventloop.BackendEpoll,
	"uring": eventloop.BackendIOUring, "io_uring": eventloop.BackendIOUring,
	"auto": eventloop.BackendAuto,
}

func loopsOrDefault(n int) int {
	if n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}

// plural says "1 request", "2 requests".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// handshakeReporter prints the engine's failed TLS handshakes on stderr,
// as the goroutine servers print theirs.
type handshakeReporter struct {
	eventloop.Handler
	stderr io.Writer
}

func (h handshakeReporter) OnHandshakeError(c *eventloop.Conn, err error) {
	fmt.Fprintf(h.stderr, "sock: %s: %s\n", netAddrName(c.RemoteAddr(), -1), oneLine(err.Error()))
}

// writableReporter is handshakeReporter for a handler with OnWritable.
type writableReporter struct{ handshakeReporter }

func (h writableReporter) OnWritable(c *eventloop.Conn) eventloop.Action {
	return h.Handler.(eventloop.WritableHandler).OnWritable(c)
}

// reportHandshakeErrors wraps h so that failed handshakes are reported,
// keeping the optional interface the services use (OnWritable).
func reportHandshakeErrors(h eventloop.Handler, stderr io.Writer) eventloop.Handler {
	r := handshakeReporter{h, stderr}
	if _, ok := h.(eventloop.WritableHandler); ok {
		return writableReporter{r}
	}
	return r
}
