//go:build !linux

package eventloop

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/socketkit/socketkit/socket"
)

// The engine is built on epoll: on other platforms Serve and
// ListenAndServe report errors.ErrUnsupported, so no Conn ever exists.
// What follows is the engine's platform seam, stubbed.

var errUnsupported = fmt.Errorf("eventloop: the engine needs Linux (epoll): %w", errors.ErrUnsupported)

// ListenAndServe reports errors.ErrUnsupported on this platform, having
// closed Ready.
func (e *Engine) ListenAndServe(network, addr string) error { return e.Serve() }

// Serve reports errors.ErrUnsupported on this platform, having closed
// Ready and the listeners, as on Linux when it cannot serve.
func (e *Engine) Serve(listeners ...*socket.Socket) error {
	for _, ln := range listeners {
		ln.Close()
	}
	e.mu.Lock()
	e.markReady()
	e.mu.Unlock()
	return errUnsupported
}

// Shutdown does nothing on this platform.
func (e *Engine) Shutdown(ctx context.Context) error { return nil }

// StopAccept does nothing on this platform.
func (e *Engine) StopAccept() {}

// Close does nothing on this platform.
func (e *Engine) Close() error { return nil }

// Addr returns nil on this platform.
func (e *Engine) Addr() net.Addr { return nil }

type loop struct {
	loopIO
	stats *loopStats
}

func (l *loop) submit(t task) error             { return errUnsupported }
func (l *loop) reply(p *Packet, b []byte) error { return errUnsupported }
func (l *loop) flushDirty()                     {}
func (l *loop) flushConn(c *Conn)               {}
func (l *loop) closeAfterFlush(c *Conn)         {}
func (l *loop) watch(c *Conn)                   {}
func (l *loop) shutdownWrite(c *Conn) error     { return errUnsupported }
func (l *loop) offerLater(c *Conn)              {}
func sockAddr(fd int, peer bool) net.Addr       { return nil }
