package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/socketkit/socketkit/socket"
)

// listenSpec is what a listening command asks socket.Listen for.
type listenSpec struct {
	network, addr string
	opts          socket.ListenOptions
}

// listenAddr works out what to listen on from -s, -p, -4, -6, -u, -U and
// the arguments ([ADDR] PORT, or a path with -U). Without an address it
// listens on every address, IPv4 and IPv6 on one socket where the kernel
// has IPv6.
func listenAddr(o *netOpts, args []string) (listenSpec, error) {
	if o.unix {
		if len(args) != 1 {
			return listenSpec{}, usagef("with -U, give the path (or @name) to listen on")
		}
		network := map[socket.Type]string{socket.SOCK_STREAM: "unix", socket.SOCK_DGRAM: "unixgram", socket.SOCK_SEQPACKET: "unixpacket"}[o.sockType()]
		return listenSpec{network: network, addr: args[0]}, nil
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
		return listenSpec{}, usagef("give [ADDR] PORT")
	}
	if port == "" {
		return listenSpec{}, usagef("give the port to listen on (PORT or -p PORT)")
	}
	if _, err := socket.ParsePort(o.proto(), port); err != nil {
		return listenSpec{}, usageError{err}
	}
	if o.noDNS && host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return listenSpec{}, usagef("-n: %q is not a numeric address", host)
		}
	}
	ls := listenSpec{network: o.proto(), addr: net.JoinHostPort(host, port)}
	switch {
	case o.v4:
		ls.network += "4"
	case o.v6:
		ls.network += "6" // IPv6 only
	case host == "" && socket.HasDualStackIPv6(), strings.Contains(host, ":"):
		ls.opts.DualStack = true // IPv4 clients too, as IPv4-mapped addresses
	}
	return ls, nil
}

// listen opens the socket: listening, or for datagrams bound.
func (ls listenSpec) listen() (*socket.Socket, error) {
	s, err := socket.Listen(ls.network, ls.addr, &ls.opts)
	return s, listenErr(err)
}

// path is the file of a Unix socket, which the command removes when it
// stops; "" for the rest.
func (ls listenSpec) path() string {
	if strings.HasPrefix(ls.network, "unix") && ls.addr != "" && ls.addr[0] != '@' {
		return ls.addr
	}
	return ""
}

// listenErr makes a bad address (socket.AddrError) a usage error; a busy
// port or a missing privilege stays an error.
func listenErr(err error) error {
	var ae *socket.AddrError
	if errors.As(err, &ae) {
		return usageError{err}
	}
	return err
}

// runListen is "sock listen" and "sock -l".
func runListen(e *env, o *netOpts, args []string) error {
	if err := o.check(true); err != nil {
		return err
	}
	if o.ws.listen {
		return runWSListen(e, o, args)
	}
	if err := o.ws.notWS(); err != nil {
		return err
	}
	// Under systemd socket activation the socket is given, not bound.
	ln, err := activatedListener(e, o.sockType(), strings.Join(args, ":"))
	if err != nil {
		return err
	}
	var ls listenSpec
	if ln == nil {
		if ls, err = listenAddr(o, args); err != nil {
			return err
		}
	} else {
		defer ln.Close()
	}
	var tlsCfg *tls.Config
	if o.tls {
		cfg, fp, err := serverTLSConfig(o.tlsCert, o.tlsKey)
		if err != nil {
			return err
		}
		listenTLS(cfg, o.tlsSNI, o.tlsALPN)
		tlsCfg = cfg
		// Always: a client has nothing else to pin (--tls-fingerprint).
		fmt.Fprintf(e.stderr, "sock: TLS certificate %s\n", fp)
	}
	if ln == nil {
		if ln, err = ls.listen(); err != nil {
			return err
		}
		defer ln.Close()
		if p := ls.path(); p != "" {
			defer os.Remove(p)
		}
	}
	bound, _ := ln.Getsockname()
	o.logf(e, 1, "listening on %v (%s)", bound, socketProto(ln))
	if o.sockType() != socket.SOCK_DGRAM && (o.keep || o.broker || o.chat) {
		return serveClients(e, o, ln, tlsCfg)
	}
	stop := context.AfterFunc(e.ctx, func() { ln.Close() })
	defer stop()
	if o.sockType() == socket.SOCK_DGRAM {
		return listenDatagram(e, o, ln)
	}
	// One client: stop listening once it is there, as nc does.
	c, peer, err := ln.Accept()
	if err != nil {
		if e.ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer c.Close()
	ln.Close()
	o.logf(e, 1, "connection from %v", displayAddr(peer))
	var nc net.Conn = c
	if tlsCfg != nil {
		tc := tls.Server(c, tlsCfg)
		hctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		defer cancel()
		if err := tc.HandshakeContext(hctx); err != nil {
			return fmt.Errorf("TLS handshake with %v: %w", displayAddr(peer), err)
		}
		o.logf(e, 1, "%s", tlsSummary(tc.ConnectionState(), "client certificate"))
		nc = tc
	}
	if o.exec != "" || o.shExec != "" {
		return execOnConn(e, o, c, nc, tlsCfg != nil)
	}
	return pump(e, o, c, nc, nil)
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
