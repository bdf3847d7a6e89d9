package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/socketkit/socketkit/socket"
)

func newRelay(e *env) *cobra.Command {
	var idle durationFlag
	var verbose int
	var proxyURL string
	wait := durationFlag{d: 30 * time.Second}
	var ws relayWS
	var wsPing durationFlag
	cmd := &cobra.Command{
		Use:   "relay ADDRESS ADDRESS",
		Short: "Copy between two addresses both ways, as socat does",
		Long: `relay opens two addresses and copies data between them in both directions
until both sides are done, passing each side's end of stream to the other
(half-close). Between two stream sockets it copies with splice(2), without
the data passing through the program.

Addresses, in socat's style (the type is case-insensitive):
  tcp:HOST:PORT        connect (tcp4:, tcp6: for one family)
  tcp-listen:PORT      listen on every address and take one connection
  tcp-listen:HOST:PORT listen on HOST
  udp:HOST:PORT        a UDP socket connected to HOST:PORT
  udp-listen:PORT      wait for a datagram, then talk to its sender only
                       (locked to that first peer); with fork, serve
                       every sender, each with its own second address
  unix:PATH            connect to a Unix stream socket (PATH or @name)
  unix-listen:PATH     listen on a Unix stream socket
  stdio (or -)         standard input and output
  exec:COMMAND         run COMMAND, its stdin and stdout as the address
  ws:URL               a WebSocket client of URL (ws://... or wss://...;
                       the URL alone works too)
  ws-listen:PORT[/PATH] a WebSocket server on PORT (HOST:PORT), on PATH
                       (default /); wss-listen: with TLS and a self-signed
                       certificate whose fingerprint goes to stderr

Options follow a comma: fork (on a -listen address: serve every connection,
each with its own second address, as socat's fork does). With
udp-listen:PORT,fork each sender (address and port) gets its own second
address, closed after -T of silence from both sides (60s by default); its
next datagram opens a new one.

A WebSocket carries the bytes as binary messages (it reads text ones too).
When both ends are sock relays they agree (subprotocol socketkit-eof) to
pass an end of data on as an empty message, so a half-close crosses the
WebSocket as it crosses TCP; with other peers the end of data closes the
WebSocket (1000). --ws-max-message bounds a message, --ws-ping pings, and
--tls-ca or --tls-insecure say how to check a wss: server.

--proxy URL connects the tcp: and ws: addresses through a proxy (socks5://,
socks4a://, socks4://, http:// or env, as sock connect --proxy); -w bounds
each connecting, through a proxy or not.`,
		Example: `  sock relay tcp-listen:8080,fork tcp:127.0.0.1:80      # a TCP forwarder
  sock relay unix-listen:/tmp/db.sock tcp:127.0.0.1:5432  # expose a TCP service on a Unix socket
  sock relay - tcp:127.0.0.1:6254                        # like sock connect
  sock relay udp-listen:5353,fork udp:127.0.0.1:53       # a UDP forwarder for every client
  sock relay udp-listen:5353 udp:127.0.0.1:53            # ... for the first client only
  sock relay tcp-listen:7000,fork exec:'/bin/cat'        # a program per connection
  sock relay --proxy socks5://127.0.0.1:1080 tcp-listen:8080,fork tcp:db.internal:5432
  sock relay tcp-listen:2222,fork ws:wss://gw.example.test/ssh # TCP -> WebSocket
  sock relay ws-listen:8080/ssh,fork tcp:127.0.0.1:22           # WebSocket -> TCP`,
		Args: rangeArgs(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := parseRelaySpec(args[0])
			if err != nil {
				return err
			}
			b, err := parseRelaySpec(args[1])
			if err != nil {
				return err
			}
			if b.listen && b.fork {
				return usagef("fork belongs on the first address")
			}
			if err := relayProxy(proxyURL, &a, &b); err != nil {
				return err
			}
			if wait.d <= 0 {
				return usagef("-w must be more than 0")
			}
			a.wait, b.wait = wait.d, wait.d
			if ws.maxMsg < 1 {
				return usagef("--ws-max-message must be at least 1")
			}
			ws.ping = wsPing.d
			a.ws, b.ws = ws, ws
			return runRelay(e, a, b, idle.d, verbose)
		},
	}
	cmd.Flags().VarP(&idle, "timeout", "T", "end the relay after this long without data (5, 500ms); with udp-listen:...,fork, per sender (default 60s)")
	cmd.Flags().CountVarP(&verbose, "verbose", "v", "say what happens on stderr")
	cmd.Flags().VarP(&wait, "wait", "w", "connect timeout of the connecting addresses (5, 500ms)")
	cmd.Flags().Int64Var(&ws.maxMsg, "ws-max-message", defaultWSMaxMessage, "the largest WebSocket message to accept, in bytes (larger: closed with 1009)")
	cmd.Flags().Var(&wsPing, "ws-ping", "ping WebSocket peers this often; no pong within that time ends the relay")
	cmd.Flags().StringVar(&ws.tlsCA, "tls-ca", "", "CA certificates (PEM) to verify wss: servers with")
	cmd.Flags().BoolVar(&ws.tlsInsecure, "tls-insecure", false, "do not verify wss: servers' certificates")
	cmd.Flags().StringVar(&proxyURL, "proxy", "", "connect the tcp: and ws: addresses through this proxy (socks5://, socks4a://, socks4://, http:// URL, or env), as sock connect --proxy")
	return cmd
}

// relaySpec is a parsed address.
type relaySpec struct {
	kind         string // tcp, udp, unix, stdio, exec
	listen, fork bool
	family       socket.Family
	addr         string // host:port, path, or command
	text         string
	proxy        string        // --proxy, on a connecting tcp address
	wait         time.Duration // -w: the connect timeout
	wsPath       string        // ws-listen: the path
	wsTLS        bool          // wss-listen:
	ws           relayWS       // the WebSocket flags
}

func parseRelaySpec(s string) (relaySpec, error) {
	sp := relaySpec{text: s}
	if s == "-" || strings.EqualFold(s, "stdio") {
		sp.kind = "stdio"
		return sp, nil
	}
	typ, rest, ok := strings.Cut(s, ":")
	if !ok {
		return sp, usagef("bad address %q: want TYPE:ARGS (tcp:HOST:PORT, tcp-listen:PORT, udp:..., unix:PATH, stdio, exec:CMD)", s)
	}
	typ = strings.ToLower(typ)
	switch typ {
	case "ws", "wss", "ws-listen", "wss-listen": // URLs may hold commas: no options
		return sp, parseWSRelaySpec(&sp, typ, rest)
	}
	if typ != "exec" {
		// Options after the last comma-separated fields: fork, reuseaddr.
		fields := strings.Split(rest, ",")
		rest = fields[0]
		for _, opt := range fields[1:] {
			switch strings.ToLower(opt) {
			case "fork":
				sp.fork = true
			case "reuseaddr":
			default:
				return sp, usagef("unknown option %q in %q (want fork or reuseaddr)", opt, s)
			}
		}
	}
	switch typ {
	case "tcp", "tcp4", "tcp6", "tcp-connect", "udp", "udp4", "udp6", "udp-connect":
		sp.kind = typ[:3]
		sp.family = familyOf(typ)
		if _, _, err := net.SplitHostPort(rest); err != nil {
			return sp, usagef("bad address %q: want %s:HOST:PORT", s, typ)
		}
		sp.addr = rest
	case "tcp-listen", "tcp4-listen", "tcp6-listen", "udp-listen", "udp4-listen", "udp6-listen":
		sp.kind, sp.listen = typ[:3], true
		sp.family = familyOf(typ)
		if !strings.Contains(rest, ":") {
			rest = ":" + rest
		}
		sp.addr = rest
	case "unix", "unix-connect", "unix-client":
		sp.kind, sp.addr = "unix", rest
	case "unix-listen":
		sp.kind, sp.listen, sp.addr = "unix", true, rest
	case "exec", "system":
		if rest == "" {
			return sp, usagef("exec: needs a command")
		}
		sp.kind, sp.addr = "exec", rest
	default:
		return sp, usagef("unknown address type %q in %q", typ, s)
	}
	if sp.fork && !sp.listen {
		return sp, usagef("fork needs a -listen address, not %q", s)
	}
	if sp.kind == "tcp" || sp.kind == "udp" {
		_, port, _ := net.SplitHostPort(sp.addr)
		if _, err := socket.ParsePort(sp.kind, port); err != nil {
			return sp, usageError{err}
		}
	}
	if sp.kind == "unix" {
		if _, err := socket.ParseAddr(socket.AF_UNIX, sp.addr); err != nil {
			return sp, usageError{err}
		}
	}
	return sp, nil
}

func familyOf(typ string) socket.Family {
	switch {
	case strings.HasPrefix(typ, "tcp4"), strings.HasPrefix(typ, "udp4"):
		return socket.AF_INET
	case strings.HasPrefix(typ, "tcp6"), strings.HasPrefix(typ, "udp6"):
		return socket.AF_INET6
	}
	return socket.AF_UNSPEC
}

// endpoint is one open side of a relay.
type endpoint struct {
	r          io.Reader
	w          io.Writer
	closeWrite func()
	close      func()
	stream     bool
	stdio      bool // reads the user's stdin, which may never end
}

// socketEndpoint makes an endpoint of a socket; the socket itself is the
// reader and writer, so that io.Copy finds its splice path.
func socketEndpoint(s *socket.Socket) *endpoint {
	return &endpoint{r: s, w: s, stream: s.Type() == socket.SOCK_STREAM,
		closeWrite: func() {
			if s.Type() != socket.SOCK_DGRAM {
				s.CloseWrite()
			}
		},
		close: func() { s.Close() }}
}

// listener is an open -listen address.
type listener struct {
	s    *socket.Socket
	spec relaySpec
	path string
	ws   *wsListener // ws-listen: its HTTP server
}

func openRelayListener(e *env, sp relaySpec) (*listener, error) {
	typ := socket.SOCK_STREAM
	if sp.kind == "udp" {
		typ = socket.SOCK_DGRAM
	}
	// Under systemd socket activation the socket is given, not bound.
	s, err := activatedListener(e, typ, sp.addr)
	if err != nil {
		return nil, err
	}
	var l *listener
	if s != nil {
		l = &listener{s: s, spec: sp}
	} else {
		ls := listenSpec{network: sp.kind, addr: sp.addr}
		if sp.kind == "ws" {
			ls.network = "tcp"
		}
		if sp.kind != "unix" {
			switch sp.family {
			case socket.AF_INET:
				ls.network += "4"
			case socket.AF_INET6:
				ls.network += "6"
			default:
				host, _, _ := net.SplitHostPort(sp.addr)
				ls.opts.DualStack = (host == "" && socket.HasDualStackIPv6()) || strings.Contains(host, ":")
			}
		}
		s, err := ls.listen()
		if err != nil {
			return nil, err
		}
		l = &listener{s: s, spec: sp, path: ls.path()}
	}
	if sp.kind == "ws" {
		if err := openWSListener(e.ctx, sp, l, e.stderr); err != nil {
			l.s.Close()
			return nil, err
		}
	}
	return l, nil
}

// accept takes the next client: a connection, or for UDP the sender of the
// next datagram (the socket is then connected to it, and the datagram is
// kept for the relay).
func (l *listener) accept() (*endpoint, error) {
	if l.ws != nil {
		return l.ws.accept()
	}
	if l.spec.kind == "udp" {
		buf := make([]byte, 64<<10)
		n, from, err := l.s.Recvfrom(buf, socket.MSG_PEEK)
		if err != nil {
			return nil, err
		}
		_ = n
		if err := l.s.Connect(from); err != nil {
			return nil, err
		}
		ep := socketEndpoint(l.s)
		ep.close = func() {} // the listener owns the socket
		return ep, nil
	}
	c, _, err := l.s.Accept()
	if err != nil {
		return nil, err
	}
	return socketEndpoint(c), nil
}

func (l *listener) Close() {
	if l.ws != nil {
		l.ws.close()
	}
	l.s.Close()
	if l.path != "" {
		os.Remove(l.path)
	}
}

// openRelayEndpoint opens a connecting address.
func openRelayEndpoint(e *env, sp relaySpec) (*endpoint, error) {
	switch sp.kind {
	case "stdio":
		return &endpoint{r: e.stdin, w: e.stdout, closeWrite: func() {}, close: func() {}, stream: true, stdio: true}, nil
	case "exec":
		cmd := exec.Command("/bin/sh", "-c", sp.addr)
		cmd.Stderr = e.stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("exec: %w", err)
		}
		return &endpoint{r: out, w: in, stream: true,
			closeWrite: func() { in.Close() },
			close: func() {
				in.Close()
				done := make(chan struct{})
				go func() { cmd.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(2 * time.Second):
					cmd.Process.Kill()
					<-done
				}
			}}, nil
	case "unix":
		sa, err := socket.ParseAddr(socket.AF_UNIX, sp.addr)
		if err != nil {
			return nil, usageError{err}
		}
		s, err := socket.New(socket.AF_UNIX, socket.SOCK_STREAM, 0)
		if err != nil {
			return nil, err
		}
		if err := s.ConnectContext(e.ctx, sa); err != nil {
			s.Close()
			return nil, err
		}
		return socketEndpoint(s), nil
	}
	if sp.kind == "ws" {
		return dialRelayWS(e, sp)
	}
	if sp.proxy != "" {
		s, err := dialRelayProxy(e.ctx, sp)
		if err != nil {
			return nil, err
		}
		return socketEndpoint(s), nil
	}
	typ := socket.SOCK_STREAM
	if sp.kind == "udp" {
		typ = socket.SOCK_DGRAM
	}
	// The timeout bounds the connecting only: DialOptions.Timeout would
	// also become the socket's timeout, and end a quiet relay.
	wait := sp.wait
	if wait <= 0 {
		wait = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(e.ctx, wait)
	defer cancel()
	s, err := socket.CreateConnection(ctx, sp.addr, &socket.DialOptions{Type: typ, Family: sp.family})
	if err != nil {
		return nil, err
	}
	return socketEndpoint(s), nil
}

func runRelay(e *env, a, b relaySpec, idle time.Duration, verbose int) error {
	logf := func(format string, args ...any) {
		if verbose > 0 {
			fmt.Fprintf(e.stderr, "sock: "+format+"\n", args...)
		}
	}
	if !a.listen {
		ea, err := openRelayEndpoint(e, a)
		if err != nil {
			return err
		}
		defer ea.close()
		return quietIdle(relayWithB(e, ea, b, idle, logf))
	}
	l, err := openRelayListener(e, a)
	if err != nil {
		return err
	}
	defer l.Close()
	stop := context.AfterFunc(e.ctx, l.Close)
	defer stop()
	bound, _ := l.s.Getsockname()
	logf("listening on %v", bound)
	if a.kind == "udp" && a.fork {
		return serveUDPFork(e, l, b, idle, logf)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		ea, err := l.accept()
		if err != nil {
			if e.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		logf("accepted a client on %s", a.text)
		if !a.fork {
			defer ea.close()
			if a.kind != "udp" {
				l.Close() // one client, as socat without fork
			}
			return quietIdle(relayWithB(e, ea, b, idle, logf))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer ea.close()
			if err := quietIdle(relayWithB(e, ea, b, idle, logf)); err != nil {
				fmt.Fprintln(e.stderr, "sock:", oneLine(err.Error()))
			}
		}()
	}
}

// relayWithB opens the second address (accepting on it if it listens) and
// relays.
func relayWithB(e *env, ea *endpoint, b relaySpec, idle time.Duration, logf func(string, ...any)) error {
	var eb *endpoint
	var err error
	if b.listen {
		l, lerr := openRelayListener(e, b)
		if lerr != nil {
			return lerr
		}
		defer l.Close()
		eb, err = l.accept()
	} else {
		eb, err = openRelayEndpoint(e, b)
	}
	if err != nil {
		return err
	}
	defer eb.close()
	logf("relaying %s", b.text)
	return copyBoth(e.ctx, ea, eb, idle)
}

// errIdle is copyBoth's answer when nothing moved for its idle time.
var errIdle = errors.New("idle")

// quietIdle drops errIdle: a relay that ends for want of data succeeded.
func quietIdle(err error) error {
	if errors.Is(err, errIdle) {
		return nil
	}
	return err
}

// copyBoth copies a to b and b to a, passing on half-closes, until both
// directions end, one fails, ctx ends or nothing moves for idle (errIdle).
func copyBoth(ctx context.Context, a, b *endpoint, idle time.Duration) error {
	var last time.Time
	var mu sync.Mutex
	touch := func() { mu.Lock(); last = time.Now(); mu.Unlock() }
	touch()
	type end struct {
		src *endpoint
		err error
	}
	errs := make(chan end, 2)
	one := func(dst, src *endpoint) {
		var err error
		if idle > 0 {
			_, err = copyChunks(dst.w, src.r, !src.stream, func(p []byte) []byte { touch(); return p })
		} else {
			_, err = io.Copy(dst.w, src.r) // splice between stream sockets
		}
		dst.closeWrite()
		errs <- end{src, err}
	}
	go one(b, a)
	go one(a, b)
	var tick <-chan time.Time
	if idle > 0 {
		t := time.NewTicker(idle / 4)
		defer t.Stop()
		tick = t.C
	}
	var first error
	for done := 0; done < 2; {
		select {
		case en := <-errs:
			done++
			err := en.err
			if err != nil && !peerLeft(err) && first == nil {
				first = err
				a.close()
				b.close()
			}
			// The network side ended while the other direction reads the
			// user's stdin: stop, as nc does, instead of waiting for stdin.
			if done == 1 && !en.src.stdio && (a.stdio || b.stdio) {
				return first
			}
		case <-tick:
			mu.Lock()
			quiet := time.Since(last)
			mu.Unlock()
			if quiet > idle {
				a.close()
				b.close()
				tick = nil
				if first == nil {
					first = errIdle
				}
			}
		case <-ctx.Done():
			a.close()
			b.close()
			ctx = context.Background()
		}
	}
	return first
}
