package socketserver

import (
	"fmt"
	"net"
	"time"

	"github.com/socketkit/socketkit/proxyproto"
	"github.com/socketkit/socketkit/socket"
)

// proxied holds the client's addresses from a PROXY header, for a
// connection's RemoteAddr and LocalAddr.
type proxied struct{ remote, local net.Addr }

// proxyState is what finishRequest needs to read a request's PROXY header.
type proxyState struct {
	raw   net.Conn  // the connection below TLS and the server's timeouts
	hard  time.Time // RequestTimeout's deadline, put back after the header
	addrs *proxied
}

// proxyPolicy asks ProxyProtocol about the peer of a new connection: false
// means the caller closes it (counted in Rejected when the policy said
// so). For Require it arranges for finishRequest to read the header.
func (s *Server) proxyPolicy(r *Request, raw net.Conn, hard time.Time, addrs *proxied) bool {
	if s.ProxyProtocol == nil {
		return true
	}
	peer := raw.RemoteAddr()
	if peer == nil {
		// The peer reset the connection before anyone looked at it (the
		// engine asks getpeername(2), which then fails): there is no one
		// to serve and no address to judge.
		return false
	}
	var p proxyproto.Policy
	if err := callSafely(func() error { p = s.ProxyProtocol(peer); return nil }); err != nil {
		s.handleError(r, err) // a panicking policy turns the connection away
		return false
	}
	switch p {
	case proxyproto.Reject:
		s.stats.rejected.Add(1)
		return false
	case proxyproto.Skip:
		return true
	}
	r.proxy = &proxyState{raw: raw, hard: hard, addrs: addrs}
	return true
}

// readProxyHeader reads the PROXY header on the handler's goroutine, so a
// slow proxy connection holds up nothing else, within ProxyHeaderTimeout.
func (s *Server) readProxyHeader(r *Request) error {
	p := r.proxy
	t := s.ProxyHeaderTimeout
	if t <= 0 {
		t = proxyproto.DefaultHeaderTimeout
	}
	d := time.Now().Add(t)
	if !p.hard.IsZero() && p.hard.Before(d) {
		d = p.hard
	}
	p.raw.SetReadDeadline(d)
	h, err := proxyproto.ReadHeader(p.raw)
	p.raw.SetReadDeadline(p.hard)
	if err != nil {
		return fmt.Errorf("socketserver: PROXY header from %v: %w", r.ClientAddr, err)
	}
	r.Proxy = h
	if h.Source != nil {
		if sa, err := socket.FromNetAddr(h.Source); err == nil {
			r.ClientAddr = sa
		}
		p.addrs.remote, p.addrs.local = h.Source, h.Destination
	}
	return nil
}
