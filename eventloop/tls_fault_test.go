//go:build linux

package eventloop_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/internal/sockettest"
)

// clientHello returns the first flight of a Go TLS client: its
// ClientHello record, as sent on the wire.
func clientHello(t testing.TB) []byte {
	t.Helper()
	rc := &recordingConn{}
	tls.Client(rc, tlsClientConfig(t)).Handshake() // fails reading the answer
	if len(rc.out) < 100 || rc.out[0] != 22 {
		t.Fatalf("captured %d bytes, not a ClientHello", len(rc.out))
	}
	return rc.out
}

// recordingConn records what is written to it and reads EOF.
type recordingConn struct {
	net.Conn
	out []byte
}

func (r *recordingConn) Write(p []byte) (int, error)      { r.out = append(r.out, p...); return len(p), nil }
func (r *recordingConn) Read(p []byte) (int, error)       { return 0, io.EOF }
func (r *recordingConn) Close() error                     { return nil }
func (r *recordingConn) SetDeadline(time.Time) error      { return nil }
func (r *recordingConn) SetWriteDeadline(time.Time) error { return nil }
func (r *recordingConn) SetReadDeadline(time.Time) error  { return nil }

// rawTLS is a TLS client whose TCP connection the test can also write to
// directly (records of its own, a FIN, a reset).
type rawTLS struct {
	raw *net.TCPConn
	tc  *tls.Conn
}

func dialRawTLS(t testing.TB, addr string) *rawTLS {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(raw, tlsClientConfig(t))
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		raw.Close()
		t.Fatal(err)
	}
	tc.SetDeadline(time.Time{})
	return &rawTLS{raw: raw.(*net.TCPConn), tc: tc}
}

// TestTLSFaults: each kind of bad peer closes its own connection with a
// clear error, leaks nothing, and leaves a healthy connection served.
func TestTLSFaults(t *testing.T) {
	hello := clientHello(t)
	for _, tc := range []struct {
		name string
		// peer misbehaves on a fresh TCP connection to addr
		peer func(t *testing.T, addr string)
		// handshake: the error goes to OnHandshakeError (else OnClose)
		handshake bool
		want      func(err error) bool
		wantText  string
		tune      func(e *eventloop.Engine)
	}{
		{
			name: "silent client: closed at the handshake timeout",
			peer: func(t *testing.T, addr string) {
				c := dial(t, addr)
				defer c.Close()
				expectClosed(t, c, 5*time.Second)
			},
			handshake: true,
			want:      func(err error) bool { return errors.Is(err, eventloop.ErrHandshakeTimeout) },
			wantText:  "timed out",
		},
		{
			name: "ClientHello a byte at a time: closed at the handshake timeout",
			peer: func(t *testing.T, addr string) {
				c := dial(t, addr)
				defer c.Close()
				done := make(chan struct{})
				go func() {
					defer close(done)
					for i := 0; i < len(hello)-1; i++ {
						if _, err := c.Write(hello[i : i+1]); err != nil {
							return // closed by the server
						}
						time.Sleep(20 * time.Millisecond)
					}
				}()
				expectClosed(t, c, 5*time.Second)
				c.Close()
				<-done
			},
			handshake: true,
			want:      func(err error) bool { return errors.Is(err, eventloop.ErrHandshakeTimeout) },
			wantText:  "timed out",
		},
		{
			name: "garbage instead of a ClientHello",
			peer: func(t *testing.T, addr string) {
				c := dial(t, addr)
				defer c.Close()
				c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
				expectClosed(t, c, 5*time.Second)
			},
			handshake: true,
			wantText:  "does not look like a TLS handshake",
		},
		{
			name: "a ClientHello cut short by a FIN",
			peer: func(t *testing.T, addr string) {
				c := dial(t, addr)
				defer c.Close()
				c.Write(hello[:len(hello)/2])
				c.(*net.TCPConn).CloseWrite()
				expectClosed(t, c, 5*time.Second)
			},
			handshake: true,
			want:      func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) },
			wantText:  "unexpected EOF",
		},
		{
			name: "a truncated record after the handshake",
			peer: func(t *testing.T, addr string) {
				r := dialRawTLS(t, addr)
				defer r.raw.Close()
				// A record header that announces 100 bytes, and 10 of them.
				r.raw.Write(append([]byte{23, 3, 3, 0, 100}, make([]byte, 10)...))
				r.raw.CloseWrite()
				expectClosed(t, r.raw, 5*time.Second)
			},
			want:     func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) },
			wantText: "unexpected EOF",
		},
		{
			name: "a reset in the middle of a record",
			peer: func(t *testing.T, addr string) {
				r := dialRawTLS(t, addr)
				r.raw.Write(append([]byte{23, 3, 3, 0, 100}, make([]byte, 10)...))
				time.Sleep(50 * time.Millisecond) // let the partial record arrive first
				r.raw.SetLinger(0)
				r.raw.Close()
			},
			want:     func(err error) bool { return errors.Is(err, syscall.ECONNRESET) },
			wantText: "reset",
		},
		{
			name: "a record that does not decrypt",
			peer: func(t *testing.T, addr string) {
				r := dialRawTLS(t, addr)
				defer r.raw.Close()
				r.raw.Write(append([]byte{23, 3, 3, 0, 40}, bytes.Repeat([]byte{0xA5}, 40)...))
				r.tc.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, err := r.tc.Read(make([]byte, 10))
				if err == nil || !strings.Contains(err.Error(), "bad record MAC") {
					t.Errorf("the client read %v, want the server's bad_record_mac alert", err)
				}
			},
			want:     func(err error) bool { return err != nil },
			wantText: "bad record MAC",
		},
		{
			name: "a client that sends and never reads: bounded, then closed idle",
			peer: func(t *testing.T, addr string) {
				r := dialRawTLS(t, addr)
				defer r.raw.Close()
				chunk := bytes.Repeat([]byte("x"), 64<<10)
				r.tc.SetWriteDeadline(time.Now().Add(10 * time.Second))
				for { // the echo fills the server's output; it stops reading; this blocks
					if _, err := r.tc.Write(chunk); err != nil {
						break // closed by the server (idle), or the deadline
					}
				}
				expectClosed(t, r.raw, 10*time.Second)
			},
			want:     func(err error) bool { return errors.Is(err, eventloop.ErrIdleTimeout) },
			wantText: "idle",
			tune: func(e *eventloop.Engine) {
				e.IdleTimeout = 1500 * time.Millisecond
				e.HighWatermark = 256 << 10
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sockettest.LeakCheck(t)
			rec := newTLSRecorder()
			_, e, stop := startTLS(t, &tlsEcho{rec: rec}, tlsServerConfig(t), func(e *eventloop.Engine) {
				e.TLSHandshakeTimeout = 500 * time.Millisecond
				if tc.tune != nil {
					tc.tune(e)
				}
			})
			addr := e.Addr().String()
			healthy, err := tls.Dial("tcp", addr, tlsClientConfig(t))
			if err != nil {
				t.Fatal(err)
			}
			echoCheck(t, healthy, []byte("before"))
			tc.peer(t, addr)
			var got error
			if tc.handshake {
				_, hs := rec.wait(t, 0, 1)
				got = hs[0]
			} else {
				closed, _ := rec.wait(t, 1, 0)
				got = closed[0]
			}
			if got == nil || (tc.want != nil && !tc.want(got)) || !strings.Contains(got.Error(), tc.wantText) {
				t.Errorf("error %v, want one saying %q", got, tc.wantText)
			}
			if e.IdleTimeout > 0 {
				// The healthy connection was idle as long: open another.
				healthy.Close()
				rec.wait(t, 2, 0)
				if healthy, err = tls.Dial("tcp", addr, tlsClientConfig(t)); err != nil {
					t.Fatal(err)
				}
				// What the server read and has not sent (the kernel's
				// buffers take megabytes of what it sent) is what it
				// holds: about the high watermark.
				// io_uring: receives that completed before the pause took
				// effect are kept, at most the loop's provided buffers.
				limit := uint64(1 << 20)
				if backendOf(e) == eventloop.BackendIOUring {
					limit += 8 << 20
				}
				if st := e.Stats(); st.BytesIn > st.BytesOut+limit {
					t.Errorf("the server read %d bytes and sent %d to a client that read nothing: it holds more than %d", st.BytesIn, st.BytesOut, limit)
				}
			}
			echoCheck(t, healthy, []byte("after: still served"))
			healthy.Close()
			rec.wait(t, 1+btoi(!tc.handshake)+btoi(e.IdleTimeout > 0), 0)
			stop()
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// expectClosed reads c until the server closes it (EOF or a reset),
// failing if that takes longer than d.
func expectClosed(t testing.TB, c net.Conn, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the server did not close the connection within %v", d)
		}
		return
	}
}

// producer writes as long as the output is under the high watermark and
// reports the largest output it saw.
type producer struct {
	tlsEcho
	mu    sync.Mutex
	max   int
	calls int
}

var block = bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB

func (p *producer) fill(c *eventloop.Conn) eventloop.Action {
	for c.OutboundBuffered() < 256<<10 {
		c.Write(block)
	}
	p.mu.Lock()
	p.max = max(p.max, c.OutboundBuffered())
	p.calls++
	p.mu.Unlock()
	return eventloop.None
}

func (p *producer) OnOpen(c *eventloop.Conn) eventloop.Action     { return p.fill(c) }
func (p *producer) OnWritable(c *eventloop.Conn) eventloop.Action { return p.fill(c) }

// TestTLSNonReaderBounded: a client that never reads while the server
// writes costs the server its output limit, not more: the output, counted
// in TLS records, stops growing at the producer's limit, and the
// producer is not asked for more.
func TestTLSNonReaderBounded(t *testing.T) {
	sockettest.LeakCheck(t)
	rec := newTLSRecorder()
	p := &producer{tlsEcho: tlsEcho{rec: rec}}
	addr, _, stop := startTLS(t, p, tlsServerConfig(t), nil)
	c, err := tls.Dial("tcp", addr, tlsClientConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the kernel's buffers fill; the client reads nothing
	p.mu.Lock()
	most, calls := p.max, p.calls
	p.mu.Unlock()
	// 256 KiB of plaintext and a record's worth of overhead per 16 KiB.
	if limit := 256<<10 + 64<<10 + 64<<10/16384*64 + 4096; most > limit {
		t.Errorf("output reached %d bytes, want at most %d", most, limit)
	}
	time.Sleep(300 * time.Millisecond)
	p.mu.Lock()
	again := p.calls
	p.mu.Unlock()
	if again != calls {
		t.Errorf("the producer was called %d more times while the client read nothing", again-calls)
	}
	// Now the client reads: it gets every byte, in order.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1<<20)
	n, err := io.ReadFull(c, buf)
	if err != nil {
		t.Fatalf("reading 1 MiB after the stall: %v (%d bytes)", err, n)
	}
	for i := 0; i < n; i += len(block) {
		if !bytes.Equal(buf[i:min(n, i+len(block))], block[:min(n-i, len(block))]) {
			t.Fatalf("bytes differ at %d", i)
		}
	}
	c.Close()
	rec.wait(t, 1, 0)
	stop()
}

// TestTLSCallbackPanics: a config callback that panics during a handshake
// (here GetConfigForClient, for one server name) fails that handshake
// with an error saying so; the loop, and its other connections, go on.
func TestTLSCallbackPanics(t *testing.T) {
	sockettest.LeakCheck(t)
	cfg := tlsServerConfig(t)
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if hello.ServerName == "panic.test" {
			panic("GetConfigForClient for panic.test")
		}
		return nil, nil
	}
	rec := newTLSRecorder()
	addr, _, stop := startTLS(t, &tlsEcho{rec: rec}, cfg, func(e *eventloop.Engine) {
		e.Logger = slog.New(slog.DiscardHandler)
	})
	healthy, err := tls.Dial("tcp", addr, tlsClientConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	bad := tlsClientConfig(t)
	bad.ServerName = "panic.test"
	if c, err := tls.Dial("tcp", addr, bad); err == nil {
		c.Close()
		t.Fatal("the handshake whose callback panicked succeeded")
	}
	_, hs := rec.wait(t, 0, 1)
	if !strings.Contains(hs[0].Error(), "panicked") {
		t.Errorf("handshake error %v, want one saying the callback panicked", hs[0])
	}
	echoCheck(t, healthy, []byte("still served"))
	healthy.Close()
	rec.wait(t, 1, 1)
	stop()
}
