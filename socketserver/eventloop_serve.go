package socketserver

import (
	"context"
	"time"

	"github.com/socketkit/socketkit/socket"
)

// engineLocked reports whether the server's stream requests run on the
// event-loop engine. It is called with mu held.
func (s *Server) engineLocked() bool {
	_, ok := s.Dispatcher.(*EventLoop)
	return ok && s.typ != socket.SOCK_DGRAM
}

// engineStopAccept stops the engine taking connections and returns once
// every connection it accepted has been counted in flight. It is called
// without mu, after closing is set (so no engine starts later).
func (s *Server) engineStopAccept() {
	s.mu.Lock()
	d, _ := s.Dispatcher.(*EventLoop)
	eng := d.engine
	s.mu.Unlock()
	if eng != nil {
		eng.StopAccept()
	}
}

// engineStop stops the engine's loops (after the requests are done, or at
// once when force).
func (s *Server) engineStop(force bool) {
	d, ok := s.Dispatcher.(*EventLoop)
	if !ok {
		return
	}
	s.mu.Lock()
	eng := d.engine
	s.mu.Unlock()
	if eng == nil {
		return
	}
	if force {
		eng.Close()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if eng.Shutdown(ctx) != nil {
		eng.Close()
	}
}
