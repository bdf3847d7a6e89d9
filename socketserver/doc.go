// Package socketserver is Python's socketserver module in Go: servers that
// take care of sockets, accepting, concurrency and shutdown, so that a
// network service is a handler and a constructor.
//
// # Design
//
// Python's module has three independent axes, and so does this package:
//
//	transport    which socket the server reads requests from
//	             -> the constructor (or the Network field):
//	                NewTCPServer, NewUDPServer, NewUnixStreamServer,
//	                NewUnixDatagramServer, NewUnixSeqpacketServer,
//	                NewDualStackTCPServer, NewDualStackUDPServer
//	concurrency  where each request runs
//	             -> a Dispatcher value: Synchronous, Goroutines,
//	                WorkerPool(n); and in which processes: this one, or
//	                worker processes with Prefork
//	handler      what is done with a request
//	             -> a Handler: HandlerFunc, StreamHandler, DatagramHandler,
//	                or your own type, with optional Setup and Finish stages
//
// A request is a connection on a stream server (TCP, Unix stream, Unix
// seqpacket) and one datagram on a datagram server (UDP, Unix datagram).
// Each request goes through the stages Python names, in the same order:
// get_request (accept or recvfrom), verify_request (VerifyRequest),
// process_request (the Dispatcher), finish_request (Setup, Handle, Finish)
// and shutdown_request (stop sending, drain, close).
//
// # Lifecycle
//
// The lifecycle follows net/http.Server. Serve (or ServeForever) runs until
// Shutdown or Close and then returns ErrServerClosed. Shutdown stops
// accepting at once (the blocked accept returns; nothing polls), waits for
// the requests in flight until its context ends, then closes what is left.
// Close stops everything at once, and releases a Shutdown that waits.
// HandleRequest serves exactly one request, waiting at most Timeout and
// calling OnTimeout when it runs out. A handler's error or panic goes to
// ErrorHandler (logged with log/slog by default) and the server goes on
// serving. Accept errors that are a passing shortage (EMFILE, ENFILE,
// ENOBUFS, ENOMEM) are retried with a back-off from 5ms to 1s instead of
// spinning or stopping; any other error ends Serve and is returned.
//
// A handler may call Shutdown or Close of its own server (an admin
// protocol's "quit"), on every Dispatcher and with Prefork: the call does
// not wait for its caller's request, which counts as done when its handler
// returns (see Server.Shutdown for the whole rule). Python's shutdown()
// deadlocks when called from the serving thread (bpo-39797).
//
// # Choosing a dispatcher
//
// The Dispatcher decides only where a request runs:
//
//	Synchronous    one request at a time on the serving goroutine. For quick
//	               requests, datagram services and tests. The default.
//	Goroutines     a goroutine per request, optionally at most MaxConcurrent
//	               at once. The general choice for connections that live a
//	               while.
//	WorkerPool(n)  n long-lived goroutines and a short queue: a hard bound on
//	               concurrency and memory, with back-pressure into the
//	               kernel's listen queue.
//
// Setting Server.Prefork serves from several worker processes that share
// the listening socket, each running requests with the Dispatcher; see
// Prefork for how it differs from Python's forking. For a server on the
// epoll event-loop engine, write an eventloop.Handler and run an
// eventloop.Engine (eventloop.Blocking runs a net.Conn handler there).
//
// # Python to Go
//
//	Python                                Go
//	BaseServer                            Server
//	TCPServer(addr, Handler)              NewTCPServer(addr, h)
//	UDPServer                             NewUDPServer
//	UnixStreamServer                      NewUnixStreamServer
//	UnixDatagramServer                    NewUnixDatagramServer
//	(no Python class)                     NewUnixSeqpacketServer, NewDualStackTCPServer, NewDualStackUDPServer
//	ThreadingMixIn                        &Goroutines{} (MaxConcurrent bounds it)
//	ForkingMixIn                          Server.Prefork = &Prefork{} (worker processes; see Prefork)
//	ThreadingTCPServer, ThreadingUDPServer NewThreadingTCPServer, NewThreadingUDPServer
//	ThreadingUnixStreamServer, ...Datagram NewThreadingUnixStreamServer, NewThreadingUnixDatagramServer
//	ForkingTCPServer, ForkingUDPServer    NewForkingTCPServer, NewForkingUDPServer
//	bind_and_activate=False               &Server{Network, Addr, Handler}; set fields; Bind(); Activate()
//	server_address                        Addr (requested), Address() (bound)
//	RequestHandlerClass                   Handler
//	socket                                Socket()
//	fileno()                              Fd()
//	address_family, socket_type           Network ("tcp", "udp6", "unixgram"...)
//	request_queue_size                    Backlog (0: SOMAXCONN)
//	allow_reuse_address                   AllowReuseAddress
//	allow_reuse_port                      AllowReusePort
//	timeout                               Timeout
//	max_packet_size                       MaxPacketSize (0: 8192)
//	block_on_close                        BlockOnClose (default false; see its doc)
//	daemon_threads                        BlockOnClose false
//	max_children, active_children         Prefork.MaxChildren, Prefork.ActiveChildren()
//	serve_forever(poll_interval)          ServeForever(), Serve(ctx)
//	shutdown()                            Shutdown(ctx) (also from a handler)
//	server_close()                        Close()
//	handle_request()                      HandleRequest(ctx)
//	server_bind()                         Bind(); Control for socket options
//	server_activate()                     Activate()
//	get_request()                         (internal stage)
//	verify_request(request, addr)         VerifyRequest func(*Request) bool
//	process_request(request, addr)        Dispatcher
//	finish_request(request, addr)         (internal stage: Setup, Handle, Finish)
//	shutdown_request, close_request       (internal stage, with lingering close)
//	handle_error(request, addr)           ErrorHandler func(*Request, error); Logger
//	handle_timeout()                      OnTimeout func()
//	service_actions()                     ServiceActions func(), every PollInterval
//	BaseRequestHandler                    Handler (HandlerFunc); SetupHandler, Finisher
//	self.request, client_address, server  Request.Conn / Request.Socket / Request.Packet, Request.ClientAddr, Request.Server
//	setup(), handle(), finish()           Setup, Handle, Finish (Finish always runs)
//	StreamRequestHandler                  StreamHandler (Stream(f))
//	rfile, wfile                          StreamRequest.R (*bufio.Reader), StreamRequest.W
//	rbufsize, wbufsize                    StreamHandler.ReadBufferSize, WriteBufferSize
//	disable_nagle_algorithm               StreamHandler.NoDelay
//	StreamRequestHandler.timeout          StreamHandler.Timeout
//	DatagramRequestHandler                DatagramHandler (Datagram(f))
//	packet, socket; rfile, wfile          Request.Packet, Request.Socket; DatagramRequest.R, W
//	with server: ...                      defer srv.Close()
//
// Beyond Python: MaxConnections, IdleTimeout, ReadTimeout, WriteTimeout,
// RequestTimeout (an absolute bound against slowloris clients),
// LingerTimeout, TLSConfig, ProxyProtocol (the real client's address from
// a PROXY protocol header, behind HAProxy or a load balancer), Stats(),
// RemoveStale, DualStack.
//
// # What Python gets wrong, and what this package does instead
//
//   - serve_forever polls a flag every 0.5s; Shutdown here wakes the loop at
//     once by closing the listening socket (or, on a datagram server,
//     expiring its read deadline so that replies in flight can still go).
//   - ThreadingMixIn starts threads without bound; Goroutines has
//     MaxConcurrent and WorkerPool a fixed size.
//   - handle_error prints a traceback to stderr; ErrorHandler and log/slog
//     here, and the server keeps serving.
//   - An exception in get_request or a slow handler can stall the loop;
//     here temporary accept errors back off, and handlers run under the
//     Dispatcher you choose, with timeouts.
//   - shutdown() called from a handler (the serving thread) deadlocks
//     (bpo-39797); Shutdown and Close here may be called from a handler.
//   - fork() is unsafe in a Go process; Prefork re-executes the binary.
//
// # Differences from Python by design
//
// The package keeps a port of the test methods of CPython 3.11's
// Lib/test/test_socketserver.py (cpython_test.go, one Go test per method,
// named after it; testdata/cpython-conformance.md maps every method to its
// test or to the reason below). These behave differently on purpose:
//
//   - A handler cannot stop the server by failing: Python lets SystemExit
//     and KeyboardInterrupt pass handle_error and end serve_forever; here a
//     handler's error or panic always goes to ErrorHandler and the server
//     serves on (ErrorHandlerTest.test_sync_not_handled,
//     test_threading_not_handled, test_forking_not_handled). A handler that
//     means to stop the server calls Shutdown or Close.
//   - The Forking servers are Prefork servers: long-lived worker processes
//     that re-execute the binary, not a fork per request (see Prefork). They
//     pass the Forking tests.
//
// # Sockets from elsewhere
//
// A server can serve a socket it did not create: Adopt takes a socket
// inherited from systemd's socket activation (descriptors from 3 on, as
// LISTEN_FDS and LISTEN_FDNAMES say) or from the process this one
// replaces, wrapped with socket.NewFd. It takes a listening stream socket
// or a bound datagram socket, listens on a bound stream socket that does
// not yet, and refuses a connected one (systemd's Accept=yes passes one
// connection, which a program serves itself). A restart without refused
// connections is then: the old process hands its socket down (socket.File
// in exec.Cmd.ExtraFiles), the new one adopts it and serves, and the old
// one calls Shutdown, which stops accepting at once and waits for its
// requests; connections queued meanwhile belong to the socket, which the
// new process holds. With Prefork the workers share the socket the
// parent adopted. ExampleServer_Adopt shows the handover in one process.
//
// The package reads no environment variable for this and depends on
// nothing beyond golang.org/x/sys: the activation protocol (checking
// LISTEN_PID, naming the descriptors) is a few lines a program takes from
// github.com/coreos/go-systemd/v22/activation, as the sock command does,
// or writes itself.
package socketserver
