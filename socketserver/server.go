package socketserver

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/socketkit/socketkit/proxyproto"
	"github.com/socketkit/socketkit/socket"
)

// Server is a network server: a socket of one transport, a Handler that
// serves each request, and a Dispatcher that decides where requests run
// (in this process, or with Prefork in worker processes).
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
	// Dispatcher decides where each request runs: nil means Synchronous,
	// one at a time on Serve's goroutine, as a plain Python TCPServer does.
	// With Prefork it runs requests inside each worker process.
	Dispatcher Dispatcher
	// Prefork, if set, serves from worker processes that share the
	// listening socket instead of from this one: Python's ForkingMixIn (see
	// Prefork). Default nil: this process serves.
	Prefork *Prefork

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

	mu           sync.Mutex
	dispatchCtx  context.Context // what dispatchers wait on; canceled by closeRequests
	stopDispatch context.CancelFunc
	disp         Dispatcher // Dispatcher, resolved by init
	pf           *Prefork   // Prefork, resolved by init
	fe           frontend   // chosen by Serve; nil means acceptLoop
	sock         *socket.Socket
	addr         socket.Sockaddr
	family       socket.Family
	typ          socket.Type
	child        *preforkChild // set in a prefork worker that adopted its parent's socket
	unlink       string        // Unix socket file to remove on close
	hasTimeouts  bool          // a per-operation timeout or RequestTimeout is set
	local        counters      // this process's counters
	st           *counters     // where requests count: &local, or memory shared with a prefork parent
	pktPool      sync.Pool
	running      atomic.Int64  // requests whose job is running (see runRequest)
	freed        chan struct{} // a request ended: a descriptor may be free again
	done         chan struct{} // closed when closing begins

	// Under mu:
	activated    bool
	serving      bool // Serve was called
	looping      bool // Serve's loop (or Prefork's supervision) is running
	closing      bool // Shutdown or Close has begun
	closed       bool // Close was called: a waiting Shutdown returns
	finalPending bool // finalClose is due when the last request ends
	excluded     int  // handlers of this server inside Shutdown or Close
	active       map[*Request]struct{}
	changed      chan struct{} // closed at a change a waiting Shutdown looks at; nil when no one waits
	finalOnce    sync.Once
}

// A frontend is how a Server takes its requests: its own accept (or
// receive) loop in this process (acceptLoop; also in a Prefork worker), or,
// in a Prefork parent, the supervision of the workers that run theirs
// (supervisor). Serve chooses it once; Shutdown, Close and Stats call it
// without knowing which it is.
type frontend interface {
	// serve runs until the server closes and returns ErrServerClosed, or
	// another error that ends serving.
	serve(ctx context.Context) error
	// stopAccepting takes no new requests from now on. It is called once,
	// with s.mu held, when closing begins, and must not block.
	stopAccepting()
	// idle reports, with s.mu held, whether a Shutdown by c has nothing
	// left to wait for. Every change it depends on calls notifyLocked.
	idle(c caller) bool
	// stop ends what is left at once: Close, or Shutdown past its context.
	stop()
	// addStats adds what the frontend's workers served to st.
	addStats(st *Stats)
}

// ServeForever serves until Shutdown or Close, as Serve(context.Background())
// does. Python: serve_forever().
func (s *Server) ServeForever() error { return s.Serve(context.Background()) }

// Serve accepts requests and dispatches them until Shutdown or Close, then
// returns ErrServerClosed; any other error it returns is fatal (accept
// errors that are only a shortage of descriptors or buffers are retried
// with a back-off from 5ms to 1s, and logged). It binds and listens first
// if that has not been done. Handlers get a context derived from ctx
// (canceled when their request ends); canceling ctx closes the server, as
// Close does.
//
// With Prefork, Serve in the parent process supervises the workers
// instead; in a worker it serves and then exits the process.
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
	switch {
	case s.pf != nil && IsPreforkChild():
		s.fe = preforkWorker{acceptLoop{s}}
	case s.pf != nil:
		s.fe = newSupervisor(s, s.pf)
	default:
		s.fe = acceptLoop{s}
	}
	s.looping = true
	fe := s.fe
	s.mu.Unlock()
	return fe.serve(ctx)
}

// init prepares the run-time state once; s.mu is held.
func (s *Server) init() {
	if s.active != nil {
		return
	}
	s.active = map[*Request]struct{}{}
	if s.done == nil {
		s.done = make(chan struct{})
	}
	s.dispatchCtx, s.stopDispatch = context.WithCancel(context.Background())
	s.freed = make(chan struct{}, 1)
	s.counters()
	s.hasTimeouts = s.ReadTimeout > 0 || s.WriteTimeout > 0 || s.IdleTimeout > 0 || s.RequestTimeout > 0
	s.disp, s.pf = s.Dispatcher, s.Prefork
	if pf, ok := s.disp.(*Prefork); ok { // the deprecated form: Prefork as the Dispatcher
		if s.pf == nil {
			s.pf = pf
		}
		s.disp = pf.PerChild
	}
	if s.disp == nil {
		s.disp = Synchronous{}
	}
}

// frontend returns the chosen frontend, or the accept loop before Serve;
// s.mu is held.
func (s *Server) frontend() frontend {
	if s.fe == nil {
		return acceptLoop{s}
	}
	return s.fe
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

// finalClose closes the socket, removes the Unix socket file and closes
// the dispatcher (once its last request has ended), once.
func (s *Server) finalClose() {
	s.finalOnce.Do(func() {
		s.closeSocket()
		s.mu.Lock()
		d := s.disp
		s.mu.Unlock()
		if c, ok := d.(io.Closer); ok {
			go func() {
				s.waitRequests()
				c.Close()
			}()
		}
	})
}

// String describes the server: "socketserver tcp 127.0.0.1:6254".
func (s *Server) String() string {
	a := s.Address()
	if a == nil {
		return "socketserver " + s.Network + " " + s.Addr + " (unbound)"
	}
	return "socketserver " + strings.TrimSpace(s.network()) + " " + a.String()
}
