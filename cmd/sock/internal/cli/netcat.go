package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socketkit/socketkit/proxyproto"
	"github.com/socketkit/socketkit/socket"
)

// check rejects contradictory flags.
func (o *netOpts) check(listen bool) error {
	switch {
	case o.v4 && o.v6:
		return usagef("-4 and -6 exclude each other")
	case o.sendOnly && o.recvOnly:
		return usagef("--send-only and --recv-only exclude each other")
	case o.exec != "" && o.shExec != "":
		return usagef("-e and -c exclude each other")
	case (o.broker || o.chat) && !listen:
		return usagef("--broker and --chat need -l")
	case (o.broker || o.chat) && (o.exec != "" || o.shExec != ""):
		return usagef("--broker and --chat exclude -e and -c")
	case o.tls && o.udp:
		return usagef("--tls needs a stream socket, not UDP")
	case o.port < 0 || o.port > 65535:
		return usagef("port %d out of range 0-65535", o.port)
	case o.zero && listen:
		return usagef("-z checks ports: it does not listen")
	case o.maxConns < 1:
		return usagef("--max-conns must be at least 1")
	case (o.sendProxy || o.sendProxyV2) && listen:
		return usagef("--send-proxy and --send-proxy-v2 are for connecting, not -l")
	case o.sendProxy && o.sendProxyV2:
		return usagef("--send-proxy and --send-proxy-v2 exclude each other")
	case (o.sendProxy || o.sendProxyV2) && (o.udp || o.seqpacket):
		return usagef("--send-proxy needs a stream socket (TCP or a Unix stream), not UDP or --seqpacket")
	}
	if o.seqpacket {
		o.unix = true
		if o.udp {
			return usagef("--seqpacket and -u exclude each other")
		}
	}
	return nil
}

func (o *netOpts) sockType() socket.Type {
	switch {
	case o.seqpacket:
		return socket.SOCK_SEQPACKET
	case o.udp:
		return socket.SOCK_DGRAM
	}
	return socket.SOCK_STREAM
}

func (o *netOpts) proto() string {
	switch {
	case o.seqpacket:
		return "seqpacket"
	case o.unix && o.udp:
		return "unixgram"
	case o.unix:
		return "unix"
	case o.udp:
		return "udp"
	}
	return "tcp"
}

func (o *netOpts) logf(e *env, level int, format string, args ...any) {
	if o.verbose >= level {
		fmt.Fprintf(e.stderr, "sock: "+format+"\n", args...)
	}
}

// connectTarget turns connect's arguments into an address string.
func connectTarget(o *netOpts, args []string) (string, error) {
	if len(args) == 1 && looksLikePath(args[0]) {
		o.unix = true // a path or @name: a Unix socket, -U or not
	}
	if o.unix {
		if len(args) != 1 {
			return "", usagef("with -U, give one path (or @name)")
		}
		if args[0] == "" {
			return "", usagef("empty Unix socket path")
		}
		return args[0], nil
	}
	var host, port string
	switch len(args) {
	case 1:
		h, p, err := net.SplitHostPort(args[0])
		if err != nil {
			return "", usagef("bad address %q: want HOST PORT or host:port", args[0])
		}
		host, port = h, p
	case 2:
		host, port = args[0], args[1]
	default:
		return "", usagef("give HOST PORT")
	}
	if p, err := socket.ParsePort(o.proto(), port); err != nil {
		return "", usageError{err}
	} else if p == 0 {
		return "", usagef("port 0: a peer listens on a port from 1 to 65535")
	}
	if o.noDNS && host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return "", usagef("-n: %q is not a numeric address", host)
		}
	}
	return net.JoinHostPort(host, port), nil
}

// dialTarget connects to target with the transport o asks for.
func dialTarget(ctx context.Context, o *netOpts, target string) (*socket.Socket, error) {
	if o.wait.d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.wait.d)
		defer cancel()
	}
	if o.unix {
		sa, err := socket.ParseAddr(socket.AF_UNIX, target)
		if err != nil {
			return nil, usageError{err}
		}
		s, err := socket.New(socket.AF_UNIX, o.sockType(), 0)
		if err != nil {
			return nil, err
		}
		if o.sockType() == socket.SOCK_DGRAM {
			// Autobind an abstract name so that the server can answer.
			if err := s.Bind(&socket.UnixAddr{}); err != nil {
				s.Close()
				return nil, err
			}
		}
		if err := s.ConnectContext(ctx, sa); err != nil {
			s.Close()
			return nil, err
		}
		return s, nil
	}
	opts := &socket.DialOptions{Type: o.sockType()}
	switch {
	case o.v4:
		opts.Family = socket.AF_INET
	case o.v6:
		opts.Family = socket.AF_INET6
	}
	if o.source != "" || o.port != 0 {
		opts.Source = net.JoinHostPort(o.source, strconv.Itoa(o.port))
	}
	return socket.CreateConnection(ctx, target, opts)
}

// clientTLS wraps s in a TLS client as the flags say.
func clientTLS(ctx context.Context, o *netOpts, s *socket.Socket, target string) (*tls.Conn, error) {
	cfg := &tls.Config{InsecureSkipVerify: o.tlsInsecure || o.tlsFingerprint != ""}
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		host = "localhost"
	}
	cfg.ServerName = host
	if o.tlsSNI != "" {
		cfg.ServerName = o.tlsSNI
	}
	if o.tlsCA != "" {
		pem, err := os.ReadFile(o.tlsCA)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificates in %s", o.tlsCA)
		}
		cfg.RootCAs = pool
	}
	if o.tlsCert != "" || o.tlsKey != "" {
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if o.tlsFingerprint != "" {
		want := strings.ToLower(o.tlsFingerprint)
		cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || strings.ToLower(fingerprint(raw[0])) != want {
				return errors.New("server certificate does not match --tls-fingerprint")
			}
			return nil
		}
	}
	tc := tls.Client(s, cfg)
	hctx := ctx
	if o.wait.d > 0 {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(ctx, o.wait.d)
		defer cancel()
	}
	if err := tc.HandshakeContext(hctx); err != nil {
		return nil, fmt.Errorf("TLS handshake with %s: %w", target, err)
	}
	return tc, nil
}

// runConnect is "sock connect" and "sock HOST PORT".
func runConnect(e *env, o *netOpts, args []string) error {
	if err := o.check(false); err != nil {
		return err
	}
	target, err := connectTarget(o, args)
	if err != nil {
		return err
	}
	if o.zero {
		return zeroCheck(e, o, target)
	}
	s, err := dialTarget(e.ctx, o, target)
	if err != nil {
		return err
	}
	defer s.Close()
	peer, _ := s.Getpeername()
	o.logf(e, 1, "connected to %v (%s)", peer, o.proto())
	if o.sendProxy || o.sendProxyV2 {
		if err := sendProxyHeader(e, o, s); err != nil {
			return err
		}
	}
	var c net.Conn = s
	if o.tls {
		tc, err := clientTLS(e.ctx, o, s, target)
		if err != nil {
			return err
		}
		st := tc.ConnectionState()
		o.logf(e, 1, "TLS %s, server certificate %s", tls.VersionName(st.Version), fingerprint(st.PeerCertificates[0].Raw))
		c = tc
	}
	if o.exec != "" || o.shExec != "" {
		return execOnConn(e, o, s, c)
	}
	return pump(e, o, s, c, nil)
}

// zeroCheck is -z: connect and close, like nc -z.
func zeroCheck(e *env, o *netOpts, target string) error {
	s, err := dialTarget(e.ctx, o, target)
	if err != nil {
		return err
	}
	s.Close()
	host, port, _ := net.SplitHostPort(target)
	svc := ""
	if p, err := strconv.Atoi(port); err == nil {
		if name, err := socket.GetServByPort(p, o.proto()); err == nil {
			svc = "/" + name
		}
	}
	fmt.Fprintf(e.stderr, "Connection to %s %s port [%s%s] succeeded!\n", host, port, o.proto(), svc)
	return nil
}

// pump copies stdin to the connection and the connection to stdout, with
// the flags' transformations, until the peer closes (or -q, --send-only
// or the idle timeout ends it). out, when set, replaces stdout (listen -k
// shares stdout among clients).
func pump(e *env, o *netOpts, s *socket.Socket, c net.Conn, out io.Writer) error {
	if out == nil {
		out = e.stdout
	}
	start := time.Now()
	var sent, recvd atomic.Int64
	var last atomic.Int64
	touch := func() { last.Store(time.Now().UnixNano()) }
	touch()
	dgram := s.Type() != socket.SOCK_STREAM

	// The raw socket keeps the zero-copy paths (sendfile from a file on
	// stdin, splice into a pipe on stdout) when nothing transforms the data.
	plain := !o.crlf && !o.hexdump && o.idle.d == 0 && !dgram
	var src io.Reader = e.stdin
	var dst io.Writer = out
	var conn io.ReadWriter = c
	var dumpIn, dumpOut io.WriteCloser
	if o.hexdump {
		dumpOut, dumpIn = hexDumper(e.stderr, "> "), hexDumper(e.stderr, "< ")
		defer dumpOut.Close()
		defer dumpIn.Close()
	}
	done := make(chan error, 2)

	// receive: connection -> stdout
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		var err error
		var n int64
		switch {
		case o.sendOnly:
			n, err = io.Copy(io.Discard, onlyReader{conn})
		case plain:
			n, err = io.Copy(dst, conn)
		default:
			n, err = copyChunks(dst, conn, dgram, func(b []byte) []byte {
				touch()
				if dumpIn != nil {
					dumpIn.Write(b)
				}
				return b
			})
		}
		recvd.Add(n)
		done <- err
	}()

	// send: stdin -> connection
	sendDone := make(chan struct{})
	if o.recvOnly {
		close(sendDone)
	} else {
		go func() {
			defer close(sendDone)
			var n int64
			var err error
			if plain {
				n, err = io.Copy(conn, src)
			} else {
				var crlfPrev byte
				n, err = copyChunks(conn, src, dgram, func(b []byte) []byte {
					touch()
					if o.crlf {
						b, crlfPrev = toCRLF(b, crlfPrev)
					}
					if dumpOut != nil {
						dumpOut.Write(b)
					}
					return b
				})
			}
			sent.Add(n)
			if err != nil && !peerLeft(err) {
				done <- err
				return
			}
			if !o.noShutdown && !dgram {
				if cw, ok := c.(interface{ CloseWrite() error }); ok && c != net.Conn(s) {
					cw.CloseWrite() // TLS close_notify
				}
				s.CloseWrite()
			}
		}()
	}

	var idleC <-chan time.Time
	if o.idle.d > 0 {
		t := time.NewTicker(o.idle.d / 4)
		defer t.Stop()
		idleC = t.C
	}
	var quitC <-chan time.Time
	var result error
	sendDoneC := (<-chan struct{})(sendDone)
	if o.recvOnly {
		sendDoneC = nil
	}
loop:
	for {
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, io.EOF) && !peerLeft(err) {
				result = err
			}
			break loop
		case <-recvDone:
			break loop
		case <-sendDoneC:
			sendDoneC = nil
			if o.sendOnly {
				break loop
			}
			if o.quitSet {
				quitC = time.After(o.quit.d)
			}
		case <-quitC:
			break loop
		case <-idleC:
			if time.Since(time.Unix(0, last.Load())) > o.idle.d {
				result = fmt.Errorf("idle for %v: closing", o.idle.d)
				break loop
			}
		case <-e.ctx.Done():
			break loop
		}
	}
	s.Close() // ends the other direction
	<-recvDone
	o.logf(e, 2, "%d bytes sent, %d bytes received in %v", sent.Load(), recvd.Load(), time.Since(start).Round(time.Millisecond))
	return result
}

type onlyReader struct{ io.Reader }

// copyChunks copies src to dst through a buffer, passing each chunk through
// f. On a datagram socket each read is one datagram and each write sends one.
func copyChunks(dst io.Writer, src io.Reader, dgram bool, f func([]byte) []byte) (int64, error) {
	buf := make([]byte, 64<<10)
	var total int64
	for {
		n, err := src.Read(buf)
		if n > 0 || (dgram && err == nil) {
			b := f(buf[:n])
			if _, werr := dst.Write(b); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// toCRLF turns bare LF into CRLF; prev is the last byte of the previous
// chunk, so a CRLF split across chunks is left alone.
func toCRLF(b []byte, prev byte) ([]byte, byte) {
	if len(b) == 0 || bytes.IndexByte(b, '\n') < 0 {
		if len(b) > 0 {
			prev = b[len(b)-1]
		}
		return b, prev
	}
	out := make([]byte, 0, len(b)+8)
	for _, c := range b {
		if c == '\n' && prev != '\r' {
			out = append(out, '\r')
		}
		out = append(out, c)
		prev = c
	}
	return out, prev
}

// hexDumper writes hexdump -C lines to w, each prefixed.
func hexDumper(w io.Writer, prefix string) io.WriteCloser {
	return hex.Dumper(&prefixWriter{w: w, prefix: prefix, bol: true})
}

type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	bol    bool
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []byte
	for _, c := range b {
		if p.bol {
			out = append(out, p.prefix...)
		}
		out = append(out, c)
		p.bol = c == '\n'
	}
	if _, err := p.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

// execOnConn runs -e / -c with its stdin and stdout on the connection.
func execOnConn(e *env, o *netOpts, s *socket.Socket, c net.Conn) error {
	var cmd *exec.Cmd
	if o.exec != "" {
		f := strings.Fields(o.exec)
		cmd = exec.Command(f[0], f[1:]...)
	} else {
		cmd = exec.Command("/bin/sh", "-c", o.shExec)
	}
	cmd.Stderr = e.stderr
	if c == net.Conn(s) {
		// Hand the program the socket itself. The descriptor must be in
		// blocking mode for it, which also changes ours: we only close it.
		rc, err := s.SyscallConn()
		if err != nil {
			return err
		}
		rc.Control(func(fd uintptr) { unix.SetNonblock(int(fd), false) })
		f, err := s.File()
		if err != nil {
			return err
		}
		cmd.Stdin, cmd.Stdout = f, f
		err = cmd.Start()
		f.Close()
		s.Close()
		if err != nil {
			return fmt.Errorf("-e: %w", err)
		}
		return quietExit(cmd.Wait())
	}
	// TLS: the program talks to pipes, and we copy between them and TLS.
	cmd.Stdin = c
	cmd.Stdout = c
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("-e: %w", err)
	}
	return nil
}

// quietExit keeps a program's non-zero exit from being an error of ours.
func quietExit(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return nil
	}
	return err
}

// listenAddr works out the address to listen on from -s, -p and the
// arguments ([ADDR] PORT, or a path with -U).
func listenAddr(o *netOpts, args []string) (socket.Sockaddr, error) {
	if o.unix {
		if len(args) != 1 {
			return nil, usagef("with -U, give the path (or @name) to listen on")
		}
		sa, err := socket.ParseAddr(socket.AF_UNIX, args[0])
		if err != nil {
			return nil, usageError{err}
		}
		return sa, nil
	}
	host, port := o.source, ""
	if o.port != 0 {
		port = strconv.Itoa(o.port)
	}
	switch len(args) {
	case 0:
	case 1:
		if h, p, err := net.SplitHostPort(args[0]); err == nil {
			host, port = h, p
		} else {
			port = args[0]
		}
	case 2:
		host, port = args[0], args[1]
	default:
		return nil, usagef("give [ADDR] PORT")
	}
	if port == "" {
		return nil, usagef("give the port to listen on (PORT or -p PORT)")
	}
	if _, err := socket.ParsePort(o.proto(), port); err != nil {
		return nil, usageError{err}
	}
	fam := socket.AF_INET
	switch {
	case o.v6:
		fam = socket.AF_INET6
	case o.v4:
	case host == "" && socket.HasDualStackIPv6():
		fam = socket.AF_INET6 // both IPv4 and IPv6
	case strings.Contains(host, ":"):
		fam = socket.AF_INET6
	}
	if host == "" && fam == socket.AF_INET6 {
		host = "::"
	}
	sa, err := socket.ParseAddr(fam, net.JoinHostPort(host, port))
	if err != nil {
		return nil, usageError{err}
	}
	return sa, nil
}

// openListener binds and listens (or just binds, for datagrams).
func openListener(o *netOpts, sa socket.Sockaddr) (*socket.Socket, error) {
	s, err := socket.New(sa.Family(), o.sockType(), 0)
	if err != nil {
		return nil, err
	}
	if sa.Family() != socket.AF_UNIX {
		s.SetReuseAddr(true)
	}
	if sa.Family() == socket.AF_INET6 {
		s.SetV6Only(o.v6)
	}
	if err := s.Bind(sa); err != nil {
		s.Close()
		return nil, err
	}
	if o.sockType() != socket.SOCK_DGRAM {
		if err := s.Listen(socket.SOMAXCONN); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// runListen is "sock listen" and "sock -l".
func runListen(e *env, o *netOpts, args []string) error {
	if err := o.check(true); err != nil {
		return err
	}
	sa, err := listenAddr(o, args)
	if err != nil {
		return err
	}
	ln, err := openListener(o, sa)
	if err != nil {
		return err
	}
	defer ln.Close()
	if ua, ok := sa.(*socket.UnixAddr); ok && ua.Path != "" && ua.Path[0] != '@' {
		defer os.Remove(ua.Path)
	}
	stop := context.AfterFunc(e.ctx, func() { ln.Close() })
	defer stop()
	bound, _ := ln.Getsockname()
	var tlsCfg *tls.Config
	if o.tls {
		cfg, fp, err := serverTLSConfig(o.tlsCert, o.tlsKey)
		if err != nil {
			return err
		}
		tlsCfg = cfg
		o.logf(e, 1, "TLS certificate %s", fp)
	}
	o.logf(e, 1, "listening on %v (%s)", bound, o.proto())
	if o.sockType() == socket.SOCK_DGRAM {
		return listenDatagram(e, o, ln)
	}
	if o.broker || o.chat {
		return runBroker(e, o, ln, tlsCfg)
	}
	accept := func() (*socket.Socket, net.Conn, error) {
		c, peer, err := ln.Accept()
		if err != nil {
			if e.ctx.Err() != nil {
				return nil, nil, e.ctx.Err()
			}
			return nil, nil, err
		}
		o.logf(e, 1, "connection from %v", displayAddr(peer))
		var nc net.Conn = c
		if tlsCfg != nil {
			tc := tls.Server(c, tlsCfg)
			hctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
			defer cancel()
			if err := tc.HandshakeContext(hctx); err != nil {
				c.Close()
				return nil, nil, fmt.Errorf("TLS handshake with %v: %w", displayAddr(peer), err)
			}
			nc = tc
		}
		return c, nc, nil
	}
	if !o.keep {
		c, nc, err := accept()
		if err != nil {
			return err
		}
		ln.Close() // one client: stop listening, as nc does
		defer c.Close()
		if o.exec != "" || o.shExec != "" {
			return execOnConn(e, o, c, nc)
		}
		return pump(e, o, c, nc, nil)
	}
	return listenKeep(e, o, ln, accept)
}

// displayAddr shows a peer address, with IPv4 clients of a dual-stack
// listener as plain IPv4.
func displayAddr(sa socket.Sockaddr) string {
	if sa == nil || sa.String() == "" {
		return "an unnamed socket"
	}
	if ap, ok := socket.AddrPortOf(sa); ok && ap.Addr().Is4In6() {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
	}
	return sa.String()
}

// listenKeep serves clients until interrupted (-k): each client's data goes
// to stdout, and stdin goes to every client, as ncat -k does; with -e or
// -c each client gets its own program.
func listenKeep(e *env, o *netOpts, ln *socket.Socket, accept func() (*socket.Socket, net.Conn, error)) error {
	var mu sync.Mutex
	clients := map[net.Conn]*socket.Socket{}
	var wg sync.WaitGroup
	out := &lockedWriter{w: e.stdout}
	slots := make(chan struct{}, o.maxConns)
	runProgram := o.exec != "" || o.shExec != ""
	if !runProgram && !o.recvOnly {
		// stdin to every client
		go func() {
			buf := make([]byte, 32<<10)
			var prev byte
			for {
				n, err := e.stdin.Read(buf)
				if n > 0 {
					b := buf[:n]
					if o.crlf {
						b, prev = toCRLF(b, prev)
					}
					mu.Lock()
					for c := range clients {
						c.SetWriteDeadline(time.Now().Add(5 * time.Second))
						c.Write(b)
					}
					mu.Unlock()
				}
				if err != nil {
					return
				}
			}
		}()
	}
	for {
		select {
		case slots <- struct{}{}:
		case <-e.ctx.Done():
			wg.Wait()
			return nil
		}
		s, nc, err := accept()
		if err != nil {
			<-slots
			if e.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				mu.Lock()
				for c, s := range clients {
					c.Close()
					s.Close()
				}
				mu.Unlock()
				wg.Wait()
				return nil
			}
			fmt.Fprintln(e.stderr, "sock:", oneLine(err.Error()))
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			defer s.Close()
			if runProgram {
				if err := execOnConn(e, o, s, nc); err != nil {
					fmt.Fprintln(e.stderr, "sock:", oneLine(err.Error()))
				}
				return
			}
			mu.Lock()
			clients[nc] = s
			mu.Unlock()
			io.Copy(out, nc)
			mu.Lock()
			delete(clients, nc)
			mu.Unlock()
			o.logf(e, 1, "client left")
		}()
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// listenDatagram serves a datagram socket: datagrams go to stdout; stdin
// goes to the client, as datagrams. Without -k it locks on to the first
// client (connects to it, as nc -u -l does); with -k it takes datagrams
// from anyone and answers the latest sender.
func listenDatagram(e *env, o *netOpts, s *socket.Socket) error {
	var mu sync.Mutex
	var peer socket.Sockaddr
	go func() {
		if o.recvOnly {
			return
		}
		buf := make([]byte, 64<<10)
		var prev byte
		for {
			n, err := e.stdin.Read(buf)
			if n > 0 {
				b := buf[:n]
				if o.crlf {
					b, prev = toCRLF(b, prev)
				}
				mu.Lock()
				p := peer
				mu.Unlock()
				if p != nil {
					s.Sendto(b, 0, p)
				}
			}
			if err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := s.Recvfrom(buf, 0)
		if err != nil {
			if e.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		mu.Lock()
		first := peer == nil
		if from != nil && from.String() != "" {
			peer = from
		}
		mu.Unlock()
		if first && from != nil {
			o.logf(e, 1, "datagram from %v", displayAddr(from))
			if !o.keep && from.String() != "" {
				s.Connect(from)
			}
		}
		if o.sendOnly {
			continue
		}
		if o.hexdump {
			d := hexDumper(e.stderr, "< ")
			d.Write(buf[:n])
			d.Close()
		}
		if _, err := e.stdout.Write(buf[:n]); err != nil {
			return err
		}
	}
}

// runBroker relays what each client sends to all the others (--broker), or
// runs a chat room with user names (--chat), as ncat does.
func runBroker(e *env, o *netOpts, ln *socket.Socket, tlsCfg *tls.Config) error {
	type client struct {
		c    net.Conn
		s    *socket.Socket
		name string
		mu   sync.Mutex
	}
	var mu sync.Mutex
	clients := map[*client]struct{}{}
	var wg sync.WaitGroup
	send := func(from *client, b []byte) {
		mu.Lock()
		var to []*client
		for c := range clients {
			if c != from {
				to = append(to, c)
			}
		}
		mu.Unlock()
		for _, c := range to {
			c.mu.Lock()
			c.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			c.c.Write(b)
			c.mu.Unlock()
		}
	}
	id := 0
	defer func() {
		mu.Lock()
		for c := range clients {
			c.c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	for {
		s, peer, err := ln.Accept()
		if err != nil {
			if e.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		id++
		cl := &client{c: s, s: s, name: fmt.Sprintf("<user%d>", id)}
		if tlsCfg != nil {
			cl.c = tls.Server(s, tlsCfg)
		}
		mu.Lock()
		if len(clients) >= o.maxConns {
			mu.Unlock()
			s.Close()
			continue
		}
		clients[cl] = struct{}{}
		mu.Unlock()
		o.logf(e, 1, "%v joined as %s", displayAddr(peer), cl.name)
		if o.chat {
			send(cl, []byte(fmt.Sprintf("<announce> %s is connected as %s.\n", displayAddr(peer), cl.name)))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.Close()
			if o.chat {
				in := bufio.NewScanner(cl.c)
				for in.Scan() {
					send(cl, []byte(cl.name+" "+in.Text()+"\n"))
				}
			} else {
				buf := make([]byte, 32<<10)
				for {
					n, err := cl.c.Read(buf)
					if n > 0 {
						send(cl, buf[:n])
					}
					if err != nil {
						break
					}
				}
			}
			mu.Lock()
			delete(clients, cl)
			mu.Unlock()
			if o.chat {
				send(cl, []byte(fmt.Sprintf("<announce> %s is disconnected.\n", cl.name)))
			}
		}()
	}
}

// sendProxyHeader writes the PROXY protocol header a proxy would send for
// this connection (source: our address; destination: the server's), before
// anything else, TLS included.
func sendProxyHeader(e *env, o *netOpts, s *socket.Socket) error {
	h := proxyproto.Header{Version: 1, Command: proxyproto.Proxy, Source: s.LocalAddr(), Destination: s.RemoteAddr()}
	if o.sendProxyV2 {
		h.Version = 2
	}
	switch s.Family() {
	case socket.AF_INET:
		h.Transport = proxyproto.TCP4
	case socket.AF_INET6:
		h.Transport = proxyproto.TCP6
	case socket.AF_UNIX:
		h.Transport = proxyproto.UnixStream // version 1 has none: UNKNOWN
		if h.Version == 1 {
			h.Transport, h.Source, h.Destination = proxyproto.Unspec, nil, nil
		}
	}
	b, err := h.Format()
	if err != nil {
		return err
	}
	if _, err := s.Sendall(b, 0); err != nil {
		return err
	}
	o.logf(e, 1, "sent a PROXY header: %v", &h)
	return nil
}
