package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/socketkit/socketkit/proxyproto"
	"github.com/socketkit/socketkit/socket"
)

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
	if o.proxy != "" && !o.unix {
		s, route, err := dialViaProxy(ctx, o, target)
		o.proxyRoute = route
		return s, err
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
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		host = "localhost"
	}
	cfg, err := clientTLSConfig(o, host)
	if err != nil {
		return nil, err
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

// clientTLSConfig is the TLS client configuration the flags ask for, to
// verify host (--tls-sni overrides it).
func clientTLSConfig(o *netOpts, host string) (*tls.Config, error) {
	cfg := &tls.Config{InsecureSkipVerify: o.tlsInsecure || o.tlsFingerprint != ""}
	cfg.ServerName = host
	if o.tlsSNI != "" {
		cfg.ServerName = o.tlsSNI
	}
	cfg.NextProtos = alpnList(o.tlsALPN)
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
	return cfg, nil
}

// runConnect is "sock connect" and "sock HOST PORT".
func runConnect(e *env, o *netOpts, args []string) error {
	if err := o.check(false); err != nil {
		return err
	}
	if isWSURL(args) {
		return runWSConnect(e, o, args[0])
	}
	if err := o.ws.notWS(); err != nil {
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
	if o.proxyRoute != "" {
		o.logf(e, 1, "connected to %s %s", target, o.proxyRoute)
	} else {
		o.logf(e, 1, "connected to %v (%s)", peer, o.proto())
	}
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
		// Always: what was verified, or what to pin (--tls-fingerprint).
		fmt.Fprintf(e.stderr, "sock: %s\n", tlsSummary(tc.ConnectionState(), "server certificate"))
		c = tc
	}
	if o.exec != "" || o.shExec != "" {
		return execOnConn(e, o, s, c, o.tls)
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
