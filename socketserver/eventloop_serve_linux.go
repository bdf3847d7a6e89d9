//go:build linux

package socketserver

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"time"

	"github.com/socketkit/socketkit/socket"
	"github.com/socketkit/socketkit/eventloop"
)

// serveEngine runs a stream server on the event-loop engine.
func (s *Server) serveEngine(ctx context.Context, d *EventLoop) error {
	eng := &eventloop.Engine{Loops: d.Loops, Logger: s.Logger}
	eng.Handler = newReserving(s, eventloop.Blocking(ctx, func(hctx context.Context, nc net.Conn) {
		s.engineRequest(hctx, nc)
	}))
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	d.engine = eng
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	if s.ServiceActions != nil {
		go s.runServiceActions()
	}
	err := eng.Serve(s.sock)
	if errors.Is(err, eventloop.ErrEngineClosed) || s.isClosing() {
		return ErrServerClosed
	}
	return err
}

// engineRequest is the request pipeline for a connection the engine
// accepted, on the connection's own goroutine.
func (s *Server) engineRequest(ctx context.Context, nc net.Conn) {
	defer s.release() // the reservation made when the engine accepted nc
	var peer socket.Sockaddr
	if ra := nc.RemoteAddr(); ra != nil {
		peer, _ = socket.FromNetAddr(ra)
	}
	s.stats.accepted.Add(1)
	r := s.newRequest(ctx, peer)
	if !s.track(r, true) {
		nc.Close()
		r.cancel()
		return
	}
	defer s.untrack(r)
	if s.MaxConnections > 0 && int(s.stats.active.Load()) > s.MaxConnections {
		s.stats.rejected.Add(1)
		nc.Close()
		return
	}
	ec := &engineConn{Conn: nc, srv: s}
	if s.RequestTimeout > 0 {
		ec.hard = r.start.Add(s.RequestTimeout)
		nc.SetDeadline(ec.hard)
	}
	if !s.proxyPolicy(r, nc, ec.hard, &ec.proxied) {
		nc.Close()
		return
	}
	r.Conn = ec
	if s.TLSConfig != nil {
		r.Conn = tls.Server(ec, s.TLSConfig)
	}
	if !s.verifyRequest(r) {
		s.stats.rejected.Add(1)
		nc.Close()
		return
	}
	if err := s.finishRequest(r); err != nil {
		s.handleError(r, err)
	}
	// shutdown_request: stop sending, drain briefly, close.
	if tc, ok := r.Conn.(*tls.Conn); ok {
		tc.SetWriteDeadline(time.Now().Add(time.Second))
		tc.CloseWrite()
	}
	ec.CloseWrite()
	nc.Close()
}

// reserving counts a connection in flight on the loop that accepts it,
// before its goroutine starts, so that Shutdown, which stops the engine
// accepting and then waits for the requests in flight, cannot see zero
// while a request is on its way. The rest goes to Blocking's handler.
type reserving struct {
	s   *Server
	h   eventloop.Handler
	eof eventloop.EOFHandler
	wr  eventloop.Writabler
}

func newReserving(s *Server, h eventloop.Handler) *reserving {
	return &reserving{s: s, h: h, eof: h.(eventloop.EOFHandler), wr: h.(eventloop.Writabler)}
}

func (r *reserving) OnOpen(c *eventloop.Conn) eventloop.Action {
	r.s.reserve()
	return r.h.OnOpen(c)
}

func (r *reserving) OnData(c *eventloop.Conn) eventloop.Action     { return r.h.OnData(c) }
func (r *reserving) OnEOF(c *eventloop.Conn) eventloop.Action      { return r.eof.OnEOF(c) }
func (r *reserving) OnWritable(c *eventloop.Conn) eventloop.Action { return r.wr.OnWritable(c) }
func (r *reserving) OnClose(c *eventloop.Conn, err error)          { r.h.OnClose(c, err) }
