package socketserver

import (
	"io"
	"net"
	"time"

	"github.com/socketkit/socketkit/socket"
)

// Conn is the connection of a stream request. It embeds the accepted
// *socket.Socket, so every socket method is there, and adds what the
// server promises: Read and Write (and io.Copy through them) apply
// ReadTimeout, WriteTimeout, IdleTimeout and RequestTimeout, and count the
// bytes for Stats. With none of the timeouts set, they cost nothing extra.
type Conn struct {
	*socket.Socket
	srv             *Server
	requestDeadline time.Time // RequestTimeout: the absolute end of the request
	proxied
}

// RemoteAddr returns the client's address: the one in the PROXY header
// when the server has ProxyProtocol and the header named one, else the
// peer's (getpeername(2)).
func (c *Conn) RemoteAddr() net.Addr {
	if c.remote != nil {
		return c.remote
	}
	return c.Socket.RemoteAddr()
}

// LocalAddr returns the address the client connected to: from the PROXY
// header, as RemoteAddr, else the socket's own (getsockname(2)).
func (c *Conn) LocalAddr() net.Addr {
	if c.local != nil {
		return c.local
	}
	return c.Socket.LocalAddr()
}

var (
	_ net.Conn      = (*Conn)(nil)
	_ io.ReaderFrom = (*Conn)(nil)
	_ io.WriterTo   = (*Conn)(nil)
)

// deadline is the deadline of the next operation: the earliest of the
// request's end (requestDeadline), now + the operation's timeout and now +
// IdleTimeout.
func (c *Conn) deadline(opTimeout time.Duration) (time.Time, bool) {
	end := c.requestDeadline
	d := opTimeout
	if idle := c.srv.IdleTimeout; idle > 0 && (d == 0 || idle < d) {
		d = idle
	}
	if d == 0 {
		return end, !end.IsZero()
	}
	t := time.Now().Add(d)
	if !end.IsZero() && end.Before(t) {
		t = end
	}
	return t, true
}

// Read reads from the connection within the server's timeouts.
func (c *Conn) Read(p []byte) (int, error) {
	if c.srv.hasTimeouts {
		if t, ok := c.deadline(c.srv.ReadTimeout); ok {
			c.Socket.SetReadDeadline(t)
		}
	}
	n, err := c.Socket.Read(p)
	if n > 0 {
		c.srv.st.bytesIn.Add(uint64(n))
	}
	return n, err
}

// Write writes all of p within the server's timeouts.
func (c *Conn) Write(p []byte) (int, error) {
	if c.srv.hasTimeouts {
		if t, ok := c.deadline(c.srv.WriteTimeout); ok {
			c.Socket.SetWriteDeadline(t)
		}
	}
	n, err := c.Socket.Write(p)
	if n > 0 {
		c.srv.st.bytesOut.Add(uint64(n))
	}
	return n, err
}

// ReadFrom copies r to the connection. With no timeouts set it keeps the
// socket's zero-copy paths (sendfile, splice); with timeouts it copies in
// chunks so that each chunk gets a fresh deadline.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	var err error
	if c.srv.hasTimeouts {
		n, err = io.Copy(writerOnly{c}, r)
		return n, err // Write counted the bytes
	}
	n, err = c.Socket.ReadFrom(r)
	c.srv.st.bytesOut.Add(uint64(n))
	return n, err
}

// WriteTo copies the connection to w until the peer shuts down, zero-copy
// when no timeouts are set (see ReadFrom).
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	var n int64
	var err error
	if c.srv.hasTimeouts {
		n, err = io.Copy(w, readerOnly{c})
		return n, err // Read counted the bytes
	}
	if wc, ok := w.(*Conn); ok {
		w = wc.Socket // splice straight into the other socket
		n, err = c.Socket.WriteTo(w)
		wc.srv.st.bytesOut.Add(uint64(n))
	} else {
		n, err = c.Socket.WriteTo(w)
	}
	c.srv.st.bytesIn.Add(uint64(n))
	return n, err
}

type writerOnly struct{ io.Writer }
type readerOnly struct{ io.Reader }
