package socketserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/socketkit/socketkit/socket"
)

// The request pipeline, in the stages Python names: get_request,
// verify_request, process_request, finish_request, shutdown_request. Every
// request is tracked from the moment it is taken from the kernel until its
// connection is closed, so that Shutdown knows what is in flight.

// handleOne runs verify_request and process_request for r.
func (s *Server) handleOne(ctx context.Context, r *Request) {
	if !s.verifyRequest(r) {
		s.st.rejected.Add(1)
		s.untrack(r)
		s.shutdownRequest(r)
		return
	}
	s.processRequest(r)
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

// waitRequest is getRequest bounded by ctx, for HandleRequest.
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

// streamRequest wraps an accepted connection as a request, applying
// MaxConnections, RequestTimeout, the PROXY policy and TLS. It returns
// (nil, nil) when the connection is turned away. byServeLoop says that
// Serve's loop took it from the kernel (see track).
func (s *Server) streamRequest(ctx context.Context, c *socket.Socket, peer socket.Sockaddr, byServeLoop bool) (*Request, error) {
	s.st.accepted.Add(1)
	r := s.newRequest(ctx, peer)
	r.Socket = c
	if !s.track(r, byServeLoop) {
		c.Close()
		r.cancel()
		return nil, ErrServerClosed
	}
	if s.MaxConnections > 0 && int(s.st.active.Load()) > s.MaxConnections {
		s.st.rejected.Add(1)
		s.untrack(r)
		c.Close() // after untrack: once the peer sees the close, Stats agree
		return nil, nil
	}
	r.tc = &Conn{Socket: c, srv: s}
	if s.RequestTimeout > 0 {
		r.tc.requestDeadline = r.start.Add(s.RequestTimeout)
		c.SetDeadline(r.tc.requestDeadline) // bounds raw Recv/Send too
	}
	if !s.proxyPolicy(r, r.tc) {
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

// getDatagram receives one datagram as a request. It returns (nil, nil)
// for a datagram over MaxPacketSize, which is dropped and counted.
func (s *Server) getDatagram(ctx context.Context, byServeLoop bool) (*Request, error) {
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
	s.st.accepted.Add(1)
	s.st.bytesIn.Add(uint64(n))
	if n > size {
		s.st.truncated.Add(1)
		s.pktPool.Put(bp)
		s.logger().Debug("socketserver: datagram longer than MaxPacketSize dropped", "len", n, "max", size, "from", from)
		return nil, nil
	}
	r := s.newRequest(ctx, from)
	r.Socket = s.sock
	r.Packet = buf[:n]
	if !s.track(r, byServeLoop) {
		s.pktPool.Put(bp)
		r.cancel()
		return nil, ErrServerClosed
	}
	r.packetBuf = bp
	return r, nil
}

func (s *Server) newRequest(ctx context.Context, peer socket.Sockaddr) *Request {
	r := &Request{ClientAddr: peer, Server: s, start: time.Now()}
	var rctx context.Context
	if s.RequestTimeout > 0 {
		rctx, r.cancel = context.WithDeadline(ctx, r.start.Add(s.RequestTimeout))
	} else {
		rctx, r.cancel = context.WithCancel(ctx)
	}
	r.rctx = requestContext{Context: rctx, r: r}
	r.ctx = &r.rctx
	return r
}

// track registers r as in flight. Once shutdown has begun it fails, so
// that nothing is added after Shutdown starts waiting, except for Serve's
// loop (byServeLoop): a connection it has already taken from the kernel is
// served, not dropped, and Shutdown waits for the loop to return before it
// waits for requests.
func (s *Server) track(r *Request, byServeLoop bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing && !byServeLoop {
		return false
	}
	s.active[r] = struct{}{}
	s.st.active.Add(1)
	return true
}

// untrack ends r's time in flight: its context is canceled, its packet
// buffer returned, and a Shutdown waiting for it is told.
func (s *Server) untrack(r *Request) {
	r.cancel()
	if r.packetBuf != nil {
		s.pktPool.Put(r.packetBuf)
		r.packetBuf = nil
	}
	s.mu.Lock()
	_, ok := s.active[r]
	if ok {
		delete(s.active, r)
		s.st.active.Add(-1)
		s.notifyLocked()
		if len(s.active) == 0 && s.finalPending {
			s.finalPending = false
			go s.finalClose()
		}
	}
	s.mu.Unlock()
	if ok {
		select {
		case s.freed <- struct{}{}:
		default:
		}
	}
}

// verifyRequest asks VerifyRequest. Python: verify_request. Its frame
// marks a goroutine that runs user code for a request (see caller).
//
//go:noinline
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
func (s *Server) processRequest(r *Request) {
	if err := s.disp.Dispatch(s.dispatchCtx, func() { s.runRequest(r) }); err != nil {
		s.shutdownRequest(r)
		s.untrack(r)
	}
}

// runRequest is a dispatched request's job: finish_request, then
// shutdown_request. Its frame marks a goroutine that runs a handler (see
// caller); running counts it.
//
//go:noinline
func (s *Server) runRequest(r *Request) {
	s.running.Add(1)
	defer s.untrack(r)
	defer s.running.Add(-1)
	if err := s.finishRequest(r); err != nil {
		s.handleError(r, err)
	}
	s.shutdownRequest(r)
}

// finishRequest runs the handler: Setup, Handle, Finish, recovering
// panics. Python: finish_request (instantiating the handler class).
func (s *Server) finishRequest(r *Request) error {
	if r.proxyPending {
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
		if su, ok := h.(SetupHandler); ok {
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
	s.st.errors.Add(1)
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
