package socketserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/socketkit/socketkit/proxyproto"
	"github.com/socketkit/socketkit/socket"
)

// ErrServerClosed is returned by Serve, ServeForever and HandleRequest
// after Shutdown or Close.
var ErrServerClosed = errors.New("socketserver: server closed")

// ErrTimeout is returned by HandleRequest when no request arrives within
// the server's Timeout (after OnTimeout has run).
var ErrTimeout = errors.New("socketserver: timed out waiting for a request")

// PanicError is what a handler's panic becomes: the server recovers it,
// passes it to ErrorHandler (which logs it by default) and keeps serving.
type PanicError struct {
	Value any    // the value passed to panic
	Stack []byte // the goroutine's stack at the panic
}

// Error returns "handler panicked: VALUE".
func (e *PanicError) Error() string {
	return fmt.Sprintf("socketserver: handler panicked: %v", e.Value)
}

// Unwrap returns the panic value if it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Request is one request: a connection on a stream server, one datagram
// on a datagram server.
//
// Python: the handler's request, client_address and server attributes.
type Request struct {
	// Conn is the connection of a stream request, as the handler should use
	// it: the *Conn that applies the server's timeouts and counts bytes, or
	// the *tls.Conn around it when the server has a TLSConfig. It is nil for
	// a datagram request.
	Conn net.Conn
	// Socket is the request's socket, never nil: the accepted connection of
	// a stream request (the socket under Conn); the server's own socket for
	// a datagram request (reply with Reply, or Socket.Sendto(b, 0,
	// ClientAddr)). I/O on it bypasses the server's timeouts, byte counts
	// and TLS.
	Socket *socket.Socket
	// Packet is the datagram of a datagram request. It is only valid until
	// the handler returns: the server reuses the buffer.
	Packet []byte
	// ClientAddr is the peer's address.
	ClientAddr socket.Sockaddr
	// Server is the server that received the request.
	Server *Server
	// Proxy is the PROXY protocol header the connection began with, when
	// the server has ProxyProtocol and required one; ClientAddr is then
	// the client it names. Nil otherwise.
	Proxy *proxyproto.Header

	ctx          context.Context // &rctx
	rctx         requestContext
	cancel       context.CancelFunc
	start        time.Time
	tc           *Conn
	proxyPending bool    // the PROXY header is still to be read
	packetBuf    *[]byte // Packet's buffer, back to the pool when the request ends
}

// Context returns the request's context, the one the handler gets: canceled
// when the request ends, when the server is closed or its Shutdown
// deadline passes, and when RequestTimeout runs out.
func (r *Request) Context() context.Context { return r.ctx }

// requestContext is a request's context: it carries the request, so that
// Shutdown and Close called with it (or a context derived from it) know
// which request their caller serves. It lives inside the Request: no
// allocation of its own.
type requestContext struct {
	context.Context
	r *Request
}

type requestKey struct{}

// Value returns the request for requestKey, else what the parent holds.
func (c *requestContext) Value(key any) any {
	if key == (requestKey{}) {
		return c.r
	}
	return c.Context.Value(key)
}

// requestOf returns the request ctx belongs to, or nil.
func requestOf(ctx context.Context) *Request {
	if ctx == nil {
		return nil
	}
	r, _ := ctx.Value(requestKey{}).(*Request)
	return r
}

// Reply sends b to the client of a datagram request as one datagram.
func (r *Request) Reply(b []byte) error {
	if r.Conn != nil {
		_, err := r.Conn.Write(b)
		return err
	}
	return r.SendTo(b, r.ClientAddr)
}

// SendTo sends b as one datagram to addr from the server's socket (on a
// datagram server), counted in Stats like a Reply.
func (r *Request) SendTo(b []byte, addr socket.Sockaddr) error {
	_, err := r.Socket.Sendto(b, 0, addr)
	if err == nil {
		r.Server.st.bytesOut.Add(uint64(len(b)))
	}
	return err
}

// Handler handles one request. The server calls Handle on the goroutine
// the Dispatcher chooses (Synchronous: Serve's own), then closes a stream
// request's connection. If the handler also implements SetupHandler or
// Finisher, Setup runs before Handle (a Setup error skips Handle) and
// Finish runs after, always: after an error, and after a panic. A handler
// may call Shutdown or Close of its own server (see Server.Shutdown).
//
// Python: socketserver.BaseRequestHandler and its handle() method.
type Handler interface {
	Handle(ctx context.Context, r *Request) error
}

// SetupHandler is a Handler with a setup stage. Python:
// BaseRequestHandler.setup.
type SetupHandler interface {
	Setup(ctx context.Context, r *Request) error
}

// Setupper is the former name of SetupHandler.
//
// Deprecated: use SetupHandler.
type Setupper = SetupHandler

// Finisher is a Handler with a finish stage that always runs. Python:
// BaseRequestHandler.finish.
type Finisher interface {
	Finish(ctx context.Context, r *Request) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, r *Request) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, r *Request) error { return f(ctx, r) }

// errNilContext is what Serve, HandleRequest and Shutdown return for a nil
// context.Context (the standard library would panic).
var errNilContext = errors.New("socketserver: nil context.Context (use context.Background())")

// checkHandler rejects a handler that would panic on the first request: a
// nil Handler, a nil HandlerFunc, a nil *StreamHandler or *DatagramHandler
// or one whose Func is nil, or any other nil pointer.
func checkHandler(h Handler) error {
	switch h := h.(type) {
	case nil:
		return errors.New("socketserver: nil Handler")
	case HandlerFunc:
		if h == nil {
			return errors.New("socketserver: nil HandlerFunc")
		}
	case *StreamHandler:
		if h == nil || h.Func == nil {
			return errors.New("socketserver: StreamHandler with a nil Func")
		}
	case *DatagramHandler:
		if h == nil || h.Func == nil {
			return errors.New("socketserver: DatagramHandler with a nil Func")
		}
	default:
		if v := reflect.ValueOf(h); (v.Kind() == reflect.Pointer || v.Kind() == reflect.Func) && v.IsNil() {
			return fmt.Errorf("socketserver: nil %T Handler", h)
		}
	}
	return nil
}

// checkCall is the argument check of Serve and HandleRequest.
func checkCall(ctx context.Context, h Handler) error {
	if ctx == nil {
		return errNilContext
	}
	return checkHandler(h)
}

// StreamRequest is what a StreamHandler's function gets: the request, a
// buffered reader on the connection and a writer to it.
//
// Python: StreamRequestHandler's rfile and wfile.
type StreamRequest struct {
	*Request
	// R reads the connection through a buffer of ReadBufferSize bytes.
	R *bufio.Reader
	// W writes to the connection: directly (WriteBufferSize 0, the
	// default), or through a buffer that is flushed when the function
	// returns.
	W io.Writer
}

// StreamHandler is a Handler for stream servers that gives its function a
// buffered reader and a writer, as Python's StreamRequestHandler does.
type StreamHandler struct {
	// Func handles the request.
	Func func(ctx context.Context, r *StreamRequest) error
	// ReadBufferSize is the size of R's buffer; 0 means 8192 (Python's
	// rbufsize = -1, io.DEFAULT_BUFFER_SIZE). Reads are buffered because
	// protocols read lines.
	ReadBufferSize int
	// WriteBufferSize is the size of W's buffer; 0 (the default, as in
	// Python) writes straight to the connection, so a handler's replies
	// are never held back. A buffer is flushed when Func returns; errors
	// of that final flush from a peer that went away are ignored.
	WriteBufferSize int
	// NoDelay sets TCP_NODELAY, for small writes that must go at once.
	// Python: disable_nagle_algorithm.
	NoDelay bool
	// Timeout, if set, makes each read and write on the connection fail
	// after that long. Python: timeout.
	Timeout time.Duration
}

// Stream returns a StreamHandler with default settings that calls f.
func Stream(f func(ctx context.Context, r *StreamRequest) error) *StreamHandler {
	return &StreamHandler{Func: f}
}

// Handle sets the connection up as configured, calls Func and flushes W.
func (h *StreamHandler) Handle(ctx context.Context, r *Request) error {
	if r.Conn == nil {
		return errors.New("socketserver: StreamHandler on a datagram server")
	}
	if h.NoDelay && r.Socket.Type() == socket.SOCK_STREAM && r.Socket.Family() != socket.AF_UNIX {
		r.Socket.SetNoDelay(true)
	}
	conn := r.Conn
	if h.Timeout > 0 {
		conn = &opTimeoutConn{Conn: r.Conn, d: h.Timeout}
	}
	rsize := h.ReadBufferSize
	if rsize <= 0 {
		rsize = 8192
	}
	sr := &StreamRequest{Request: r, R: bufio.NewReaderSize(conn, rsize), W: conn}
	var bw *bufio.Writer
	if h.WriteBufferSize > 0 {
		bw = bufio.NewWriterSize(conn, h.WriteBufferSize)
		sr.W = bw
	}
	err := h.Func(ctx, sr)
	if bw != nil {
		if ferr := bw.Flush(); ferr != nil && err == nil && !peerGone(ferr) {
			err = ferr
		}
	}
	return err
}

// opTimeoutConn gives each read and write its own deadline, now + d:
// StreamHandler.Timeout, on any kind of connection.
type opTimeoutConn struct {
	net.Conn
	d time.Duration
}

func (c *opTimeoutConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.d))
	return c.Conn.Read(p)
}

func (c *opTimeoutConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.d))
	return c.Conn.Write(p)
}

// peerGone reports whether err only says the peer went away.
func peerGone(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF)
}

// DatagramRequest is what a DatagramHandler's function gets: the packet as
// a reader and a buffer for the reply.
//
// Python: DatagramRequestHandler's rfile and wfile.
type DatagramRequest struct {
	*Request
	// R reads the datagram.
	R *bytes.Reader
	// W collects the reply, sent to the client as one datagram when Func
	// returns nil.
	W *bytes.Buffer
}

// DatagramHandler is a Handler for datagram servers that gives its
// function the packet as a reader and a reply buffer, as Python's
// DatagramRequestHandler does.
//
// The reply is sent when Func returns nil and W is not empty. An empty W
// sends nothing: a zero-length datagram is a real packet that a client
// would read as an empty message, so a handler that has nothing to say
// (discard) stays silent. Python sends the empty datagram; set ReplyEmpty
// to do the same. When Func returns an error, nothing is sent.
type DatagramHandler struct {
	// Func handles the datagram.
	Func func(ctx context.Context, r *DatagramRequest) error
	// ReplyEmpty sends a zero-length datagram when W is empty.
	ReplyEmpty bool
}

// Datagram returns a DatagramHandler that calls f.
func Datagram(f func(ctx context.Context, r *DatagramRequest) error) *DatagramHandler {
	return &DatagramHandler{Func: f}
}

// Handle calls Func, then sends the reply.
func (h *DatagramHandler) Handle(ctx context.Context, r *Request) error {
	if r.Conn != nil {
		return errors.New("socketserver: DatagramHandler on a stream server")
	}
	dr := &DatagramRequest{Request: r, R: bytes.NewReader(r.Packet), W: new(bytes.Buffer)}
	if err := h.Func(ctx, dr); err != nil {
		return err
	}
	if dr.W.Len() == 0 && !h.ReplyEmpty {
		return nil
	}
	return r.Reply(dr.W.Bytes())
}

// callSafely runs f, turning a panic into a *PanicError.
func callSafely(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	return f()
}
