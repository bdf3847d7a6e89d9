//go:build linux

package eventloop

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"iter"
	"runtime/debug"
	"time"
)

// loopTLS is a TLS engine's per-loop state: the config, the buffer
// records are decrypted into, and the handshakes in progress, oldest
// first (they share one timeout, so that is also deadline order).
type loopTLS struct {
	cfg        *tls.Config
	timeout    time.Duration
	plain      []byte // plaintext lent to OnData, as the read buffer is
	head, tail *tlsConn
	coros      int // handshake coroutines alive (see keepThread)
}

// tlsMaxRecord is the largest TLS record crypto/tls accepts (16 KiB of
// plaintext, 2 KiB of expansion, the header).
const tlsMaxRecord = 16<<10 + 2048 + 5

// tlsMinRoom is the room the decrypting loop wants in its plaintext
// buffer before it asks crypto/tls for more: a whole record's plaintext.
const tlsMinRoom = 16 << 10

// monoBase is the origin of the handshake deadlines, which are read
// from the monotonic clock.
var monoBase = time.Now()

func newLoopTLS(e *Engine) *loopTLS {
	in := max(e.readBufferSize(), uringBufSize, uringIncBufSize)
	return &loopTLS{cfg: e.tlsCfg, timeout: e.handshakeTimeout(),
		plain: make([]byte, in+2*tlsMaxRecord)}
}

// tlsConfig checks and clones the engine's TLS config for Serve.
func (e *Engine) tlsConfig(udp bool) error {
	if e.TLSConfig == nil {
		return nil
	}
	if udp {
		return errors.New("eventloop: TLSConfig needs stream listeners (tcp or unix), not UDP")
	}
	cfg := e.TLSConfig.Clone()
	if len(cfg.Certificates) == 0 && cfg.GetCertificate == nil && cfg.GetConfigForClient == nil {
		return errors.New("eventloop: TLSConfig has no certificate (Certificates, GetCertificate or GetConfigForClient)")
	}
	e.tlsCfg = cfg
	return nil
}

// keepThread says whether the loop's goroutine must stay locked to its
// thread when it yields: a coroutine stays on the thread (and thread lock)
// it was created on, so while handshakes are in progress the loop does
// not let go of its thread.
func (l *loop) keepThread() bool { return l.tls != nil && l.tls.coros > 0 }

// startTLS makes an accepted connection a TLS server connection, whose
// handshake starts with its first input. OnOpen waits for the handshake.
func (l *loop) startTLS(c *Conn) {
	lt := l.tls
	t := &tlsConn{c: c, hs: &tlsHandshake{}}
	t.tc = tls.Server(t, lt.cfg)
	c.tls = t
	t.hs.deadline = int64(time.Since(monoBase) + lt.timeout)
	t.hs.prev = lt.tail
	if lt.tail != nil {
		lt.tail.hs.nextHS = t
	} else {
		lt.head = t
	}
	lt.tail = t
	// The coroutine is created here, on the loop's locked thread, which
	// it is bound to (see keepThread); it starts with the first next.
	hs := t.hs
	hs.next, hs.stop = iter.Pull(func(yield func(struct{}) bool) {
		hs.yield = yield
		hs.err = t.tc.Handshake() // the plain Handshake: a context would start a goroutine to watch it
		hs.yield = nil
	})
	lt.coros++
}

// unlist takes t off the list of handshakes in progress.
func (lt *loopTLS) unlist(t *tlsConn) {
	if t.hs == nil || t.hs.prev == nil && lt.head != t {
		return // not listed
	}
	if t.hs.prev != nil {
		t.hs.prev.hs.nextHS = t.hs.nextHS
	} else {
		lt.head = t.hs.nextHS
	}
	if t.hs.nextHS != nil {
		t.hs.nextHS.hs.prev = t.hs.prev
	} else {
		lt.tail = t.hs.prev
	}
	t.hs.prev, t.hs.nextHS = nil, nil
}

// endCoroutine forgets t's handshake coroutine, which has returned.
func (l *loop) endCoroutine(t *tlsConn) {
	if t.hs != nil && t.hs.next != nil {
		t.hs.next, t.hs.stop = nil, nil
		l.tls.coros--
	}
}

// resume runs t's handshake until it needs more input or ends. A panic
// in a callback crypto/tls runs (GetConfigForClient, GetCertificate,
// VerifyPeerCertificate...) fails the handshake and is logged.
func (l *loop) resume(t *tlsConn) {
	defer func() {
		if p := recover(); p != nil {
			l.e.logger().Error("eventloop: a TLS callback panicked during the handshake; closing the connection", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			t.hs.err = fmt.Errorf("eventloop: TLS handshake: a callback panicked: %v", p)
			l.endCoroutine(t)
		}
	}()
	if _, more := t.hs.next(); !more {
		l.endCoroutine(t)
	}
}

// readTLS is read for a TLS connection (epoll): the ciphertext is read
// into the loop's buffer, and what it decrypts to is offered.
func (l *loop) readTLS(c *Conn) {
	n, err := readFd(int(c.fd), l.buf)
	if l.received(c, n, err) {
		l.inputTLS(c, l.buf[:n])
	}
}

// inputTLS takes ciphertext that arrived for c (lent: valid for this
// call): the handshake's, or records to decrypt and offer.
func (l *loop) inputTLS(c *Conn, data []byte) {
	t := c.tls
	switch {
	case t.open:
		if c.flags&fClosing == 0 && !t.closeNote {
			l.decryptTLS(c, data)
		}
	case t.hs != nil && t.hs.next != nil:
		l.handshake(c, data)
	}
	// Otherwise the handshake failed and its alert is on the way out:
	// the input is dropped, as shutdown(2) SHUT_RD drops it.
}

// eofTLS handles the end of a TLS connection's TCP stream.
func (l *loop) eofTLS(c *Conn) {
	t := c.tls
	t.eof = true
	l.inputTLS(c, nil) // crypto/tls tells a clean end from a truncated record
}

// handshake resumes c's handshake with data.
func (l *loop) handshake(c *Conn, data []byte) {
	t := c.tls
	t.src = data
	l.resume(t)
	if len(t.src) > 0 {
		// Input after the handshake's last message: the first records.
		t.q = append(t.q, t.src...)
	}
	t.src = nil
	if t.hs.next != nil || c.flags&fClosed != 0 {
		return // waiting for more
	}
	lt := l.tls
	lt.unlist(t)
	if t.hs.err != nil {
		t.failed = true
		t.q = nil
		t.cause = fmt.Errorf("eventloop: TLS handshake: %w", t.hs.err)
		l.closeAfterFlush(c) // with the alert crypto/tls wrote, if any
		return
	}
	t.open = true
	t.hs = nil // the handshake's state goes
	l.e.stats.handshakes.Add(1)
	l.dispatch(c, cbOpen)
	if c.flags&fClosed == 0 {
		// Records that came with the handshake's last flight.
		l.inputTLS(c, nil)
	}
}

// decryptTLS feeds data (ciphertext, lent) to c's crypto/tls Conn and
// offers every record it completes, decrypted, to OnData. What crypto/tls
// does not take at once it keeps (a partial record, in its own buffer).
// Records are decrypted into the loop's plaintext buffer, or appended to
// the plaintext OnData left unread.
func (l *loop) decryptTLS(c *Conn, data []byte) {
	t := c.tls
	t.src = data
	own := len(c.in) > 0 // appending to c's own buffer
	dst := l.tls.plain[:0]
	if own {
		dst = c.in
	}
	had := len(dst)
	var rerr error
	for {
		if cap(dst)-len(dst) < tlsMinRoom {
			grown := make([]byte, len(dst), 2*cap(dst)+tlsMaxRecord)
			copy(grown, dst)
			dst, own = grown, true
		}
		n, err := t.tc.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err != nil {
			if err != errWouldBlock {
				rerr = err
			}
			break
		}
	}
	t.src = nil
	if len(dst) > had {
		switch {
		case c.flags&fClosing != 0:
		case c.flags&(fPaused|fOverHigh) != 0:
			// Reading is paused (io_uring: a receive that completed
			// before its cancellation): kept for when it resumes.
			if !own {
				dst = append([]byte(nil), dst...)
			}
			c.in = dst
			if l.u != nil {
				l.u.st[c.fd] |= stUnread
			}
		default:
			if own {
				c.in = dst
			}
			l.offer(c, dst)
		}
	}
	if rerr == nil || c.flags&fClosed != 0 {
		return
	}
	if rerr == io.EOF {
		l.peerClosedTLS(c)
		return
	}
	// A bad record, an alert from the peer, a truncated stream:
	// crypto/tls has queued its alert, which goes out before the close.
	t.failed = true
	t.cause = fmt.Errorf("eventloop: TLS: %w", rerr)
	l.closeAfterFlush(c)
}

// peerClosedTLS handles the peer's close_notify (or a TCP end at a record
// boundary, which crypto/tls takes for one): reading stops, and the
// connection closes once its output is out (with a close_notify of its
// own), or, with an EOFHandler, stays open for writing as OnEOF decides;
// requests left unread for want of room are answered first, as without
// TLS (see eof).
func (l *loop) peerClosedTLS(c *Conn) {
	t := c.tls
	t.closeNote = true
	if len(c.in) > 0 && c.flags&(fClosing|fPaused|fOverHigh) == 0 {
		l.offer(c, c.in)
		if c.flags&fClosed != 0 {
			return
		}
	}
	if c.flags&fClosing != 0 {
		l.closeAfterFlush(c)
		return
	}
	l.inputEnded(c)
}

// closingTLS is closeAfterFlush's part for a TLS connection: a
// close_notify goes out before the output is flushed and the connection
// closed. A connection still in its handshake closes at once. It returns
// whether closeAfterFlush goes on.
func (l *loop) closingTLS(c *Conn) bool {
	t := c.tls
	if !t.open && !t.failed {
		l.closeNow(c, ErrEngineClosed)
		return false
	}
	t.closeNotify()
	return true
}

// closedTLS is closeNow's part for a TLS connection: a handshake still in
// progress is stopped and the TLS state released. It returns the cause
// OnClose gets (the TLS error that closed the connection, if any), and
// false if OnClose is not due: a connection that never completed its
// handshake never had OnOpen, and gets OnHandshakeError instead.
func (l *loop) closedTLS(c *Conn, cause error) (error, bool) {
	t := c.tls
	lt := l.tls
	lt.unlist(t)
	if t.hs != nil && t.hs.next != nil {
		func() {
			defer func() {
				if p := recover(); p != nil {
					l.e.logger().Error("eventloop: a TLS callback panicked during the handshake", "panic", fmt.Sprint(p))
				}
			}()
			t.hs.stop() // the handshake's Read returns errHandshakeStopped, and the coroutine ends
		}()
		l.endCoroutine(t)
	}
	if t.cause != nil && (cause == nil || cause == ErrEngineClosed) {
		cause = t.cause
	}
	opened := t.open
	t.q, t.src = nil, nil
	c.tls = nil // crypto/tls's state goes with it
	if opened {
		return cause, true
	}
	l.e.stats.hsErrors.Add(1)
	if cause == nil && t.hs != nil {
		cause = t.hs.err
	}
	if cause == nil {
		cause = errHandshakeStopped
	}
	if h, ok := l.e.Handler.(HandshakeErrorHandler); ok {
		func() {
			defer func() {
				if p := recover(); p != nil {
					l.e.logger().Error("eventloop: OnHandshakeError panicked", "panic", fmt.Sprint(p))
				}
			}()
			h.OnHandshakeError(c, cause)
		}()
	}
	return cause, false
}

// expireHandshakes closes the connections whose handshake is past its
// deadline.
func (l *loop) expireHandshakes() {
	lt := l.tls
	now := int64(time.Since(monoBase))
	for lt.head != nil && lt.head.hs.deadline <= now {
		l.closeNow(lt.head.c, ErrHandshakeTimeout)
	}
}

// nextHandshakeDeadline is when the oldest handshake in progress times
// out, or the zero time.
func (l *loop) nextHandshakeDeadline() time.Time {
	if l.tls == nil || l.tls.head == nil {
		return time.Time{}
	}
	return monoBase.Add(time.Duration(l.tls.head.hs.deadline))
}
