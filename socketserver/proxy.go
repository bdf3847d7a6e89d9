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

// proxyPolicy asks ProxyProtocol about the peer of a new connection: false
// means the caller closes it (counted in Rejected when the policy said
// so). For Require it arranges for finishRequest to read the header from
// c, below TLS and the server's timeouts.
func (s *Server) proxyPolicy(r *Request, c *Conn) bool {
	if s.ProxyProtocol == nil {
		return true
	}
	peer := c.Socket.RemoteAddr()
	if peer == nil {
		// The peer reset the connection before anyone looked at it
		// (getpeername(2) fails): there is no one to serve and no address
		// to judge.
		return false
	}
	var p proxyproto.Policy
	if err := callSafely(func() error { p = s.ProxyProtocol(peer); return nil }); err != nil {
		s.handleError(r, err) // a panicking policy turns the connection away
		return false
	}
	switch p {
	case proxyproto.Reject:
		s.st.rejected.Add(1)
		return false
	case proxyproto.Skip:
		return true
	}
	r.proxyPending = true
	return true
}

// readProxyHeader reads the PROXY header on the handler's goroutine, so a
// slow proxy connection holds up nothing else, within ProxyHeaderTimeout.
func (s *Server) readProxyHeader(r *Request) error {
	c := r.tc.Socket
	end := r.tc.requestDeadline
	t := s.ProxyHeaderTimeout
	if t <= 0 {
		t = proxyproto.DefaultHeaderTimeout
	}
	d := time.Now().Add(t)
	if !end.IsZero() && end.Before(d) {
		d = end
	}
	c.SetReadDeadline(d)
	h, err := proxyproto.ReadHeader(c)
	c.SetReadDeadline(end)
	if err != nil {
		return fmt.Errorf("socketserver: PROXY header from %v: %w", r.ClientAddr, err)
	}
	r.Proxy = h
	if h.Source != nil {
		if sa, err := socket.FromNetAddr(h.Source); err == nil {
			r.ClientAddr = sa
		}
		r.tc.remote, r.tc.local = h.Source, h.Destination
	}
	return nil
}
