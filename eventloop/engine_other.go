//go:build !linux

package eventloop

import (
	"context"
	"errors"
	"net"
	"net/netip"

	"github.com/socketkit/socketkit/socket"
)

// The engine is built on epoll: on other platforms it only compiles.

// Conn is a connection of an engine (Linux only).
type Conn struct{}

// ListenAndServe reports errors.ErrUnsupported on this platform.
func (e *Engine) ListenAndServe(network, addr string) error { return errors.ErrUnsupported }

// Serve reports errors.ErrUnsupported on this platform.
func (e *Engine) Serve(listeners ...*socket.Socket) error { return errors.ErrUnsupported }

// Shutdown does nothing on this platform.
func (e *Engine) Shutdown(ctx context.Context) error { return nil }

// StopAccept does nothing on this platform.
func (e *Engine) StopAccept() {}

// Close does nothing on this platform.
func (e *Engine) Close() error { return nil }

// Addr returns nil on this platform.
func (e *Engine) Addr() net.Addr { return nil }

func (c *Conn) Fd() int                           { return -1 }
func (c *Conn) Context() any                      { return nil }
func (c *Conn) SetContext(v any)                  {}
func (c *Conn) Buffered() int                     { return 0 }
func (c *Conn) Read(p []byte) (int, error)        { return 0, errors.ErrUnsupported }
func (c *Conn) Peek(n int) []byte                 { return nil }
func (c *Conn) Next(n int) []byte                 { return nil }
func (c *Conn) Discard(n int) int                 { return 0 }
func (c *Conn) Write(p []byte) (int, error)       { return 0, errors.ErrUnsupported }
func (c *Conn) Writev(bufs [][]byte) (int, error) { return 0, errors.ErrUnsupported }
func (c *Conn) OutboundBuffered() int             { return 0 }
func (c *Conn) Close() error                      { return errors.ErrUnsupported }
func (c *Conn) CloseWrite() error                 { return errors.ErrUnsupported }
func (c *Conn) PauseRead()                        {}
func (c *Conn) ResumeRead()                       {}
func (c *Conn) AsyncWrite(p []byte, done func(c *Conn, err error)) error {
	return errors.ErrUnsupported
}
func (c *Conn) AsyncClose() error    { return errors.ErrUnsupported }
func (c *Conn) Wake()                {}
func (c *Conn) LocalAddr() net.Addr  { return nil }
func (c *Conn) RemoteAddr() net.Addr { return nil }

// Packet is one datagram on a UDP engine (Linux only).
type Packet struct {
	Data []byte
	From netip.AddrPort
}

// Reply reports errors.ErrUnsupported on this platform.
func (p *Packet) Reply(b []byte) error { return errors.ErrUnsupported }

type loop struct{}
