package socketserver

import (
	"context"
	"net"
	"time"

	"github.com/socketkit/socketkit/eventloop"
)

// EventLoop serves a stream server (TCP, Unix stream or seqpacket) with the
// epoll event-loop engine of package eventloop (Linux): Loops loops, each
// on its own OS thread, watch every connection, and a connection's handler
// runs on a goroutine of its own only while it has a request to serve,
// reading through the engine's blocking adapter. Handlers, hooks, limits,
// timeouts and TLS work as with Goroutines. Request.Socket is nil for these
// requests: use Request.Conn. A datagram server with EventLoop runs each
// datagram on a goroutine, as Goroutines does. For the engine's full speed,
// write an eventloop.Handler and run an eventloop.Engine directly.
type EventLoop struct {
	// Loops is the number of event loops; 0 means GOMAXPROCS.
	Loops int

	engine *eventloop.Engine
}

// Dispatch runs job on a new goroutine (the datagram path).
func (d *EventLoop) Dispatch(ctx context.Context, job func()) error {
	go job()
	return nil
}

// engineConn is the connection of a request served by EventLoop: the
// engine's net.Conn, with the server's timeouts and byte counts.
type engineConn struct {
	net.Conn
	srv  *Server
	hard time.Time
	proxied
}

// RemoteAddr is the client's address: from the PROXY header, if one named
// it, else the peer's.
func (c *engineConn) RemoteAddr() net.Addr {
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}

// LocalAddr is the address the client connected to, as RemoteAddr.
func (c *engineConn) LocalAddr() net.Addr {
	if c.local != nil {
		return c.local
	}
	return c.Conn.LocalAddr()
}

func (c *engineConn) Read(p []byte) (int, error) {
	if c.srv.timed {
		if t, ok := c.srv.deadline(c.hard, c.srv.ReadTimeout); ok {
			c.Conn.SetReadDeadline(t)
		}
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.srv.stats.bytesIn.Add(uint64(n))
	}
	return n, err
}

func (c *engineConn) Write(p []byte) (int, error) {
	if c.srv.timed {
		if t, ok := c.srv.deadline(c.hard, c.srv.WriteTimeout); ok {
			c.Conn.SetWriteDeadline(t)
		}
	}
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.srv.stats.bytesOut.Add(uint64(n))
	}
	return n, err
}

// CloseWrite shuts down the sending side (the adapter supports it).
func (c *engineConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
