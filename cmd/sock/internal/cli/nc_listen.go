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
func openListener(o *netOpts, sa socket.Sockaddr, reusePort bool) (*socket.Socket, error) {
	s, err := socket.New(sa.Family(), o.sockType(), 0)
	if err != nil {
		return nil, err
	}
	if sa.Family() != socket.AF_UNIX {
		s.SetReuseAddr(true)
		if reusePort {
			if err := s.SetReusePort(true); err != nil {
				s.Close()
				return nil, err
			}
		}
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

// listenNetwork opens a listening socket (for udp, a bound one) on network
// ("tcp", "tcp4", "tcp6", "udp", "udp4", "udp6", "unix") and addr, with
// SO_REUSEPORT if asked.
func listenNetwork(network, addr string, reusePort bool) (*socket.Socket, error) {
	o := &netOpts{udp: strings.HasPrefix(network, "udp"), unix: network == "unix"}
	fam := socket.AF_INET
	switch {
	case o.unix:
		fam = socket.AF_UNIX
	case strings.HasSuffix(network, "6"):
		fam = socket.AF_INET6
		o.v6 = true
	case strings.HasSuffix(network, "4"):
	default:
		if host, _, err := net.SplitHostPort(addr); err == nil && strings.Contains(host, ":") {
			fam = socket.AF_INET6
		}
	}
	sa, err := socket.ParseAddr(fam, addr)
	if err != nil {
		return nil, err
	}
	s, err := openListener(o, sa, reusePort)
	if err != nil {
		return nil, err
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
	var tlsCfg *tls.Config
	if o.tls {
		cfg, fp, err := serverTLSConfig(o.tlsCert, o.tlsKey)
		if err != nil {
			return err
		}
		tlsCfg = cfg
		// Always: a client has nothing else to pin (--tls-fingerprint).
		fmt.Fprintf(e.stderr, "sock: TLS certificate %s\n", fp)
	}
	ln, err := openListener(o, sa, false)
	if err != nil {
		return err
	}
	defer ln.Close()
	if ua, ok := sa.(*socket.UnixAddr); ok && ua.Path != "" && ua.Path[0] != '@' {
		defer os.Remove(ua.Path)
	}
	bound, _ := ln.Getsockname()
	o.logf(e, 1, "listening on %v (%s)", bound, o.proto())
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
