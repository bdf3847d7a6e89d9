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
	// ClientHello) are passed on cut into records of at most
	// helloFragment bytes (see reframe and handFragment).
	reframed   bool    // done: everything passes unchanged
	wrote      bool    // the server has written: its first flight
	hdr        [5]byte // the header of the client's record being read, or a fragment's to pass on
	nh         int     // bytes of hdr read
	pend       int     // bytes of hdr still to pass on, from hdr[5-pend:]
	rem, frag  int     // payload bytes left in the client's record, and in the fragment being passed
	hcap, hlen int     // crypto/tls's handshake-message buffer as the fragments grow it (see handFragment)
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

// handClasses are the Go allocator's size classes from 64 bytes to
// 32 KiB: what a bytes.Buffer's backing array is rounded up to (larger
// arrays are rounded up to 8 KiB pages).
var handClasses = [...]int{64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320, 352, 384, 416, 448, 480, 512,
	576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144,
	6528, 6784, 6912, 8192, 9472, 9728, 10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264,
	28672, 32768}

// roundClass is n rounded up to its size class.
func roundClass(n int) int {
	for _, c := range handClasses {
		if n <= c {
			return c
		}
	}
	return (n + 8191) &^ 8191
}

// handGrow is the capacity of a bytes.Buffer holding n bytes in an
// array of capacity c after a Write of f more: as bytes.Buffer grows
// (at least doubling, rounded up to a size class; a first Write of at
// most 64 bytes gets 64).
func handGrow(c, n, f int) int {
	switch {
	case n+f <= c:
		return c
	case c == 0 && f <= 64:
		return 64
	}
	return roundClass(max(n+f, 2*c))
}

// handPlan is the next fragment's size for a buffer of capacity c
// holding n bytes, with rem bytes of the record to come: it fills the
// buffer up to its capacity, or, full, makes it double and no more.
func handPlan(c, n, rem int) int {
	if n < c {
		return min(c-n, rem, helloFragment)
	}
	return min(max(c, 1), rem, helloFragment)
}

// handFragment is the size of the next fragment of the client's record.
// crypto/tls appends each record's payload to a bytes.Buffer that
// collects a handshake message (the ClientHello) whole and keeps its
// capacity for the life of the connection; that buffer grows by
// doubling from the size of the first record, so the size of the
// fragments decides where it ends: 512-byte fragments take a 1.5 KiB
// ClientHello through 512 and 1024 bytes to 2048. For the first
// fragment, handFragment tries every size class up to helloFragment and
// takes the one whose doubling ends on the smallest buffer that holds
// the record (then the least garbage on the way): 384, 768, 1536 for
// Go's post-quantum ClientHello of 1496 bytes.
func (h *tlsHandshake) handFragment() int {
	f := handPlan(h.hcap, h.hlen, h.rem)
	if h.hcap == 0 {
		best, bestCap, bestWaste := f, 1<<30, 1<<30
		for _, first := range handClasses {
			first = min(first, h.rem)
			if first > helloFragment {
				break
			}
			c, n, waste := handGrow(0, 0, first), first, 0
			for n < h.rem {
				k := handPlan(c, n, h.rem-n)
				if nc := handGrow(c, n, k); nc != c {
					waste += c
					c = nc
				}
				n += k
			}
			if c < bestCap || c == bestCap && waste < bestWaste {
				best, bestCap, bestWaste = first, c, waste
			}
			if first == h.rem {
				break
			}
		}
		f = best
	}
	h.hcap = handGrow(h.hcap, h.hlen, f)
	h.hlen += f
	return f
}

// reframe passes the client's first handshake records (its ClientHello)
// to crypto/tls cut into records of at most helloFragment bytes (sized
// by handFragment), which TLS allows (a handshake message may span records; the handshake's
// transcript is of messages, not records). The reason is memory:
// crypto/tls reads each record whole into a buffer that it keeps for the
// life of the connection, at the size of the largest record it has read;
// a ClientHello with a post-quantum key share is 1.5 to 1.8 KiB, and so
// would be the buffer of every idle connection (that buffer stays at 576
// bytes). Once the server has
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
			h.frag = h.handFragment()
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
