package socketserver

import (
	"crypto/tls"
	"fmt"
	"log/slog"

	"github.com/socketkit/socketkit/proxyproto"
)

// Option configures a Server before a constructor binds it.
type Option func(*Server)

// WithDispatcher sets the Dispatcher.
func WithDispatcher(d Dispatcher) Option { return func(s *Server) { s.Dispatcher = d } }

// WithPrefork sets Prefork: the server serves from worker processes.
func WithPrefork(p *Prefork) Option { return func(s *Server) { s.Prefork = p } }

// WithReuseAddress sets AllowReuseAddress.
func WithReuseAddress() Option { return func(s *Server) { s.AllowReuseAddress = true } }

// WithReusePort sets AllowReusePort.
func WithReusePort() Option { return func(s *Server) { s.AllowReusePort = true } }

// WithBacklog sets Backlog.
func WithBacklog(n int) Option { return func(s *Server) { s.Backlog = n } }

// WithTLS sets TLSConfig.
func WithTLS(cfg *tls.Config) Option { return func(s *Server) { s.TLSConfig = cfg } }

// WithProxyProtocol sets ProxyProtocol.
func WithProxyProtocol(p proxyproto.PolicyFunc) Option {
	return func(s *Server) { s.ProxyProtocol = p }
}

// WithLogger sets Logger.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.Logger = l } }

// New returns a server for network and addr, bound and listening, with opts
// applied before binding. It is the constructor the others call.
func New(network, addr string, h Handler, opts ...Option) (*Server, error) {
	if err := checkHandler(h); err != nil {
		return nil, err
	}
	s := &Server{Network: network, Addr: addr, Handler: h}
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("socketserver: option %d is a nil Option", i)
		}
		o(s)
	}
	if err := s.Bind(); err != nil {
		return nil, err
	}
	if err := s.Activate(); err != nil {
		s.closeSocket()
		return nil, err
	}
	return s, nil
}

// NewTCPServer returns a TCP server bound to addr ("127.0.0.1:6254",
// "[::1]:0"...) and listening. Python: socketserver.TCPServer.
func NewTCPServer(addr string, h Handler, opts ...Option) (*Server, error) {
	return New("tcp", addr, h, opts...)
}

// NewUDPServer returns a UDP server bound to addr. Python:
// socketserver.UDPServer.
func NewUDPServer(addr string, h Handler, opts ...Option) (*Server, error) {
	return New("udp", addr, h, opts...)
}

// NewDualStackTCPServer returns a TCP server on an IPv6 address that also
// accepts IPv4 (IPV6_V6ONLY off). addr is "[::]:port" or ":port".
func NewDualStackTCPServer(addr string, h Handler, opts ...Option) (*Server, error) {
	return New("tcp6", addr, h, append([]Option{func(s *Server) { s.DualStack = true }}, opts...)...)
}

// NewDualStackUDPServer is NewDualStackTCPServer for UDP.
func NewDualStackUDPServer(addr string, h Handler, opts ...Option) (*Server, error) {
	return New("udp6", addr, h, append([]Option{func(s *Server) { s.DualStack = true }}, opts...)...)
}

// NewUnixStreamServer returns an AF_UNIX SOCK_STREAM server on path (or
// "@name"). Python: socketserver.UnixStreamServer.
func NewUnixStreamServer(path string, h Handler, opts ...Option) (*Server, error) {
	return New("unix", path, h, opts...)
}

// NewUnixDatagramServer returns an AF_UNIX SOCK_DGRAM server on path.
// Clients must bind an address of their own to get replies. Python:
// socketserver.UnixDatagramServer.
func NewUnixDatagramServer(path string, h Handler, opts ...Option) (*Server, error) {
	return New("unixgram", path, h, opts...)
}

// NewUnixSeqpacketServer returns an AF_UNIX SOCK_SEQPACKET server on path:
// connections like a stream server, with message boundaries kept.
func NewUnixSeqpacketServer(path string, h Handler, opts ...Option) (*Server, error) {
	return New("unixpacket", path, h, opts...)
}

// NewThreadingTCPServer is NewTCPServer with the Goroutines dispatcher.
// Python: socketserver.ThreadingTCPServer.
func NewThreadingTCPServer(addr string, h Handler, opts ...Option) (*Server, error) {
	return NewTCPServer(addr, h, append([]Option{WithDispatcher(&Goroutines{})}, opts...)...)
}

// NewThreadingUDPServer is NewUDPServer with the Goroutines dispatcher.
// Python: socketserver.ThreadingUDPServer.
func NewThreadingUDPServer(addr string, h Handler, opts ...Option) (*Server, error) {
	return NewUDPServer(addr, h, append([]Option{WithDispatcher(&Goroutines{})}, opts...)...)
}

// NewThreadingUnixStreamServer is NewUnixStreamServer with the Goroutines
// dispatcher. Python: socketserver.ThreadingUnixStreamServer.
func NewThreadingUnixStreamServer(path string, h Handler, opts ...Option) (*Server, error) {
	return NewUnixStreamServer(path, h, append([]Option{WithDispatcher(&Goroutines{})}, opts...)...)
}

// NewThreadingUnixDatagramServer is NewUnixDatagramServer with the
// Goroutines dispatcher. Python: socketserver.ThreadingUnixDatagramServer.
func NewThreadingUnixDatagramServer(path string, h Handler, opts ...Option) (*Server, error) {
	return NewUnixDatagramServer(path, h, append([]Option{WithDispatcher(&Goroutines{})}, opts...)...)
}

// NewForkingTCPServer is NewTCPServer served from worker processes (see
// Prefork for how it differs from Python's fork per request). Python:
// socketserver.ForkingTCPServer.
func NewForkingTCPServer(addr string, h Handler, opts ...Option) (*Server, error) {
	return NewTCPServer(addr, h, append([]Option{WithPrefork(&Prefork{})}, opts...)...)
}

// NewForkingUDPServer is NewUDPServer served from worker processes.
// Python: socketserver.ForkingUDPServer.
func NewForkingUDPServer(addr string, h Handler, opts ...Option) (*Server, error) {
	return NewUDPServer(addr, h, append([]Option{WithPrefork(&Prefork{})}, opts...)...)
}
