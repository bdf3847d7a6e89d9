package socketserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/socketkit/socketkit/proxyproto"
	"github.com/socketkit/socketkit/socket"
)

// Server is a network server: a socket of one transport, a Handler that
// serves each request, and a Dispatcher that decides where requests run.
// Create one with a constructor (NewTCPServer, NewUDPServer...), which
// binds and listens at once, or fill in the fields and call Bind and
// Activate (or just Serve) yourself, to change settings that apply before
// binding.
//
// The exported fields are Python's class attributes. Set them before Serve;
// their zero values are the documented defaults.
type Server struct {
	// Network is the transport: "tcp", "tcp4", "tcp6", "udp", "udp4",
	// "udp6", "unix" (stream), "unixgram" (datagram) or "unixpacket"
	// (SOCK_SEQPACKET). "" means "tcp".
	Network string
	// Addr is the address to bind: "host:port" for IP networks (":0" means
	// any free port on every address), a path or "@name" for Unix networks.
	// Python: server_address (the bound address is Address()).
	Addr string
	// Handler serves each request. Python: RequestHandlerClass.
	Handler Handler
	// Dispatcher runs requests: nil means Synchronous, one at a time, as a
	// plain Python TCPServer does.
	Dispatcher Dispatcher

	// Backlog is the listen queue of a stream server; 0 means
	// socket.SOMAXCONN (4096), Python 3.15's default, which the kernel caps
	// at net.core.somaxconn. Python: request_queue_size.
	Backlog int
	// AllowReuseAddress sets SO_REUSEADDR before binding, so that a
	// restarted server can bind a port still in TIME_WAIT. Default false,
	// as in Python. Python: allow_reuse_address.
	AllowReuseAddress bool
	// AllowReusePort sets SO_REUSEPORT before binding (IP networks only), so
	// that several servers can share one port. Default false. Python:
	// allow_reuse_port. Closing one of several such servers resets the
	// connections waiting in its accept queue, unless the sysctl
	// net.ipv4.tcp_migrate_req is 1 (TestReusePortHandover in reliability/
	// measures both): for restarts, hand the socket over instead (Adopt,
	// sock serve --graceful-restart).
	AllowReusePort bool
	// DualStack makes a server on an IPv6 address ("[::]:port") accept IPv4
	// too (IPV6_V6ONLY off). Default false: an IPv6 server is IPv6 only.
	DualStack bool
	// RemoveStale removes a Unix socket file left at Addr by a server that
	// is gone (nothing accepts on it) before binding. Default false: the
	// bind fails with EADDRINUSE, as in Python.
	RemoveStale bool
	// Timeout bounds how long HandleRequest waits for a request; 0 means no
	// limit. Serve ignores it. Python: timeout.
	Timeout time.Duration
	// MaxPacketSize is the largest datagram a datagram server accepts; 0
	// means 8192, as in Python. Longer datagrams are dropped and counted in
	// Stats().Truncated rather than handled cut short. Python:
	// max_packet_size.
	MaxPacketSize int
	// BlockOnClose makes Close wait for running handlers to return (after
	// closing their connections). Default false: Close returns at once and
	// Shutdown is the waiting form. Python's block_on_close defaults to
	// True.
	BlockOnClose bool

	// MaxConnections caps the open connections of a stream server; 0 means
	// no cap. A connection beyond it is closed at once and counted in
	// Stats().Rejected.
	MaxConnections int
	// IdleTimeout closes a connection that has sent nothing for this long
	// (each Read on Request.Conn must complete within it). 0: no limit.
	IdleTimeout time.Duration
	// ReadTimeout bounds each read on Request.Conn; WriteTimeout each write.
	// 0: no limit.
	ReadTimeout, WriteTimeout time.Duration
	// RequestTimeout bounds a whole request from accept to close, whatever
	// the client does: the defence against slowloris clients that trickle
	// bytes just fast enough to beat IdleTimeout. The request's context and
	// its connection both end at the deadline. 0: no limit.
	RequestTimeout time.Duration
	// LingerTimeout bounds the lingering close of a connection that still
	// has unread input when its handler returns: the server stops sending,
	// reads and discards input until the peer closes or this time passes,
	// then closes, so the peer's kernel gets no RST that could discard the
	// end of the response. 0 means 1 second; a negative value closes at
	// once.
	LingerTimeout time.Duration
	// TLSConfig, if set, serves a stream server over TLS: Request.Conn is
	// the *tls.Conn, handshaken before the handler runs.
	TLSConfig *tls.Config
	// ProxyProtocol, if set, puts a stream server behind a proxy that
	// speaks the PROXY protocol (HAProxy send-proxy/send-proxy-v2, nginx
	// proxy_protocol, cloud load balancers). It is called on the serving
	// goroutine with the address of each connection's immediate peer, so
	// it must be quick. proxyproto.Require: the connection must begin with
	// a header, read before the TLS handshake and the handler, and
	// Request.ClientAddr, Request.Conn.RemoteAddr and LocalAddr then give
	// the client's addresses and Request.Proxy the header; a missing,
	// malformed or late header closes the connection and goes to
	// ErrorHandler. proxyproto.Skip: served as it is. proxyproto.Reject:
	// closed at once and counted in Stats().Rejected. VerifyRequest,
	// which runs before the header is read, sees the peer's address.
	// Default nil: no header is expected, as the specification demands
	// unless configured. proxyproto.TrustOnly builds the usual policy.
	ProxyProtocol proxyproto.PolicyFunc
	// ProxyHeaderTimeout bounds the wait for a PROXY header; 0 means
	// proxyproto.DefaultHeaderTimeout (10 s). RequestTimeout, if sooner,
	// applies too.
	ProxyHeaderTimeout time.Duration
	// Logger receives handler errors, recovered panics and accept errors;
	// nil means slog.Default(). Nothing is logged per request otherwise.
	Logger *slog.Logger

	// VerifyRequest, if set, is asked about each request before it is
	// dispatched; false drops it (a stream connection is closed) and counts
	// it in Stats().Rejected. It runs on the serving goroutine, so it must
	// be quick. Python: verify_request.
	VerifyRequest func(r *Request) bool
	// ErrorHandler is called with the error a handler returns or the
	// *PanicError of a handler that panicked; nil logs them with Logger.
	// The server keeps serving either way. Python: handle_error.
	ErrorHandler func(r *Request, err error)
	// OnTimeout is called when HandleRequest times out. Python:
	// handle_timeout.
	OnTimeout func()
	// ServiceActions, if set, is called every PollInterval while Serve
	// runs. Python: service_actions.
	ServiceActions func()
	// PollInterval paces ServiceActions; 0 means 500ms, Python's
	// poll_interval. Nothing else polls: Shutdown wakes Serve at once.
	PollInterval time.Duration
	// Control, if set, is called with the new socket before it is bound:
	// set socket options there. Python: override server_bind.
	Control func(s *socket.Socket) error

	mu        sync.Mutex
	dctx      context.Context // for dispatchers that wait; canceled by forceClose
	dcancel   context.CancelFunc
	sock      *socket.Socket
	addr      socket.Sockaddr
	family    socket.Family
	typ       socket.Type
	activated bool
	serving   bool
	closing   bool
	done      chan struct{} // closed when shutdown begins
	freed     chan struct{} // a request ended: a descriptor may be free again
	serveDone chan struct{} // closed when Serve's loop has returned
	inflight  int           // under mu: requests in flight and engine reservations
	idle      *sync.Cond    // on mu: broadcast when inflight drops to zero
	active    map[*Request]struct{}
	unlink    string // Unix socket file to remove on close
	timed     bool   // any per-operation timeout is set
	stats     counters
	pktPool   sync.Pool
	finalOnce sync.Once
}

// Option configures a Server before a constructor binds it.
type Option func(*Server)

// WithDispatcher sets the Dispatcher.
func WithDispatcher(d Dispatcher) Option { return func(s *Server) { s.Dispatcher = d } }

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

// NewForkingTCPServer is NewTCPServer with the Prefork dispatcher (see
// Prefork for how it differs from Python's fork per request). Python:
// socketserver.ForkingTCPServer.
func NewForkingTCPServer(addr string, h Handler, opts ...Option) (*Server, error) {
	return NewTCPServer(addr, h, append([]Option{WithDispatcher(&Prefork{})}, opts...)...)
}

// NewForkingUDPServer is NewUDPServer with the Prefork dispatcher. Python:
// socketserver.ForkingUDPServer.
func NewForkingUDPServer(addr string, h Handler, opts ...Option) (*Server, error) {
	return NewUDPServer(addr, h, append([]Option{WithDispatcher(&Prefork{})}, opts...)...)
}

// Bind creates the socket, applies the options that must precede binding
// (SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY, Control) and binds Addr. If
// anything fails the socket is closed. In a child started by Prefork it
// adopts the listening socket the parent handed down instead. Python:
// server_bind (with socket creation from __init__).
func (s *Server) Bind() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sock != nil {
		return errors.New("socketserver: already bound")
	}
	if s.closing {
		return ErrServerClosed
	}
	network := s.Network
	if network == "" {
		network = "tcp"
	}
	if _, _, err := socket.ParseNetwork(network); err != nil {
		return err
	}
	if sock, ok, err := adoptPreforkSocket(s); ok || err != nil {
		if err != nil {
			return err
		}
		s.setSocket(sock)
		s.activated = true
		return nil
	}
	reuse := socket.ReuseAddrOff // Python's default
	if s.AllowReuseAddress {
		reuse = socket.ReuseAddrOn
	}
	sock, err := socket.Listen(network, s.Addr, &socket.ListenOptions{
		BindOnly:    true, // Activate listens
		ReuseAddr:   reuse,
		ReusePort:   s.AllowReusePort,
		DualStack:   s.DualStack,
		RemoveStale: s.RemoveStale,
		Control:     s.Control,
	})
	if err != nil {
		return err
	}
	if sock.Family() == socket.AF_UNIX && s.Addr != "" && s.Addr[0] != '@' {
		s.unlink = s.Addr
	}
	s.setSocket(sock)
	return nil
}

// Adopt makes sock, already bound, the server's socket instead of Bind:
// for a socket inherited from another process (a graceful restart, systemd
// socket activation). A listening stream socket counts as activated; one
// that is not listening is put into listen(2) by Activate. The server owns
// sock from here: Close closes it. Network and Addr are not used.
func (s *Server) Adopt(sock *socket.Socket) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sock != nil {
		return errors.New("socketserver: already bound")
	}
	if s.closing {
		return ErrServerClosed
	}
	if sock == nil {
		return errors.New("socketserver: Adopt of a nil socket")
	}
	switch sock.Type() {
	case socket.SOCK_STREAM, socket.SOCK_SEQPACKET:
		listening, err := sock.AcceptConn()
		if err != nil {
			return err
		}
		s.activated = listening
	case socket.SOCK_DGRAM:
		s.activated = true
	default:
		return fmt.Errorf("socketserver: cannot serve a socket of type %v", sock.Type())
	}
	s.setSocket(sock)
	return nil
}

func (s *Server) setSocket(sock *socket.Socket) {
	s.sock = sock
	s.family = sock.Family()
	s.typ = sock.Type()
	s.addr, _ = sock.Getsockname()
}

// Activate starts listening on a stream server (listen(2) with Backlog);
// on a datagram server it does nothing. Python: server_activate.
func (s *Server) Activate() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sock == nil {
		return errors.New("socketserver: Activate before Bind")
	}
	if s.activated || s.typ == socket.SOCK_DGRAM {
		s.activated = true
		return nil
	}
	backlog := s.Backlog
	if backlog <= 0 {
		backlog = socket.SOMAXCONN
	}
	if err := s.sock.Listen(backlog); err != nil {
		return err
	}
	s.activated = true
	return nil
}

// Address returns the bound address (with the port the kernel chose for
// port 0), or nil before Bind. Python: server_address after binding.
func (s *Server) Address() socket.Sockaddr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Socket returns the server's socket, or nil before Bind. Python: socket.
func (s *Server) Socket() *socket.Socket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sock
}

// Fd returns the descriptor of the server's socket, or -1. Python: fileno().
func (s *Server) Fd() int {
	if sock := s.Socket(); sock != nil {
		return sock.Fd()
	}
	return -1
}

// ServeForever serves until Shutdown or Close, as Serve(context.Background())
// does. Python: serve_forever().
func (s *Server) ServeForever() error { return s.Serve(context.Background()) }

// Serve accepts requests and dispatches them until Shutdown or Close, then
// returns ErrServerClosed; any other error it returns is fatal (accept
// errors that are only a shortage of descriptors or buffers are retried
// with a back-off from 5ms to 1s, and logged). It binds and listens first
// if that has not been done. Handlers get ctx (canceled when their request
// ends); canceling ctx closes the server, as Close does.
//
// With the Prefork dispatcher, Serve in the parent process supervises the
// children instead; in a child it serves and then exits the process.
func (s *Server) Serve(ctx context.Context) error {
	if err := checkCall(ctx, s.Handler); err != nil {
		return err
	}
	if err := s.ensureBound(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	if s.serving {
		s.mu.Unlock()
		return errors.New("socketserver: Serve called twice")
	}
	s.serving = true
	s.init()
	s.serveDone = make(chan struct{})
	s.mu.Unlock()
	defer close(s.serveDone)

	if pf, ok := s.Dispatcher.(*Prefork); ok {
		if !isPreforkChild() {
			return pf.supervise(ctx, s)
		}
		return s.serveChild(ctx, pf)
	}
	if d, ok := s.Dispatcher.(*EventLoop); ok && s.typ != socket.SOCK_DGRAM {
		return s.serveEngine(ctx, d)
	}
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	if s.ServiceActions != nil {
		go s.runServiceActions()
	}
	if s.typ == socket.SOCK_DGRAM {
		return s.serveDatagrams(ctx)
	}
	return s.serveStream(ctx)
}

func (s *Server) ensureBound() error {
	s.mu.Lock()
	bound, active := s.sock != nil, s.activated
	s.mu.Unlock()
	if !bound {
		if err := s.Bind(); err != nil {
			return err
		}
	}
	if !active {
		return s.Activate()
	}
	return nil
}

// init prepares the run-time state; s.mu is held.
func (s *Server) init() {
	if s.done == nil {
		s.done = make(chan struct{})
	}
	if s.dctx == nil {
		s.dctx, s.dcancel = context.WithCancel(context.Background())
	}
	if s.active == nil {
		s.active = map[*Request]struct{}{}
	}
	if s.freed == nil {
		s.freed = make(chan struct{}, 1)
	}
	s.timed = s.ReadTimeout > 0 || s.WriteTimeout > 0 || s.IdleTimeout > 0 || s.RequestTimeout > 0
}

func (s *Server) runServiceActions() {
	d := s.PollInterval
	if d <= 0 {
		d = 500 * time.Millisecond
	}
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.ServiceActions()
		}
	}
}

func (s *Server) dispatcher() Dispatcher {
	if s.Dispatcher == nil {
		return Synchronous{}
	}
	if pf, ok := s.Dispatcher.(*Prefork); ok {
		return pf.perChild()
	}
	return s.Dispatcher
}

// temporary reports whether an accept or receive error is a shortage that
// passes (descriptors, buffers, memory) rather than a broken server.
func temporary(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.EINTR, syscall.EAGAIN} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// backoff sleeps before retrying a temporary error: 5ms, doubling up to 1s,
// as net/http does. Out of descriptors (EMFILE, ENFILE), it retries at once
// when one of the server's own requests ends, so a server that ran out of
// descriptors is serving again as soon as one is freed rather than at the
// end of its sleep. It returns false when the server is shutting down.
func (s *Server) backoff(delay *time.Duration, err error) bool {
	if *delay == 0 {
		*delay = 5 * time.Millisecond
	} else if *delay *= 2; *delay > time.Second {
		*delay = time.Second
	}
	s.stats.acceptErrors.Add(1)
	s.logger().Warn("socketserver: temporary error; retrying", "err", err, "delay", *delay)
	var freed chan struct{}
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
		freed = s.freed // a stale signal costs one early retry, no more
	}
	t := time.NewTimer(*delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-freed:
		return true
	case <-s.done:
		return false
	}
}

func (s *Server) isClosing() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// serveStream is the accept loop: get_request, verify_request,
// process_request.
func (s *Server) serveStream(ctx context.Context) error {
	var delay time.Duration
	for {
		r, err := s.getRequest(ctx)
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			if temporary(err) {
				if !s.backoff(&delay, err) {
					return ErrServerClosed
				}
				continue
			}
			return err
		}
		delay = 0
		if r == nil {
			continue // rejected at once (MaxConnections)
		}
		s.handleOne(ctx, r)
	}
}

// serveDatagrams is the receive loop of a datagram server.
func (s *Server) serveDatagrams(ctx context.Context) error {
	var delay time.Duration
	for {
		r, err := s.getRequest(ctx)
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			if temporary(err) || errors.Is(err, syscall.ECONNREFUSED) {
				if !s.backoff(&delay, err) {
					return ErrServerClosed
				}
				continue
			}
			return err
		}
		delay = 0
		if r == nil {
			continue // truncated datagram, dropped
		}
		s.handleOne(ctx, r)
	}
}

// handleOne runs verify_request and process_request for r.
func (s *Server) handleOne(ctx context.Context, r *Request) {
	if !s.verifyRequest(r) {
		s.stats.rejected.Add(1)
		s.untrack(r)
		s.shutdownRequest(r)
		return
	}
	s.processRequest(ctx, r)
}

// getRequest waits for the next request: accept(2) on a stream server,
// recvfrom(2) on a datagram server. It returns (nil, nil) for a request
// turned away at once. Python: get_request.
func (s *Server) getRequest(ctx context.Context) (*Request, error) {
	if s.typ == socket.SOCK_DGRAM {
		return s.getDatagram(ctx, true)
	}
	c, peer, err := s.sock.Accept()
	if err != nil {
		return nil, err
	}
	return s.streamRequest(ctx, c, peer, true)
}

// streamRequest wraps an accepted connection as a request, applying
// MaxConnections, RequestTimeout and TLS. It returns (nil, nil) when the
// connection is turned away.
func (s *Server) streamRequest(ctx context.Context, c *socket.Socket, peer socket.Sockaddr, fromLoop bool) (*Request, error) {
	s.stats.accepted.Add(1)
	r := s.newRequest(ctx, peer)
	r.Socket = c
	if !s.track(r, fromLoop) {
		c.Close()
		r.cancel()
		return nil, ErrServerClosed
	}
	if s.MaxConnections > 0 && int(s.stats.active.Load()) > s.MaxConnections {
		s.stats.rejected.Add(1)
		s.untrack(r)
		c.Close() // after untrack: once the peer sees the close, Stats agree
		return nil, nil
	}
	r.tc = &Conn{Socket: c, srv: s}
	if s.RequestTimeout > 0 {
		r.tc.hard = r.start.Add(s.RequestTimeout)
		c.SetDeadline(r.tc.hard) // bounds raw Recv/Send too
	}
	if !s.proxyPolicy(r, c, r.tc.hard, &r.tc.proxied) {
		s.untrack(r)
		c.Close()
		return nil, nil
	}
	r.Conn = r.tc
	if s.TLSConfig != nil {
		r.Conn = tls.Server(r.tc, s.TLSConfig)
	}
	return r, nil
}

func (s *Server) getDatagram(ctx context.Context, fromLoop bool) (*Request, error) {
	size := s.MaxPacketSize
	if size <= 0 {
		size = 8192
	}
	bp, _ := s.pktPool.Get().(*[]byte)
	if bp == nil || cap(*bp) < size {
		b := make([]byte, size)
		bp = &b
	}
	buf := (*bp)[:size]
	// MSG_TRUNC makes recvfrom return a datagram's real length, so a long
	// one is noticed instead of handled cut short.
	n, from, err := s.sock.Recvfrom(buf, socket.MSG_TRUNC)
	if err != nil {
		s.pktPool.Put(bp)
		return nil, err
	}
	s.stats.accepted.Add(1)
	s.stats.bytesIn.Add(uint64(n))
	if n > size {
		s.stats.truncated.Add(1)
		s.pktPool.Put(bp)
		s.logger().Debug("socketserver: datagram longer than MaxPacketSize dropped", "len", n, "max", size, "from", from)
		return nil, nil
	}
	r := s.newRequest(ctx, from)
	r.Socket = s.sock
	r.Packet = buf[:n]
	if !s.track(r, fromLoop) {
		s.pktPool.Put(bp)
		r.cancel()
		return nil, ErrServerClosed
	}
	prev := r.cancel
	r.cancel = func() { prev(); s.pktPool.Put(bp) }
	return r, nil
}

func (s *Server) newRequest(ctx context.Context, peer socket.Sockaddr) *Request {
	r := &Request{ClientAddr: peer, Server: s, start: time.Now()}
	if s.RequestTimeout > 0 {
		r.ctx, r.cancel = context.WithDeadline(ctx, r.start.Add(s.RequestTimeout))
	} else {
		r.ctx, r.cancel = context.WithCancel(ctx)
	}
	return r
}

// track registers r as in flight. Once shutdown has begun it fails, so
// that nothing is added after Shutdown starts waiting, except for the
// serving loop (fromLoop): a connection it has already taken from the
// kernel is served, not dropped, and Shutdown waits for the loop to return
// before it waits for requests.
func (s *Server) track(r *Request, fromLoop bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing && !fromLoop {
		return false
	}
	s.inflight++
	s.active[r] = struct{}{}
	s.stats.active.Add(1)
	return true
}

func (s *Server) untrack(r *Request) {
	r.cancel()
	s.mu.Lock()
	_, ok := s.active[r]
	delete(s.active, r)
	s.mu.Unlock()
	if ok {
		s.stats.active.Add(-1)
		s.release()
		select {
		case s.freed <- struct{}{}:
		default:
		}
	}
}

// reserve counts a request that is about to be tracked: the engine calls
// it on its loop when it accepts, before the request's goroutine starts,
// so that Shutdown cannot see zero in between.
func (s *Server) reserve() {
	s.mu.Lock()
	s.inflight++
	s.mu.Unlock()
}

// release undoes a track or a reserve.
func (s *Server) release() {
	s.mu.Lock()
	s.inflight--
	if s.inflight == 0 && s.idle != nil {
		s.idle.Broadcast()
	}
	s.mu.Unlock()
}

// waitInflight waits until no request is in flight.
func (s *Server) waitInflight() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.idle == nil {
		s.idle = sync.NewCond(&s.mu)
	}
	for s.inflight > 0 {
		s.idle.Wait()
	}
}

// verifyRequest asks VerifyRequest. Python: verify_request.
func (s *Server) verifyRequest(r *Request) bool {
	if s.VerifyRequest == nil {
		return true
	}
	ok := true
	if err := callSafely(func() error { ok = s.VerifyRequest(r); return nil }); err != nil {
		s.handleError(r, err)
		return false
	}
	return ok
}

// processRequest hands r to the dispatcher. Python: process_request (the
// method the mix-ins override).
func (s *Server) processRequest(ctx context.Context, r *Request) {
	job := func() {
		defer s.untrack(r)
		if err := s.finishRequest(r); err != nil {
			s.handleError(r, err)
		}
		s.shutdownRequest(r)
	}
	if err := s.dispatcher().Dispatch(s.dctx, job); err != nil {
		s.shutdownRequest(r)
		s.untrack(r)
	}
}

// finishRequest runs the handler: Setup, Handle, Finish, recovering
// panics. Python: finish_request (instantiating the handler class).
func (s *Server) finishRequest(r *Request) error {
	if r.proxy != nil {
		if err := s.readProxyHeader(r); err != nil {
			return err
		}
	}
	if tc, ok := r.Conn.(*tls.Conn); ok {
		hctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			return fmt.Errorf("socketserver: TLS handshake with %v: %w", r.ClientAddr, err)
		}
	}
	h := s.Handler
	if h == nil {
		return errors.New("socketserver: no Handler")
	}
	err := callSafely(func() error {
		if su, ok := h.(Setupper); ok {
			if err := su.Setup(r.ctx, r); err != nil {
				return err
			}
		}
		return h.Handle(r.ctx, r)
	})
	if fi, ok := h.(Finisher); ok {
		if ferr := callSafely(func() error { return fi.Finish(r.ctx, r) }); ferr != nil && err == nil {
			err = ferr
		}
	}
	return err
}

// shutdownRequest ends a stream request: it stops sending, drains input the
// handler left unread (lingering, so the peer gets the whole response
// rather than an RST), and closes. A datagram request has nothing to close.
// Python: shutdown_request and close_request.
func (s *Server) shutdownRequest(r *Request) {
	c := r.Socket
	if c == nil || c == s.sock {
		return
	}
	if tc, ok := r.Conn.(*tls.Conn); ok {
		tc.SetWriteDeadline(time.Now().Add(time.Second))
		tc.CloseWrite() // close_notify
	}
	if err := c.CloseWrite(); err != nil {
		c.Close()
		return
	}
	linger := s.LingerTimeout
	if linger == 0 {
		linger = time.Second
	}
	var buf [512]byte
	n, err := c.Recv(buf[:1], socket.MSG_PEEK|socket.MSG_DONTWAIT)
	if linger > 0 && n > 0 && err == nil {
		c.SetTimeout(0)
		c.SetReadDeadline(time.Now().Add(linger))
		for i := 0; i < 512; i++ { // at most 256 KiB
			if n, err := c.Recv(buf[:], 0); n == 0 || err != nil {
				break
			}
		}
	}
	c.Close()
}

// handleError reports a handler's error or panic. Python: handle_error.
func (s *Server) handleError(r *Request, err error) {
	s.stats.errors.Add(1)
	if s.ErrorHandler != nil {
		if perr := callSafely(func() error { s.ErrorHandler(r, err); return nil }); perr != nil {
			s.logger().Error("socketserver: ErrorHandler panicked", "err", perr)
		}
		return
	}
	var pe *PanicError
	if errors.As(err, &pe) {
		s.logger().Error("socketserver: handler panicked", "client", addrString(r.ClientAddr), "panic", fmt.Sprint(pe.Value), "stack", string(pe.Stack))
		return
	}
	s.logger().Error("socketserver: request failed", "client", addrString(r.ClientAddr), "err", err)
}

func addrString(sa socket.Sockaddr) string {
	if sa == nil {
		return ""
	}
	return sa.String()
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// HandleRequest waits for one request and processes it, waiting at most
// Timeout (and until ctx ends). When the wait times out it calls OnTimeout
// and returns ErrTimeout. Python: handle_request().
func (s *Server) HandleRequest(ctx context.Context) error {
	if err := checkCall(ctx, s.Handler); err != nil {
		return err
	}
	if err := s.ensureBound(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.init()
	s.mu.Unlock()
	wait := ctx
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		wait, cancel = context.WithTimeout(ctx, s.Timeout)
		defer cancel()
	}
	var r *Request
	var err error
	for r == nil && err == nil { // nil, nil: turned away at once; wait again
		r, err = s.waitRequest(wait)
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			if s.OnTimeout != nil {
				s.OnTimeout()
			}
			return ErrTimeout
		}
		if s.isClosing() {
			return ErrServerClosed
		}
		return err
	}
	s.handleOne(ctx, r)
	return nil
}

// waitRequest is getRequest bounded by ctx.
func (s *Server) waitRequest(ctx context.Context) (*Request, error) {
	if s.typ == socket.SOCK_DGRAM {
		// Wait for a datagram without consuming it, then receive it.
		var b [1]byte
		if _, _, err := s.sock.RecvfromContext(ctx, b[:], socket.MSG_PEEK); err != nil {
			return nil, err
		}
		return s.getDatagram(ctx, false)
	}
	c, peer, err := s.sock.AcceptContext(ctx)
	if err != nil {
		return nil, err
	}
	return s.streamRequest(ctx, c, peer, false)
}

// beginClose stops taking requests: no polling, the blocked accept or
// receive returns at once. It reports whether this call began it.
func (s *Server) beginClose() bool {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return false
	}
	s.closing = true
	if s.done == nil {
		s.done = make(chan struct{})
	}
	close(s.done)
	eng := s.engineLocked()
	if !eng && s.sock != nil {
		if s.typ == socket.SOCK_DGRAM {
			// Keep the socket for in-flight replies; wake the receive.
			s.sock.SetReadDeadline(time.Unix(1, 0))
		} else {
			s.sock.Close()
		}
	}
	s.mu.Unlock()
	if eng {
		// The engine watches the listener: it stops and closes it itself.
		// Outside mu: its loops take mu to count what they accept.
		s.engineStopAccept()
	}
	return true
}

// forceClose closes every open request and cancels its context, and stops
// dispatchers from waiting for room.
func (s *Server) forceClose() {
	s.mu.Lock()
	if s.dcancel != nil {
		s.dcancel()
	}
	reqs := make([]*Request, 0, len(s.active))
	for r := range s.active {
		reqs = append(reqs, r)
	}
	s.mu.Unlock()
	for _, r := range reqs {
		r.cancel()
		switch {
		case r.Socket != nil && r.Socket != s.sock:
			r.Socket.Close()
		case r.Socket == nil && r.Conn != nil:
			r.Conn.Close() // a request on the event-loop engine
		}
	}
}

// waitServeLoop waits for Serve's loop to return, if it runs.
func (s *Server) waitServeLoop() {
	s.mu.Lock()
	done := s.serveDone
	s.mu.Unlock()
	if done != nil {
		<-done
	}
}

// Shutdown stops the server gracefully: it stops accepting at once (no
// polling interval), waits for the requests in flight to finish, then
// closes the socket. If ctx ends first, it closes the remaining requests
// (their contexts are canceled and their connections closed) and returns
// ctx's error. Python: shutdown(), which only stops the loop.
func (s *Server) Shutdown(ctx context.Context) error {
	if ctx == nil {
		return errNilContext
	}
	s.beginClose()
	if pf, ok := s.Dispatcher.(*Prefork); ok && !isPreforkChild() {
		err := pf.shutdown(ctx)
		s.waitServeLoop()
		s.finalClose()
		return err
	}
	drained := make(chan struct{})
	go func() {
		if _, ok := s.Dispatcher.(*EventLoop); ok {
			s.waitInflight() // the engine's requests first, then its loops
			s.engineStop(false)
		}
		s.waitServeLoop() // with Synchronous, the loop is running a handler
		s.waitInflight()
		close(drained)
	}()
	select {
	case <-drained:
		s.finalClose()
		return nil
	case <-ctx.Done():
		s.forceClose()
		s.engineStop(true)
		s.finalClose()
		return ctx.Err()
	}
}

// Close stops the server at once: it closes the socket and every open
// connection and cancels the handlers' contexts. With BlockOnClose it then
// waits for the handlers to return. Python: server_close().
func (s *Server) Close() error {
	if s == nil {
		return os.ErrInvalid // as (*os.File).Close: srv, err := New(...); defer srv.Close()
	}
	s.beginClose()
	if pf, ok := s.Dispatcher.(*Prefork); ok && !isPreforkChild() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		pf.shutdown(ctx)
	}
	s.forceClose()
	s.engineStop(true)
	if s.BlockOnClose {
		s.waitServeLoop()
		s.waitInflight()
	}
	s.finalClose()
	return nil
}

// finalClose closes the socket, removes the Unix socket file and closes
// the dispatcher, once.
func (s *Server) finalClose() {
	s.finalOnce.Do(func() {
		s.closeSocket()
		if c, ok := s.Dispatcher.(io.Closer); ok {
			go func() { s.waitInflight(); c.Close() }()
		}
	})
}

func (s *Server) closeSocket() {
	s.mu.Lock()
	sock, path := s.sock, s.unlink
	s.unlink = ""
	s.mu.Unlock()
	if sock != nil {
		sock.Close()
	}
	if path != "" {
		os.Remove(path)
	}
}

// Stats is a snapshot of a server's counters.
type Stats struct {
	Accepted     uint64 // connections accepted, or datagrams received
	Active       int64  // requests in flight now
	Rejected     uint64 // turned away: MaxConnections, VerifyRequest
	Errors       uint64 // handler errors and panics
	AcceptErrors uint64 // temporary accept or receive errors retried
	Truncated    uint64 // datagrams over MaxPacketSize, dropped
	BytesIn      uint64 // bytes received through Request.Conn or as datagrams
	BytesOut     uint64 // bytes sent through Request.Conn or Reply
}

type counters struct {
	accepted, rejected, errors, acceptErrors, truncated, bytesIn, bytesOut atomic.Uint64
	active                                                                 atomic.Int64
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	st := Stats{
		Accepted: s.stats.accepted.Load(), Active: s.stats.active.Load(), Rejected: s.stats.rejected.Load(),
		Errors: s.stats.errors.Load(), AcceptErrors: s.stats.acceptErrors.Load(), Truncated: s.stats.truncated.Load(),
		BytesIn: s.stats.bytesIn.Load(), BytesOut: s.stats.bytesOut.Load(),
	}
	if d, ok := s.Dispatcher.(*EventLoop); ok {
		s.mu.Lock()
		eng := d.engine
		s.mu.Unlock()
		if eng != nil { // the engine accepts for the server
			st.AcceptErrors += eng.Stats().AcceptErrors
		}
	}
	return st
}

// String describes the server: "socketserver tcp 127.0.0.1:6254".
func (s *Server) String() string {
	a := s.Address()
	if a == nil {
		return "socketserver " + s.Network + " " + s.Addr + " (unbound)"
	}
	n := s.Network
	if n == "" {
		n = "tcp"
	}
	return "socketserver " + strings.TrimSpace(n) + " " + a.String()
}
