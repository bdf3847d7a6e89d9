package eventloop

import (
	"net"
	"sync/atomic"
)

// Conn is one connection of an engine. See the package documentation for
// where each method may be called and what it returns elsewhere. An idle
// Conn holds no buffers.
type Conn struct {
	fd int32
	// gen is the connection's generation on its loop (> 0), 0 once it is
	// closed: atomic, because AsyncWrite, Wake and the address methods
	// read it from other goroutines.
	gen      atomic.Uint32
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
	fWritableDue             // in loop.due: owed an OnWritable
	fOfferDue                // in loop.due: its unread input is to be offered to OnData
	fWaitDrain               // OnData left input unread with output pending: offer it again when the output drains
	fReadEOF                 // the peer shut down its side; still open for writing
	fEOFClose                // EOF came with requests unanswered: close once they are (no EOFHandler)
)

// loopIO is the part of a loop that its connections' methods use
// directly: the inbound window lent to OnData and the outbound chunks.
// It is the same on every platform; what touches the kernel is in the
// loop's platform files.
type loopIO struct {
	e *Engine
	// inCallback is set while the loop runs code of the handler's (a
	// callback, an AsyncWrite done function) or a task: the connection
	// methods that belong to the loop check it, so that one called from
	// another goroutine returns ErrWrongLoop instead of racing with the
	// loop. depth counts the nesting; only the loop reads it.
	inCallback atomic.Bool
	depth      int
	win        []byte // the data offered to the connection in OnData
	rpos       int    // how much of win OnData has consumed
	inData     *Conn  // the connection whose OnData is running
	dirty      []*Conn
	free       [][]byte // spare output chunks

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

// onLoop reports whether the caller may use the loop's side of c: c's
// loop is running a callback. From another goroutine it is false, except
// while c's loop happens to be in a callback of its own, which this
// cheap check cannot tell apart.
func (c *Conn) onLoop() bool { return c.loop.inCallback.Load() }

// reading reports whether the caller is c's OnData.
func (c *Conn) reading() bool { return c.onLoop() && c.loop.inData == c }

// Fd returns the connection's descriptor (for socket options; do not read
// or write it directly). It may be called anywhere.
func (c *Conn) Fd() int { return int(c.fd) }

// Context returns the value set with SetContext. It may be called
// anywhere; the value is whatever SetContext last stored.
func (c *Conn) Context() any { return c.ctx }

// SetContext attaches a value to the connection (per-connection state for
// the handler). Call it from the connection's callbacks, or before
// another goroutine that reads it with Context is told about it.
func (c *Conn) SetContext(v any) { c.ctx = v }

// Buffered returns how many inbound bytes OnData can read now. Outside
// OnData of c it returns 0 and ErrWrongLoop.
func (c *Conn) Buffered() (int, error) {
	if !c.reading() {
		return 0, ErrWrongLoop
	}
	return len(c.loop.win) - c.loop.rpos, nil
}

// Read copies inbound data into p. It returns 0 and no error when nothing
// is left: the next OnData brings more. Outside OnData of c it returns 0
// and ErrWrongLoop.
func (c *Conn) Read(p []byte) (int, error) {
	if !c.reading() {
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
// Discard. Outside OnData of c it returns nil and ErrWrongLoop.
func (c *Conn) Peek(n int) ([]byte, error) {
	if !c.reading() {
		return nil, ErrWrongLoop
	}
	l := c.loop
	rest := l.win[l.rpos:]
	if n >= 0 && n < len(rest) {
		rest = rest[:n]
	}
	return rest, nil
}

// Next is Peek that consumes the bytes: the same lifetime rule applies.
func (c *Conn) Next(n int) ([]byte, error) {
	b, err := c.Peek(n)
	if err != nil {
		return nil, err
	}
	c.loop.rpos += len(b)
	return b, nil
}

// Discard drops the next n inbound bytes (all of them for n < 0) and
// returns how many it dropped. Outside OnData of c it returns 0 and
// ErrWrongLoop.
func (c *Conn) Discard(n int) (int, error) {
	b, err := c.Next(n)
	return len(b), err
}

// Write queues p to be sent when the callback returns; p is copied (on a
// TLS connection, encrypted into TLS records). It is for the callbacks of
// c's loop (c's own, and other connections' on the same loop); from
// other goroutines use AsyncWrite. It takes all of p or none of it, and
// returns
//
//	len(p), nil          queued
//	0, ErrOutboundFull   the output already holds bytes and p would take
//	                     it past MaxOutbound: leave the request that
//	                     wanted this answer unread and return; OnData is
//	                     offered it again once the output has drained
//	0, ErrConnClosed     c is closed, or closing (Close was called)
//	0, ErrWrongLoop      called outside the callbacks of c's loop
func (c *Conn) Write(p []byte) (int, error) {
	if err := c.writable(len(p)); err != nil {
		return 0, err
	}
	if err := c.send(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Writev queues several buffers, as Write does: all of them or none.
func (c *Conn) Writev(bufs [][]byte) (int, error) {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	if err := c.writable(n); err != nil {
		return 0, err
	}
	sent := 0
	for _, b := range bufs {
		if err := c.send(b); err != nil {
			return sent, err
		}
		sent += len(b)
	}
	return n, nil
}

// writable says why n more bytes may not be queued, if they may not.
func (c *Conn) writable(n int) error {
	if !c.onLoop() {
		return ErrWrongLoop
	}
	if c.flags&(fClosed|fClosing) != 0 {
		return ErrConnClosed
	}
	if max := c.loop.e.maxOutbound(); max > 0 && c.outLen > 0 && c.outLen+n > max {
		return ErrOutboundFull
	}
	return nil
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

// OutboundBuffered returns the bytes waiting to be sent: written and not
// yet taken by the socket, plus AsyncWrite bytes not yet handed to the
// loop. It may be called anywhere. On io_uring the bytes of a send count
// until the loop has handled its completion, which off the loop can be
// its next event (see LoopStats.OutboundBuffered).
func (c *Conn) OutboundBuffered() int { return int(c.queued.Load()) }

// Close closes the connection once its pending output has been sent
// (the output of the running callback included), as returning Close
// does. It returns nil, also for a connection already closed, or
// ErrWrongLoop outside the callbacks of c's loop (use AsyncClose there).
// OnClose is not called from inside Close: it runs once the running
// callback has returned.
func (c *Conn) Close() error {
	if !c.onLoop() {
		return ErrWrongLoop
	}
	if c.flags&fClosed == 0 {
		c.loop.closeAfterFlush(c)
	}
	return nil
}

// CloseWrite sends the pending output and then shuts down the sending side
// with shutdown(2) SHUT_WR (the peer reads EOF; on a TLS connection a
// close_notify alert goes first); the connection stays open for reading.
// It returns ErrConnClosed on a closed connection, ErrWrongLoop outside
// the callbacks of c's loop, or shutdown's error.
func (c *Conn) CloseWrite() error {
	if !c.onLoop() {
		return ErrWrongLoop
	}
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
	if c.flags&fClosed != 0 {
		return ErrConnClosed // the flush failed
	}
	return c.loop.shutdownWrite(c)
}

// PauseRead stops reading from c, and OnData for it, until ResumeRead. It
// returns ErrConnClosed on a closed connection and ErrWrongLoop outside
// the callbacks of c's loop.
func (c *Conn) PauseRead() error {
	if !c.onLoop() {
		return ErrWrongLoop
	}
	if c.flags&fClosed != 0 {
		return ErrConnClosed
	}
	if c.flags&fPaused == 0 {
		c.flags |= fPaused
		c.loop.watch(c)
	}
	return nil
}

// ResumeRead undoes PauseRead. Input OnData left unread is offered to it
// again once the running callback has returned (no new data needs to
// arrive). It returns what PauseRead returns.
func (c *Conn) ResumeRead() error {
	if !c.onLoop() {
		return ErrWrongLoop
	}
	if c.flags&fClosed != 0 {
		return ErrConnClosed
	}
	if c.flags&fPaused != 0 {
		c.flags &^= fPaused
		c.loop.watch(c)
		if len(c.in) > 0 {
			c.loop.offerLater(c)
		}
	}
	return nil
}

// AsyncWrite sends p from any goroutine: it is copied and handed to the
// connection's loop, which sends it after the data queued before it.
//
// done, if not nil, is called exactly once for every AsyncWrite call,
// whatever happens. If AsyncWrite returns nil, done is called later on the
// connection's loop, with nil once p is queued on the connection's output,
// or with ErrConnClosed if the connection closed (or the engine stopped)
// before the loop took p. If AsyncWrite returns an error, done is called
// with that same error on the caller's goroutine before AsyncWrite
// returns, and p is not sent. So done may release what p holds.
//
// AsyncWrite returns ErrOutboundFull, without queueing, while the
// connection has more than HighWatermark bytes waiting (the producer
// should slow down), ErrConnClosed once the connection is closed, and
// ErrEngineClosed once the engine is shutting down.
func (c *Conn) AsyncWrite(p []byte, done func(c *Conn, err error)) error {
	l := c.loop
	var err error
	gen := c.gen.Load()
	switch {
	case l.e.closing.Load():
		err = ErrEngineClosed
	case gen == 0:
		err = ErrConnClosed
	case c.queued.Load() > int64(l.e.highWatermark()):
		err = ErrOutboundFull
	}
	if err != nil {
		if done != nil {
			done(c, err)
		}
		return err
	}
	buf := getAsyncBuf(len(p))
	var data []byte
	if buf != nil {
		data = (*buf)[:copy(*buf, p)]
	} else {
		data = append([]byte(nil), p...)
	}
	c.queued.Add(int64(len(data)))
	// submit settles the task (calling done) if it returns an error.
	return l.submit(task{kind: taskWrite, c: c, gen: gen, data: data, buf: buf, done: done})
}

// AsyncClose closes the connection from any goroutine, after the output
// queued before it. It returns ErrConnClosed if the connection is already
// closed and ErrEngineClosed if the engine has stopped.
func (c *Conn) AsyncClose() error {
	gen := c.gen.Load()
	if gen == 0 {
		return ErrConnClosed
	}
	return c.loop.submit(task{kind: taskClose, c: c, gen: gen})
}

// Wake makes the engine call OnData for c from any goroutine, with the
// input OnData left unread (if any): a way to run code on the
// connection's loop. It returns ErrConnClosed if the connection is
// closed and ErrEngineClosed if the engine has stopped.
func (c *Conn) Wake() error {
	gen := c.gen.Load()
	if gen == 0 {
		return ErrConnClosed
	}
	return c.loop.submit(task{kind: taskWake, c: c, gen: gen})
}

// LocalAddr returns the local address (getsockname(2)), or nil once
// closed. It may be called anywhere.
func (c *Conn) LocalAddr() net.Addr {
	if c.gen.Load() == 0 {
		return nil
	}
	return sockAddr(int(c.fd), false)
}

// RemoteAddr returns the peer's address (getpeername(2)), or nil once
// closed. It is also nil once the peer has reset the connection, even
// before the engine has noticed: to keep idle connections small the engine
// does not store the address accept4(2) could return, and getpeername
// fails with ENOTCONN then. Call it in OnOpen to keep the address. It may
// be called anywhere.
func (c *Conn) RemoteAddr() net.Addr {
	if c.gen.Load() == 0 {
		return nil
	}
	return sockAddr(int(c.fd), true)
}
