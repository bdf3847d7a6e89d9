package eventloop

import (
	"net"
	"sync/atomic"
)

// Conn is one connection of an engine. See the package documentation for
// where each method may be called. An idle Conn holds no buffers.
type Conn struct {
	fd       int32
	gen      uint32
	flags    uint32
	lastTick uint32
	loop     *loop
	in       []byte   // inbound bytes OnData left unread
	out      [][]byte // outbound chunks; out[0][outOff:] is next
	outOff   int
	outLen   int
	queued   atomic.Int64 // outLen plus AsyncWrite bytes not yet in out
	ctx      any
	node     wheelNode
	tls      *tlsConn // nil unless the engine serves TLS
}

// Conn flags.
const (
	fClosed      = 1 << iota // closed and released
	fClosing                 // Close asked; waiting for the output to go
	fWantOut                 // the poller watches for room to write
	fOverHigh                // over the high watermark: not reading
	fPaused                  // PauseRead
	fDirty                   // in loop.dirty: has output to send
	fAboveLow                // a callback left the output above the low watermark
	fWritableDue             // queued in loop.writable
	fReadEOF                 // the peer shut down its side; still open for writing
)

// loopIO is the part of a loop that its connections' methods use
// directly: the inbound window lent to OnData and the outbound chunks.
// It is the same on every platform; what touches the kernel is in the
// loop's platform files.
type loopIO struct {
	e      *Engine
	win    []byte // the data offered to the connection in OnData
	rpos   int    // how much of win OnData has consumed
	inData *Conn  // the connection whose OnData is running
	dirty  []*Conn
	free   [][]byte // spare output chunks

	// With io_uring the chunks live out of the Go heap: newChunk maps one
	// when the free list is empty, dropChunk unmaps one it has no room
	// for. Nil for epoll (make, and the garbage collector).
	newChunk  func() []byte
	dropChunk func([]byte)
}

// chunkSize is the size of the chunks output is gathered in.
const chunkSize = 16 << 10

// getChunk returns an empty output chunk from the loop's free list.
func (l *loopIO) getChunk() []byte {
	if n := len(l.free); n > 0 {
		b := l.free[n-1]
		l.free = l.free[:n-1]
		return b[:0]
	}
	if l.newChunk != nil {
		return l.newChunk()
	}
	return make([]byte, 0, chunkSize)
}

func (l *loopIO) putChunk(b []byte) {
	switch {
	case cap(b) != chunkSize:
	case len(l.free) < 256:
		l.free = append(l.free, b[:0])
	case l.dropChunk != nil:
		l.dropChunk(b)
	}
}

// Fd returns the connection's descriptor (for socket options; do not read
// or write it directly).
func (c *Conn) Fd() int { return int(c.fd) }

// Context returns the value set with SetContext.
func (c *Conn) Context() any { return c.ctx }

// SetContext attaches a value to the connection (per-connection state for
// the handler). Call it from the connection's callbacks.
func (c *Conn) SetContext(v any) { c.ctx = v }

func (c *Conn) inData() bool { return c.loop.inData == c }

// Buffered returns how many inbound bytes OnData can read now.
func (c *Conn) Buffered() int {
	if !c.inData() {
		return 0
	}
	return len(c.loop.win) - c.loop.rpos
}

// Read copies inbound data into p (in OnData). It returns 0 and no error
// when nothing is left; the next OnData brings more.
func (c *Conn) Read(p []byte) (int, error) {
	if !c.inData() {
		return 0, ErrWrongLoop
	}
	l := c.loop
	n := copy(p, l.win[l.rpos:])
	l.rpos += n
	return n, nil
}

// Peek returns the next n inbound bytes without consuming them (all of
// them for n < 0), or fewer if fewer have arrived. The slice is the loop's
// buffer: valid only until OnData returns or the next Read, Next or
// Discard.
func (c *Conn) Peek(n int) []byte {
	if !c.inData() {
		return nil
	}
	l := c.loop
	rest := l.win[l.rpos:]
	if n >= 0 && n < len(rest) {
		rest = rest[:n]
	}
	return rest
}

// Next is Peek that consumes the bytes: the same lifetime rule applies.
func (c *Conn) Next(n int) []byte {
	b := c.Peek(n)
	if b != nil {
		c.loop.rpos += len(b)
	}
	return b
}

// Discard drops the next n inbound bytes (all of them for n < 0) and
// returns how many it dropped.
func (c *Conn) Discard(n int) int {
	return len(c.Next(n))
}

// Write queues p to be sent when the callback returns; p is copied (on a
// TLS connection, encrypted into TLS records). It is for the connection's
// own callbacks (and other connections' callbacks on the same loop); from
// other goroutines use AsyncWrite.
func (c *Conn) Write(p []byte) (int, error) {
	if c.flags&(fClosed|fClosing) != 0 {
		return 0, ErrConnClosed
	}
	if err := c.send(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Writev queues several buffers, as Write does.
func (c *Conn) Writev(bufs [][]byte) (int, error) {
	if c.flags&(fClosed|fClosing) != 0 {
		return 0, ErrConnClosed
	}
	n := 0
	for _, b := range bufs {
		if err := c.send(b); err != nil {
			return n, err
		}
		n += len(b)
	}
	return n, nil
}

// write appends p to the output chunks and marks c for flushing.
func (c *Conn) write(p []byte) {
	if len(p) == 0 {
		return
	}
	l := c.loop
	c.outLen += len(p)
	c.queued.Add(int64(len(p)))
	l.stats.outbound.Add(int64(len(p)))
	for len(p) > 0 {
		var last []byte
		if n := len(c.out); n > 0 {
			last = c.out[n-1]
		}
		if last == nil || len(last) == cap(last) {
			last = l.getChunk()
			c.out = append(c.out, last)
		}
		k := copy(last[len(last):cap(last)], p)
		c.out[len(c.out)-1] = last[:len(last)+k]
		p = p[k:]
	}
	if c.outLen >= l.e.lowWatermark() {
		c.flags |= fAboveLow // a producer (at the watermark too): owed OnWritable when it drains
	}
	if c.flags&fDirty == 0 {
		c.flags |= fDirty
		l.dirty = append(l.dirty, c)
	}
}

// consumeOut drops n sent bytes from the front of the output.
func (c *Conn) consumeOut(n int) {
	c.outLen -= n
	c.queued.Add(-int64(n))
	c.loop.stats.outbound.Add(-int64(n))
	for n > 0 {
		first := c.out[0][c.outOff:]
		if n < len(first) {
			c.outOff += n
			return
		}
		n -= len(first)
		c.loop.putChunk(c.out[0])
		// Shift rather than reslice, so the list keeps its backing array
		// and the next write appends without allocating.
		k := copy(c.out, c.out[1:])
		c.out[k] = nil
		c.out = c.out[:k]
		c.outOff = 0
	}
	if len(c.out) == 0 && cap(c.out) > 4 {
		c.out = nil // a burst's long list is not kept by an idle connection
	}
}

// OutboundBuffered returns the bytes waiting to be sent.
func (c *Conn) OutboundBuffered() int { return c.outLen }

// Close closes the connection after its pending output has been sent; call
// it from a callback (or return Close). From other goroutines use
// AsyncClose.
func (c *Conn) Close() error {
	if c.flags&fClosed != 0 {
		return nil
	}
	c.loop.flushDirty()
	c.loop.closeAfterFlush(c)
	return nil
}

// CloseWrite sends the pending output and then shuts down the sending side
// with shutdown(2) SHUT_WR (the peer reads EOF; on a TLS connection a
// close_notify alert goes first); the connection stays open for reading.
func (c *Conn) CloseWrite() error {
	if c.flags&fClosed != 0 {
		return ErrConnClosed
	}
	if c.tls != nil {
		c.tls.closeNotify()
	}
	c.loop.flushDirty()
	if c.outLen > 0 {
		c.loop.flushConn(c)
	}
	return c.loop.shutdownWrite(c)
}

// PauseRead stops OnData for c until ResumeRead.
func (c *Conn) PauseRead() {
	if c.flags&(fClosed|fPaused) == 0 {
		c.flags |= fPaused
		c.loop.watch(c)
	}
}

// ResumeRead undoes PauseRead.
func (c *Conn) ResumeRead() {
	if c.flags&fClosed == 0 && c.flags&fPaused != 0 {
		c.flags &^= fPaused
		c.loop.watch(c)
	}
}

// AsyncWrite sends p from any goroutine: it is copied and handed to the
// connection's loop, which sends it after the data queued before it. done,
// if set, is called on the loop when p has been queued (err nil) or the
// connection turned out to be closed. It returns ErrOutboundFull, without
// queueing, while the connection has more than HighWatermark bytes waiting:
// the producer should slow down.
func (c *Conn) AsyncWrite(p []byte, done func(c *Conn, err error)) error {
	l := c.loop
	if l.e.closing.Load() {
		return ErrEngineClosed
	}
	if c.queued.Load() > int64(l.e.highWatermark()) {
		return ErrOutboundFull
	}
	buf := getAsyncBuf(len(p))
	var data []byte
	if buf != nil {
		data = (*buf)[:copy(*buf, p)]
	} else {
		data = append([]byte(nil), p...)
	}
	c.queued.Add(int64(len(data)))
	return l.submit(task{kind: taskWrite, c: c, gen: c.gen, data: data, buf: buf, done: done})
}

// AsyncClose closes the connection from any goroutine, after the output
// queued before it.
func (c *Conn) AsyncClose() error {
	return c.loop.submit(task{kind: taskClose, c: c, gen: c.gen})
}

// Wake makes the engine call OnData for c (with no new data) from any
// goroutine: a way to run code on the connection's loop.
func (c *Conn) Wake() {
	c.loop.submit(task{kind: taskWake, c: c, gen: c.gen})
}

// LocalAddr returns the local address (getsockname(2)), or nil once
// closed.
func (c *Conn) LocalAddr() net.Addr {
	if c.flags&fClosed != 0 {
		return nil
	}
	return sockAddr(int(c.fd), false)
}

// RemoteAddr returns the peer's address (getpeername(2)), or nil once
// closed. It is also nil once the peer has reset the connection, even
// before the engine has noticed: to keep idle connections small the engine
// does not store the address accept4(2) could return, and getpeername
// fails with ENOTCONN then. Call it in OnOpen to keep the address.
func (c *Conn) RemoteAddr() net.Addr {
	if c.flags&fClosed != 0 {
		return nil
	}
	return sockAddr(int(c.fd), true)
}
