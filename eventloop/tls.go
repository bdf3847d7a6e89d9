package eventloop

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"time"
)

// TLS on the engine. See the package documentation ("TLS") for what runs
// where and what is kept per connection.

// ErrHandshakeTimeout is the error of a TLS connection whose handshake
// took longer than Engine.TLSHandshakeTimeout (a client that sends
// nothing, or its ClientHello a byte at a time).
var ErrHandshakeTimeout = errors.New("eventloop: TLS handshake timed out")

// errNotOpen is Write's error on a TLS connection before its handshake
// has completed (no callback has such a connection: it is for the loop's
// own writes).
var errNotOpen = errors.New("eventloop: TLS handshake not complete")

// HandshakeErrorHandler is a Handler that wants to hear about TLS
// connections whose handshake failed (a bad or truncated ClientHello, a
// certificate the config refused, a reset, ErrHandshakeTimeout). Such a
// connection never had OnOpen, so it gets no OnClose:
// OnHandshakeError(c, err) runs instead, on the loop, as the connection
// is closed (after the alert, if crypto/tls wrote one, has been sent),
// while its descriptor is still open: RemoteAddr works, unless the peer
// has reset the connection.
type HandshakeErrorHandler interface {
	OnHandshakeError(c *Conn, err error)
}

// defaultHandshakeTimeout is TLSHandshakeTimeout's zero value.
const defaultHandshakeTimeout = 10 * time.Second

func (e *Engine) handshakeTimeout() time.Duration {
	if e.TLSHandshakeTimeout > 0 {
		return e.TLSHandshakeTimeout
	}
	return defaultHandshakeTimeout
}

// tlsConn is what a TLS connection holds besides its Conn: crypto/tls's
// Conn, which keeps the session's keys and its own small record buffers,
// and the in-memory transport it reads from and writes to. The transport
// holds no buffer of its own between events: the ciphertext a read
// brings in is lent (src) for as long as the loop decrypts it, and
// crypto/tls copies what it needs into its own buffer.
type tlsConn struct {
	tc *tls.Conn
	c  *Conn

	src []byte // ciphertext lent by the loop for this call
	q   []byte // ciphertext kept between calls (only what the handshake left unread)

	hs *tlsHandshake // during the handshake (and until the close of one that failed)

	eof       bool  // the peer's stream has ended: Read returns io.EOF when src and q are empty
	open      bool  // the handshake succeeded and OnOpen has run
	failed    bool  // a TLS error: no close_notify, and cause for OnClose
	notified  bool  // close_notify has been queued
	closeNote bool  // the peer's close_notify (or its clean EOF) has been seen
	cause     error // what closes the connection, if it is closing for an error
}

// tlsHandshake is what a TLS connection holds during its handshake only.
type tlsHandshake struct {
	// The handshake runs as a coroutine on the loop (iter.Pull): next
	// resumes it with the input that has come, and it yields back when
	// it needs more. Nil once the handshake has ended.
	next  func() (struct{}, bool)
	stop  func()
	yield func(struct{}) bool
	err   error // the handshake's error, or the panic of a callback it ran

	// The loop's list of handshakes in progress, in deadline order.
	prev, nextHS *tlsConn
	deadline     int64 // on the monotonic clock, from monoBase

	// Until the server's first write, the client's handshake records (its
	// ClientHello) are passed on cut into records of helloFragment bytes
	// (see reframe).
	reframed  bool    // done: everything passes unchanged
	wrote     bool    // the server has written: its first flight
	hdr       [5]byte // the header of the client's record being read, or a fragment's to pass on
	nh        int     // bytes of hdr read
	pend      int     // bytes of hdr still to pass on, from hdr[5-pend:]
	rem, frag int     // payload bytes left in the client's record, and in the fragment being passed
}

// wouldBlock is the transport's error when the loop has no more
// ciphertext for crypto/tls: a net.Error whose Temporary is true, which
// crypto/tls returns without recording it, so the next Read carries on
// where this one stopped (crypto/tls keeps a partial record in its own
// buffer). The engine relies on that: it is how crypto/tls's Conn.Read
// treats a temporary error from its net.Conn (conn.go, readRecordOrCCS).
type wouldBlock struct{}

func (wouldBlock) Error() string   { return "eventloop: no more TLS input (would block)" }
func (wouldBlock) Timeout() bool   { return false }
func (wouldBlock) Temporary() bool { return true }

var errWouldBlock net.Error = wouldBlock{}

// errHandshakeStopped ends a handshake whose connection was closed while
// it waited for input.
var errHandshakeStopped = errors.New("eventloop: connection closed during the TLS handshake")

// Read gives crypto/tls the ciphertext the loop has: what the handshake
// left (q), then what this event brought (src). With none left it
// waits for more (yielding back to the loop) during the handshake, and
// reports wouldBlock after it.
func (t *tlsConn) Read(p []byte) (int, error) {
	for {
		if h := t.hs; h != nil && (!h.reframed || h.pend > 0) && len(p) > 0 {
			if n := t.reframe(p); n > 0 {
				return n, nil
			}
		}
		if len(t.q) > 0 {
			n := copy(p, t.q)
			t.q = t.q[n:]
			if len(t.q) == 0 {
				t.q = nil
			}
			return n, nil
		}
		if len(t.src) > 0 {
			n := copy(p, t.src)
			t.src = t.src[n:]
			return n, nil
		}
		if t.eof {
			return 0, io.EOF
		}
		if t.hs == nil || t.hs.yield == nil {
			return 0, errWouldBlock
		}
		if !t.hs.yield(struct{}{}) {
			return 0, errHandshakeStopped
		}
	}
}

// next returns up to n bytes of input (from q, then src) and consumes
// them.
func (t *tlsConn) take(n int) []byte {
	b := &t.src
	if len(t.q) > 0 {
		b = &t.q
	}
	n = min(n, len(*b))
	out := (*b)[:n]
	*b = (*b)[n:]
	return out
}

// helloFragment is the size of the records a client's first handshake
// records are cut into on their way to crypto/tls.
const helloFragment = 512

// reframe passes the client's first handshake records (its ClientHello)
// to crypto/tls cut into records of at most helloFragment bytes, which
// TLS allows (a handshake message may span records; the handshake's
// transcript is of messages, not records). The reason is memory:
// crypto/tls reads each record whole into a buffer that it keeps for the
// life of the connection, at the size of the largest record it has read;
// a ClientHello with a post-quantum key share is about 1.8 KiB, and so
// would be the buffer of every idle connection. Once the server has
// written (its first flight), or at anything that is not a plausible
// handshake record, bytes pass unchanged (crypto/tls then judges them).
// It returns how many bytes it put in p.
func (t *tlsConn) reframe(p []byte) int {
	h := t.hs
	n := 0
	for n < len(p) {
		switch {
		case h.reframed && h.pend == 0:
			return n
		case h.pend > 0: // a header to pass on
			k := copy(p[n:], h.hdr[5-h.pend:])
			h.pend -= k
			n += k
		case h.frag > 0: // a fragment's payload
			b := t.take(min(h.frag, len(p)-n))
			if len(b) == 0 {
				return n
			}
			n += copy(p[n:], b)
			h.frag -= len(b)
			h.rem -= len(b)
			if h.frag == 0 {
				// One record a Read: crypto/tls then reads each into
				// the buffer of its first read (576 bytes) instead of
				// growing it for what follows.
				return n
			}
		case h.rem > 0: // the next fragment of the record
			h.frag = min(h.rem, helloFragment)
			h.hdr[3], h.hdr[4] = byte(h.frag>>8), byte(h.frag)
			h.pend = 5
		case h.wrote: // at a record boundary, after the server's first write
			h.reframed = true
			if h.nh > 0 { // the start of a header already read: pass it on first
				copy(h.hdr[5-h.nh:], h.hdr[:h.nh])
				h.pend, h.nh = h.nh, 0
				continue
			}
			return n
		case h.nh < 5: // a record's header
			b := t.take(5 - h.nh)
			if len(b) == 0 {
				return n
			}
			h.nh += copy(h.hdr[h.nh:], b)
		default: // a whole header
			h.nh = 0
			if size := int(h.hdr[3])<<8 | int(h.hdr[4]); h.hdr[0] == 22 && size > 0 && size <= 16<<10 {
				h.rem = size
				continue
			}
			h.reframed = true // not a handshake record: crypto/tls says what it is
			h.pend = 5
		}
	}
	return n
}

// Write queues ciphertext on the connection's output, where the
// watermarks count it.
func (t *tlsConn) Write(p []byte) (int, error) {
	c := t.c
	if t.hs != nil {
		t.hs.wrote = true
	}
	if c.flags&fClosed != 0 {
		return 0, net.ErrClosed
	}
	c.write(p)
	return len(p), nil
}

// Close does nothing: the engine closes the descriptor. crypto/tls calls
// it only when a handshake's context is canceled, which the engine's
// handshakes have no use for.
func (t *tlsConn) Close() error { return nil }

// LocalAddr is the connection's local address.
func (t *tlsConn) LocalAddr() net.Addr { return t.c.LocalAddr() }

// RemoteAddr is the peer's address (ClientHelloInfo.Conn.RemoteAddr in
// GetConfigForClient).
func (t *tlsConn) RemoteAddr() net.Addr { return t.c.RemoteAddr() }

// SetDeadline does nothing: the engine's handshake timeout and idle
// timeout stand for deadlines.
func (t *tlsConn) SetDeadline(time.Time) error { return nil }

// SetReadDeadline does nothing (see SetDeadline).
func (t *tlsConn) SetReadDeadline(time.Time) error { return nil }

// SetWriteDeadline does nothing: writes never wait (crypto/tls sets one
// around its close_notify).
func (t *tlsConn) SetWriteDeadline(time.Time) error { return nil }

// ConnectionState returns the TLS state of a TLS connection (version,
// cipher suite, negotiated protocol from ALPN, server name from SNI, the
// client's certificates) and true, or false for a connection without
// TLS. Call it from the connection's callbacks.
func (c *Conn) ConnectionState() (tls.ConnectionState, bool) {
	if c.tls == nil {
		return tls.ConnectionState{}, false
	}
	return c.tls.tc.ConnectionState(), true
}

// send queues p for the peer: as it is, or encrypted into TLS records on
// a TLS connection (the records are what the output and the watermarks
// count).
func (c *Conn) send(p []byte) error {
	if t := c.tls; t != nil {
		if !t.open {
			return errNotOpen
		}
		if _, err := t.tc.Write(p); err != nil {
			return err
		}
		return nil
	}
	c.write(p)
	return nil
}

// closeNotify queues a TLS close_notify alert on the output, once, for a
// connection whose handshake succeeded and that had no TLS error.
func (t *tlsConn) closeNotify() {
	if t.open && !t.failed && !t.notified {
		t.notified = true
		t.tc.CloseWrite() // sends close_notify through Write; it cannot fail here
	}
}
