package socketserver

import (
	"context"
	"errors"
	"syscall"
	"time"

	"github.com/socketkit/socketkit/socket"
)

// acceptLoop is the frontend of a server that takes its requests in this
// process: Serve's goroutine accepts (or receives) and hands each request
// to the Dispatcher.
type acceptLoop struct{ s *Server }

func (a acceptLoop) serve(ctx context.Context) error {
	s := a.s
	defer s.loopDone()
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	if s.ServiceActions != nil {
		go s.runServiceActions()
	}
	return s.loop(ctx)
}

// stopAccepting wakes the loop at once: the listening socket is closed, or,
// on a datagram server, its read deadline expired, so that the replies of
// requests in flight can still go out on it.
func (a acceptLoop) stopAccepting() {
	s := a.s
	if s.sock == nil {
		return
	}
	if s.typ == socket.SOCK_DGRAM {
		s.sock.SetReadDeadline(time.Unix(1, 0))
	} else {
		s.sock.Close()
	}
}

// idle reports whether a Shutdown by c may return: for a handler of this
// server, when no other request is running (requests still waiting for the
// Dispatcher cannot start before the caller returns, so they are served
// after); for any other caller, when the loop has returned and no request
// is in flight.
func (a acceptLoop) idle(c caller) bool {
	s := a.s
	if c.handler {
		return s.running.Load() <= int64(s.excluded)
	}
	return !s.looping && len(s.active) == 0
}

func (a acceptLoop) stop()           { a.s.closeRequests() }
func (a acceptLoop) addStats(*Stats) {}

// loop is the accept loop of a stream server or the receive loop of a
// datagram server.
func (s *Server) loop(ctx context.Context) error {
	if s.typ == socket.SOCK_DGRAM {
		return s.serveDatagrams(ctx)
	}
	return s.serveStream(ctx)
}

// loopDone records that Serve's loop has returned.
func (s *Server) loopDone() {
	s.mu.Lock()
	s.looping = false
	s.notifyLocked()
	s.mu.Unlock()
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
			// ECONNREFUSED: an ICMP error for an earlier reply.
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

// temporary reports whether an accept or receive error is a shortage that
// passes (descriptors, buffers, memory) rather than a broken server.
// (socket.Accept itself retries EINTR and ECONNABORTED, and the server's
// socket is blocking, so EAGAIN does not come back.)
func temporary(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM} {
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
	s.st.acceptErrors.Add(1)
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

// runServiceActions calls ServiceActions every PollInterval until the
// server begins to close. Python: service_actions, called by
// serve_forever's loop.
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
