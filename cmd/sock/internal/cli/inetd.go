package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/socketkit/socketkit/socket"
)

// serveInetd is sock serve --inetd: the service on the one connection
// systemd passes with Accept=yes (LISTEN_FDS=1, descriptor 3), or on
// standard input when it is a socket (inetd, systemd's
// StandardInput=socket). It serves that client and returns.
func serveInetd(e *env, name string, o *serveOpts) error {
	svc, ok := findService(name)
	if !ok {
		return usagef("unknown service %q", name)
	}
	c, label, err := inetdConn()
	if err != nil {
		return err
	}
	defer c.Close()
	if isListening(c) { // a listening or a datagram socket: Accept=no
		return fmt.Errorf("--inetd: %s is a %s socket that is not a connection (Accept=no): drop --inetd to serve it", label, socketProto(c))
	}
	if o.protoGiven {
		if network, err := protoNetwork(o.proto); err == nil && !protoMatches(network, c) {
			return fmt.Errorf("--inetd: %s is a %s socket, and --proto is %s", label, socketProto(c), o.proto)
		}
	}
	var nc net.Conn = c
	if o.tls || o.tlsCert != "" || o.tlsKey != "" {
		cfg, _, err := serverTLSConfig(o.tlsCert, o.tlsKey)
		if err != nil {
			return err
		}
		tc := tls.Server(c, cfg)
		hctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		err = tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			return fmt.Errorf("TLS handshake with %v: %w", c.RemoteAddr(), err)
		}
		nc = tc
	}
	if o.idle.d > 0 {
		nc = &idleConn{Conn: nc, idle: o.idle.d}
	}
	err = quietErr(svc.conn()(e.ctx, nc, c.Close))
	if tc, ok := nc.(*tls.Conn); ok {
		tc.CloseWrite()
	} else {
		c.CloseWrite()
	}
	return err
}

// inetdConn finds the connection: descriptor 3 under LISTEN_FDS=1, or
// standard input.
func inetdConn() (*socket.Socket, string, error) {
	if activationPresent() {
		socks, err := activated()
		if err != nil {
			return nil, "", err
		}
		if len(socks) != 1 {
			closeInherited(socks)
			return nil, "", fmt.Errorf("--inetd: systemd passed %d sockets; Accept=yes passes one connection", len(socks))
		}
		return socks[0].sock, socks[0].label(), nil
	}
	s, err := socket.FromFd(0, socket.AF_UNSPEC, 0, 0)
	if err != nil {
		return nil, "", fmt.Errorf("--inetd: LISTEN_FDS is not set and standard input is not a socket: start sock serve --inetd from a socket unit with Accept=yes, or from inetd (%w)", err)
	}
	return s, "standard input", nil
}

// idleConn is a net.Conn whose reads time out after idle of silence.
type idleConn struct {
	net.Conn
	idle time.Duration
}

func (c *idleConn) Read(b []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.idle))
	return c.Conn.Read(b)
}
