//go:build linux

package eventloop

import (
	"context"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// Blocking returns a Handler that runs serve on a goroutine of its own for
// each connection, with the connection as an ordinary net.Conn: Read blocks
// until the loop has data, Write hands data to the loop (blocking while the
// connection is over HighWatermark), deadlines and Close work as net.Conn
// says. It lets code written for goroutine-per-connection servers (a
// socketserver handler, crypto/tls, net/http) run on the engine, at the
// cost of a goroutine per connection and a hand-off per read. ctx is the
// base context of the goroutines; when serve returns, the connection is
// closed.
func Blocking(ctx context.Context, serve func(ctx context.Context, c net.Conn)) Handler {
	return &blockingHandler{ctx: ctx, serve: serve}
}

// NetConn is the net.Conn that Blocking hands to serve.
type NetConn struct {
	c      *Conn
	local  net.Addr
	remote net.Addr

	mu       sync.Mutex
	in       []byte // data from the loop not yet read
	inBuf    []byte // in's backing array, reused once in is read (up to inKeep)
	eof      bool   // the peer closed its side
	err      error  // the connection failed or was closed
	closed   bool   // Close was called
	paused   bool   // the loop stopped reading: in is full
	rdl, wdl time.Time
	cond     *sync.Cond // on mu: broadcast on every change above
}

// inLimit bounds the data a NetConn buffers for a reader that is behind;
// beyond it the loop stops reading from the socket.
const inLimit = 256 << 10

// inKeep is the largest input buffer a NetConn keeps for reuse once it
// has been read: small enough to cost little on an idle connection, large
// enough that request/response traffic does not allocate per message.
const inKeep = 4 << 10

type blockingHandler struct {
	ctx   context.Context
	serve func(ctx context.Context, c net.Conn)
}

func (h *blockingHandler) OnOpen(c *Conn) Action {
	nc := &NetConn{c: c, local: c.LocalAddr(), remote: c.RemoteAddr()}
	nc.cond = sync.NewCond(&nc.mu)
	c.SetContext(nc)
	go func() {
		defer nc.Close()
		h.serve(h.ctx, nc)
	}()
	return None
}

func (h *blockingHandler) OnData(c *Conn) Action {
	nc := c.Context().(*NetConn)
	nc.mu.Lock()
	data, _ := c.Next(-1)
	if len(nc.in) == 0 {
		nc.in = nc.inBuf[:0]
	}
	if len(nc.in)+len(data) > cap(nc.in) {
		nc.in = append(nc.in, data...) // a new array, which becomes inBuf
		nc.inBuf = nc.in[:0]
	} else {
		nc.in = append(nc.in, data...)
	}
	if len(nc.in) >= inLimit && !nc.paused {
		nc.paused = true
		c.PauseRead()
	}
	nc.cond.Broadcast()
	nc.mu.Unlock()
	return None
}

// OnEOF keeps the connection open for the goroutine's writes: a peer that
// shut down its side is waiting for the answer.
func (h *blockingHandler) OnEOF(c *Conn) Action {
	nc := c.Context().(*NetConn)
	nc.mu.Lock()
	nc.eof = true
	nc.cond.Broadcast()
	nc.mu.Unlock()
	return None
}

func (h *blockingHandler) OnWritable(c *Conn) Action {
	c.Context().(*NetConn).broadcast()
	return None
}

func (h *blockingHandler) OnClose(c *Conn, err error) {
	nc, ok := c.Context().(*NetConn)
	if !ok {
		return
	}
	nc.mu.Lock()
	if err == nil {
		nc.eof = true
	} else if nc.err == nil {
		nc.err = err
	}
	if nc.err == nil {
		nc.err = net.ErrClosed // writes after the close
	}
	nc.cond.Broadcast()
	nc.mu.Unlock()
}

func (nc *NetConn) broadcast() {
	nc.mu.Lock()
	nc.cond.Broadcast()
	nc.mu.Unlock()
}

// wait waits for a change or the deadline; callers re-check their
// condition. nc.mu is held on entry and on return.
func (nc *NetConn) wait(deadline time.Time) {
	if deadline.IsZero() {
		nc.cond.Wait()
		return
	}
	d := time.Until(deadline)
	if d <= 0 {
		return
	}
	t := time.AfterFunc(d, nc.broadcast)
	nc.cond.Wait()
	t.Stop()
}

func (nc *NetConn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: nc.network(), Source: nc.local, Addr: nc.remote, Err: err}
}

func (nc *NetConn) network() string {
	if nc.local != nil {
		return nc.local.Network()
	}
	return "tcp"
}

func expired(t time.Time) bool { return !t.IsZero() && !time.Now().Before(t) }

// Read reads data the loop has received, waiting for some if there is none.
func (nc *NetConn) Read(p []byte) (int, error) {
	nc.mu.Lock()
	defer nc.mu.Unlock()
	for {
		if nc.closed {
			return 0, nc.opErr("read", net.ErrClosed)
		}
		if expired(nc.rdl) {
			return 0, nc.opErr("read", os.ErrDeadlineExceeded)
		}
		if len(nc.in) > 0 {
			if len(p) == 0 {
				return 0, nil
			}
			n := copy(p, nc.in)
			nc.in = nc.in[n:]
			if len(nc.in) == 0 {
				nc.in = nil
				if cap(nc.inBuf) > inKeep {
					nc.inBuf = nil // an idle connection keeps no large buffer
				}
			}
			if nc.paused && len(nc.in) < inLimit/2 {
				nc.paused = false
				nc.resume()
			}
			return n, nil
		}
		if nc.eof {
			return 0, io.EOF
		}
		if nc.err != nil {
			return 0, nc.opErr("read", nc.err)
		}
		if len(p) == 0 {
			return 0, nil
		}
		nc.wait(nc.rdl)
	}
}

// resume asks the loop to read again.
func (nc *NetConn) resume() {
	c := nc.c
	c.loop.submit(task{kind: taskFunc, fn: func(l *loop) {
		if c.flags&fClosed == 0 && c.Context() == nc {
			c.ResumeRead()
		}
	}})
}

// Write hands p to the loop, waiting while the connection's output is over
// HighWatermark.
func (nc *NetConn) Write(p []byte) (int, error) {
	nc.mu.Lock()
	defer nc.mu.Unlock()
	written := 0
	for {
		if nc.closed {
			return written, nc.opErr("write", net.ErrClosed)
		}
		if expired(nc.wdl) {
			return written, nc.opErr("write", os.ErrDeadlineExceeded)
		}
		if nc.err != nil {
			return written, nc.opErr("write", nc.err)
		}
		if written == len(p) {
			return written, nil
		}
		chunk := p[written:]
		if len(chunk) > 256<<10 {
			chunk = chunk[:256<<10]
		}
		switch err := nc.c.AsyncWrite(chunk, nil); err {
		case nil:
			written += len(chunk)
			continue
		case ErrOutboundFull:
			nc.wait(nc.wdl)
		default:
			return written, nc.opErr("write", err)
		}
	}
}

// Close closes the connection; blocked Reads and Writes return net.ErrClosed.
func (nc *NetConn) Close() error {
	nc.mu.Lock()
	if nc.closed {
		nc.mu.Unlock()
		return nil
	}
	nc.closed = true
	nc.cond.Broadcast()
	nc.mu.Unlock()
	nc.c.AsyncClose()
	return nil
}

// CloseWrite shuts down the sending side once the data written is out.
func (nc *NetConn) CloseWrite() error {
	c := nc.c
	done := make(chan error, 1)
	if err := c.loop.submit(task{kind: taskFunc, fn: func(l *loop) {
		if c.flags&fClosed != 0 || c.Context() != nc {
			done <- net.ErrClosed
			return
		}
		done <- c.CloseWrite()
	}}); err != nil {
		return nc.opErr("close", net.ErrClosed)
	}
	return <-done
}

// LocalAddr returns the local address.
func (nc *NetConn) LocalAddr() net.Addr { return nc.local }

// RemoteAddr returns the peer's address.
func (nc *NetConn) RemoteAddr() net.Addr { return nc.remote }

// SetDeadline sets both deadlines.
func (nc *NetConn) SetDeadline(t time.Time) error {
	nc.SetReadDeadline(t)
	return nc.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline; a waiting Read sees it at once.
func (nc *NetConn) SetReadDeadline(t time.Time) error {
	nc.mu.Lock()
	nc.rdl = t
	nc.cond.Broadcast() // waiters look at the new deadline
	nc.mu.Unlock()
	return nil
}

// SetWriteDeadline sets the write deadline.
func (nc *NetConn) SetWriteDeadline(t time.Time) error {
	nc.mu.Lock()
	nc.wdl = t
	nc.cond.Broadcast()
	nc.mu.Unlock()
	return nil
}

var _ net.Conn = (*NetConn)(nil)
