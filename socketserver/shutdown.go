package socketserver

import (
	"context"
	"os"
	"reflect"
	"runtime"
)

// Shutdown stops the server gracefully: it stops accepting at once (no
// polling interval), waits for the requests in flight to finish, then
// closes the socket. If ctx ends first, it closes the remaining requests
// (their contexts are canceled and their connections closed) and returns
// ctx's error. If Close is called while Shutdown waits, Shutdown returns
// ErrServerClosed at once. Python: shutdown(), which only stops the loop.
//
// Shutdown may be called from a handler of this server (Handle, Setup,
// Finish, VerifyRequest, ErrorHandler; the "quit" command of an admin
// protocol), on every Dispatcher. It cannot wait for its caller's own
// request, so it waits for the other requests that are running; the
// caller's request counts as done when its handler returns, and the
// server's socket is closed then (a datagram handler can still Reply).
// Requests that were accepted but have not started (queued behind the
// caller in the Dispatcher) are served after the caller returns, before
// Serve returns: with the Synchronous dispatcher, Serve returns once the
// calling handler has returned. In a Prefork worker, Shutdown from a
// handler shuts down the whole server: the worker asks its parent, which
// stops every worker gracefully.
//
// Go has no goroutine identity, so Shutdown recognizes a handler by the
// request in ctx (the handler's ctx, or one derived from it), or else by
// the server's own frame that runs user code on the caller's stack
// (runtime.Callers); in the second case a handler of another server is
// taken for one of this server's while this server has a request in
// flight. A handler that shuts down another server should pass its ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	if ctx == nil {
		return errNilContext
	}
	c := s.enter(ctx)
	defer s.leave(c)
	if c.handler && s.child != nil {
		s.child.ask(askShutdown)
	}
	s.beginClose()
	err := s.waitIdle(ctx, c, true)
	if err != nil && err != ErrServerClosed {
		s.frontendNow().stop()
	}
	s.finalCloseFor(c)
	return err
}

// Close stops the server at once: it closes the socket and every open
// connection and cancels the handlers' contexts, and releases a Shutdown
// that is waiting. With BlockOnClose it then waits for the handlers to
// return (except its caller's, when a handler calls it: see Shutdown). In
// a Prefork parent it kills the workers; from a handler in a worker it
// asks the parent to. Python: server_close().
func (s *Server) Close() error {
	if s == nil {
		return os.ErrInvalid // as (*os.File).Close: srv, err := New(...); defer srv.Close()
	}
	c := s.enter(nil)
	defer s.leave(c)
	if c.handler && s.child != nil {
		s.child.ask(askClose)
	}
	s.beginClose()
	s.mu.Lock()
	s.closed = true
	s.notifyLocked()
	s.mu.Unlock()
	s.frontendNow().stop()
	if s.BlockOnClose {
		s.waitIdle(context.Background(), c, false)
	}
	s.finalCloseFor(c)
	return nil
}

// caller is who called Shutdown or Close.
type caller struct {
	// handler: a handler of this server, whose request cannot end before
	// the call returns.
	handler bool
}

// enter finds out whether the caller of Shutdown or Close serves one of
// this server's requests, and if so counts it in excluded until leave.
func (s *Server) enter(ctx context.Context) caller {
	r := requestOf(ctx)
	inRequest := r == nil && calledFromRequest()
	s.mu.Lock()
	defer s.mu.Unlock()
	var c caller
	switch {
	case r != nil:
		_, running := s.active[r]
		c.handler = r.Server == s && running
	case inRequest:
		c.handler = len(s.active) > s.excluded
	}
	if c.handler {
		s.excluded++
		s.notifyLocked()
	}
	return c
}

func (s *Server) leave(c caller) {
	if c.handler {
		s.mu.Lock()
		s.excluded--
		s.notifyLocked()
		s.mu.Unlock()
	}
}

// beginClose stops taking requests, once: the blocked accept or receive
// returns at once.
func (s *Server) beginClose() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	s.closing = true
	if s.done == nil {
		s.done = make(chan struct{})
	}
	close(s.done)
	s.frontend().stopAccepting()
}

func (s *Server) frontendNow() frontend {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.frontend()
}

// waitIdle waits until the frontend has nothing left to wait for on c's
// behalf, or ctx ends (ctx's error), or, if closable, Close is called
// (ErrServerClosed).
func (s *Server) waitIdle(ctx context.Context, c caller, closable bool) error {
	s.mu.Lock()
	for {
		if s.frontend().idle(c) {
			s.mu.Unlock()
			return nil
		}
		if closable && s.closed {
			s.mu.Unlock()
			return ErrServerClosed
		}
		ch := s.changedLocked()
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu.Lock()
	}
}

// waitRequests waits until no request is in flight.
func (s *Server) waitRequests() {
	s.mu.Lock()
	for len(s.active) > 0 {
		ch := s.changedLocked()
		s.mu.Unlock()
		<-ch
		s.mu.Lock()
	}
	s.mu.Unlock()
}

// changedLocked returns a channel that notifyLocked closes; s.mu is held.
func (s *Server) changedLocked() chan struct{} {
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed
}

// notifyLocked wakes whoever waits in waitIdle or waitRequests to look
// again; s.mu is held. It costs nothing when no one waits.
func (s *Server) notifyLocked() {
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// finalCloseFor runs finalClose now, or, when c is a handler whose request
// is still in flight, when the last request ends.
func (s *Server) finalCloseFor(c caller) {
	if c.handler {
		s.mu.Lock()
		if len(s.active) > 0 {
			s.finalPending = true
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
	s.finalClose()
}

// closeRequests closes every open request and cancels its context, and
// stops dispatchers from waiting for room.
func (s *Server) closeRequests() {
	s.mu.Lock()
	if s.stopDispatch != nil {
		s.stopDispatch()
	}
	reqs := make([]*Request, 0, len(s.active))
	for r := range s.active {
		reqs = append(reqs, r)
	}
	s.mu.Unlock()
	for _, r := range reqs {
		r.cancel()
		if r.Socket != nil && r.Socket != s.sock {
			r.Socket.Close()
		}
	}
}

// requestFrames are the functions under which user code runs for a
// request: the dispatched job and VerifyRequest.
var requestFrames = map[string]bool{
	funcName((*Server).runRequest):    true,
	funcName((*Server).verifyRequest): true,
}

func funcName(f any) string {
	return runtime.FuncForPC(reflect.ValueOf(f).Pointer()).Name()
}

// calledFromRequest reports whether the calling goroutine is running user
// code for a request of some Server: a handler, Setup, Finish,
// ErrorHandler or VerifyRequest.
func calledFromRequest() bool {
	pcs := make([]uintptr, 64)
	for {
		n := runtime.Callers(3, pcs)
		if n < len(pcs) {
			pcs = pcs[:n]
			break
		}
		pcs = make([]uintptr, 2*len(pcs))
	}
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		if requestFrames[f.Function] {
			return true
		}
		if !more {
			return false
		}
	}
}
