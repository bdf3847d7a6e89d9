//go:build linux

package eventloop_test

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/internal/sockettest"
)

// tlsServerConfig is the engine's config for the tests: the test PKI's
// server certificate.
func tlsServerConfig(t testing.TB) *tls.Config {
	p := sockettest.TLSCerts(t)
	return &tls.Config{Certificates: []tls.Certificate{p.Server}}
}

// tlsClientConfig trusts the test CA.
func tlsClientConfig(t testing.TB) *tls.Config {
	p := sockettest.TLSCerts(t)
	return &tls.Config{RootCAs: p.CAPool, ServerName: "localhost"}
}

// tlsRecorder records the OnClose and OnHandshakeError causes of an
// engine's connections.
type tlsRecorder struct {
	mu      sync.Mutex
	closed  []error
	hsErrs  []error
	changed chan struct{}
}

func newTLSRecorder() *tlsRecorder { return &tlsRecorder{changed: make(chan struct{}, 1000)} }

func (r *tlsRecorder) close(err error) {
	r.mu.Lock()
	r.closed = append(r.closed, err)
	r.mu.Unlock()
	r.changed <- struct{}{}
}

func (r *tlsRecorder) handshakeError(err error) {
	r.mu.Lock()
	r.hsErrs = append(r.hsErrs, err)
	r.mu.Unlock()
	r.changed <- struct{}{}
}

// wait waits until n closes and m handshake errors have been recorded.
func (r *tlsRecorder) wait(t testing.TB, n, m int) (closed, hsErrs []error) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		closed, hsErrs = append([]error(nil), r.closed...), append([]error(nil), r.hsErrs...)
		r.mu.Unlock()
		if len(closed) >= n && len(hsErrs) >= m {
			return closed, hsErrs
		}
		select {
		case <-r.changed:
		case <-deadline:
			t.Fatalf("timed out waiting for %d closes and %d handshake errors: have %v and %v", n, m, closed, hsErrs)
		}
	}
}

// tlsEcho echoes plaintext and records closes and handshake errors.
type tlsEcho struct {
	echo
	rec   *tlsRecorder
	state chan tls.ConnectionState // OnOpen's view, if set
}

func (h *tlsEcho) OnOpen(c *eventloop.Conn) eventloop.Action {
	if h.state != nil {
		st, ok := c.ConnectionState()
		if !ok {
			panic("OnOpen on a TLS engine without TLS state")
		}
		h.state <- st
	}
	return eventloop.None
}

func (h *tlsEcho) OnClose(c *eventloop.Conn, err error) {
	if h.rec != nil {
		h.rec.close(err)
	}
}

func (h *tlsEcho) OnHandshakeError(c *eventloop.Conn, err error) {
	if h.rec != nil {
		h.rec.handshakeError(err)
	}
}

// startTLS starts a TLS engine with h on loopback.
func startTLS(t testing.TB, h eventloop.Handler, cfg *tls.Config, tune func(*eventloop.Engine)) (string, *eventloop.Engine, func()) {
	t.Helper()
	e := &eventloop.Engine{Handler: h, Loops: 2, TLSConfig: cfg}
	if tune != nil {
		tune(e)
	}
	addr, stop := start(t, e, "tcp", "127.0.0.1:0")
	return addr, e, stop
}

// echoCheck sends msg over c and checks that it comes back.
func echoCheck(t testing.TB, c net.Conn, msg []byte) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { _, err := c.Write(msg); errc <- err }()
	got := make([]byte, len(msg))
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading the echo of %d bytes: %v", len(msg), err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo of %d bytes differs", len(msg))
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestTLSEcho: plaintext in and out over TLS 1.2 and 1.3, from a byte to
// many records, several connections at once.
func TestTLSEcho(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version uint16
		sizes   []int
	}{
		{"TLS1.2", tls.VersionTLS12, []int{1, 100, 16 << 10, 100 << 10}},
		{"TLS1.3", tls.VersionTLS13, []int{1, 100, 16<<10 + 1, 1 << 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newTLSRecorder()
			h := &tlsEcho{rec: rec, state: make(chan tls.ConnectionState, 8)}
			addr, e, _ := startTLS(t, h, tlsServerConfig(t), nil)
			const conns = 4
			var wg sync.WaitGroup
			for i := 0; i < conns; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					cfg := tlsClientConfig(t)
					cfg.MinVersion, cfg.MaxVersion = tc.version, tc.version
					c, err := tls.Dial("tcp", addr, cfg)
					if err != nil {
						t.Errorf("dial: %v", err)
						return
					}
					defer c.Close()
					for _, n := range tc.sizes {
						echoCheck(t, c, randomBytes(n))
					}
				}()
			}
			wg.Wait()
			for i := 0; i < conns; i++ {
				st := recv(t, h.state, "OnOpen")
				if st.Version != tc.version || !st.HandshakeComplete {
					t.Errorf("OnOpen saw version %x complete %v, want %x complete", st.Version, st.HandshakeComplete, tc.version)
				}
			}
			closed, _ := rec.wait(t, conns, 0)
			for _, err := range closed {
				if err != nil {
					t.Errorf("OnClose(%v), want nil for the client's close_notify", err)
				}
			}
			if st := e.Stats(); st.TLSHandshakes != conns || st.TLSHandshakeErrors != 0 {
				t.Errorf("Stats: %d handshakes, %d errors; want %d, 0", st.TLSHandshakes, st.TLSHandshakeErrors, conns)
			}
		})
	}
}

// TestTLSIdleHoldsNoGoroutine: connections whose handshake is done add
// no goroutine to the process.
func TestTLSIdleHoldsNoGoroutine(t *testing.T) {
	addr, e, _ := startTLS(t, &tlsEcho{}, tlsServerConfig(t), nil)
	// A first connection, so that the engine's own goroutines are there.
	first, err := tls.Dial("tcp", addr, tlsClientConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	echoCheck(t, first, []byte("x"))
	// The clients run in this process: their goroutines are counted
	// apart. tls.Dial leaves none behind.
	base := runtime.NumGoroutine()
	const n = 300
	conns := make([]*tls.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		c, err := tls.Dial("tcp", addr, tlsClientConfig(t))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	waitFor(t, "the handshakes", func() bool { return e.Stats().TLSHandshakes == n+1 })
	if got := runtime.NumGoroutine(); got > base+2 {
		t.Fatalf("%d goroutines with %d idle TLS connections, %d before them: the engine holds goroutines for idle TLS connections", got, n, base)
	}
	for _, c := range conns[:5] {
		echoCheck(t, c, []byte("still served"))
	}
}

// TestTLSConfigRefused: a TLS engine without a certificate, or over UDP,
// is refused by Serve.
func TestTLSConfigRefused(t *testing.T) {
	for _, tc := range []struct {
		name, network string
		cfg           *tls.Config
		want          string
	}{
		{"no certificate", "tcp", &tls.Config{}, "no certificate"},
		{"udp", "udp", tlsServerConfig(t), "UDP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &eventloop.Engine{Handler: &tlsEcho{}, TLSConfig: tc.cfg}
			err := e.ListenAndServe(tc.network, "127.0.0.1:0")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ListenAndServe = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// BenchmarkTLSEcho is one round trip of size bytes of plaintext through
// the engine's TLS per op, from a crypto/tls client in the same process:
// a record each way, decrypted and encrypted on the loop. allocs/op counts
// the whole process, engine and client: 3 of 24 bytes, all crypto/tls's
// own (Conn.Read allocates the reader it passes to bytes.Buffer.ReadFrom
// each time it reads its transport: once for the client's record, twice on
// the server, the second finding the transport dry); the engine allocates
// nothing a message.
func BenchmarkTLSEcho(b *testing.B) {
	for _, size := range []int{64, 1024, 16 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			addr, _, _ := startTLS(b, &tlsEcho{}, tlsServerConfig(b), func(e *eventloop.Engine) { e.Loops = 1 })
			c, err := tls.Dial("tcp", addr, tlsClientConfig(b))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			msg, buf := randomBytes(size), make([]byte, size)
			echoCheck(b, c, msg) // past crypto/tls's first, smaller records
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if !bytes.Equal(buf, msg) {
				b.Fatal("the echo differs")
			}
		})
	}
}

// asyncGreeter answers "hello" from another goroutine (AsyncWrite, which
// the loop encrypts), and on "bye" sends close_notify with CloseWrite,
// keeping the connection open for reading: what it reads after that it
// reports.
type asyncGreeter struct {
	tlsEcho
	after chan string
}

func (h *asyncGreeter) OnData(c *eventloop.Conn) eventloop.Action {
	in, _ := c.Next(-1)
	b := string(in)
	switch {
	case strings.HasPrefix(b, "hello"):
		go func() {
			if err := c.AsyncWrite([]byte("hello from another goroutine\n"), nil); err != nil {
				panic(err)
			}
		}()
	case strings.HasPrefix(b, "bye"):
		if err := c.CloseWrite(); err != nil {
			panic(err)
		}
	default:
		h.after <- b
	}
	return eventloop.None
}

// TestTLSAsyncWriteAndCloseWrite: AsyncWrite from another goroutine is
// encrypted on the loop; CloseWrite sends close_notify (the client reads
// EOF) and the connection still reads what the client sends.
func TestTLSAsyncWriteAndCloseWrite(t *testing.T) {
	h := &asyncGreeter{after: make(chan string, 1)}
	addr, _, _ := startTLS(t, h, tlsServerConfig(t), nil)
	c, err := tls.Dial("tcp", addr, tlsClientConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("hello"))
	want := "hello from another goroutine\n"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != want {
		t.Fatalf("read %q, %v; want %q", got, err, want)
	}
	c.Write([]byte("bye"))
	if n, err := c.Read(got); n != 0 || err != io.EOF {
		t.Fatalf("after CloseWrite the client read %d bytes, %v; want the close_notify's EOF", n, err)
	}
	c.Write([]byte("still listening?"))
	if got := recv(t, h.after, "the data after CloseWrite"); got != "still listening?" {
		t.Fatalf("the server read %q after CloseWrite", got)
	}
}

// goClientHelloSize is the payload size of the first record Go's TLS
// client sends with its default config (a post-quantum key share).
func goClientHelloSize(t *testing.T) int {
	a, b := net.Pipe()
	defer b.Close()
	go func() {
		defer a.Close()
		tls.Client(a, &tls.Config{ServerName: "localhost"}).Handshake()
	}()
	var hdr [5]byte
	if _, err := io.ReadFull(b, hdr[:]); err != nil {
		t.Fatal(err)
	}
	return int(hdr[3])<<8 | int(hdr[4])
}

// TestTLSHelloFragmentsKeepHandshakeBufferSmall checks how the engine
// cuts a client's first handshake record for crypto/tls, which appends
// the records' payloads to a bytes.Buffer that it keeps, at its
// capacity, for the life of the connection: the fragments add up to the
// record, none is over 512 bytes (crypto/tls's record buffer stays at
// 576), and a bytes.Buffer fed with them ends no larger than with
// 512-byte fragments, and up to 3 KiB (any ClientHello, post-quantum
// included) no larger than one that took the record in a single Write:
// the smallest size class that holds it (512-byte fragments took the
// 1496-byte ClientHello of Go's client to 2048 bytes, this to 1536).
func TestTLSHelloFragmentsKeepHandshakeBufferSmall(t *testing.T) {
	type size struct {
		name string
		size int
	}
	sizes := []size{{"go-client", goClientHelloSize(t)}}
	for n := 1; n <= 16<<10; n += 1 + n/256 { // every size to 512, then 0.4% apart
		sizes = append(sizes, size{fmt.Sprint(n), n})
	}
	for _, tc := range sizes {
		t.Run(tc.name, func(t *testing.T) {
			fs := eventloop.HelloFragments(tc.size)
			var b, whole, by512 bytes.Buffer
			sum := 0
			for _, f := range fs {
				if f < 1 || f > 512 {
					t.Fatalf("fragments %v: %d is not in 1..512", fs, f)
				}
				sum += f
				b.Write(make([]byte, f))
			}
			if sum != tc.size {
				t.Fatalf("fragments %v add up to %d, want %d", fs, sum, tc.size)
			}
			for n := tc.size; n > 0; n -= 512 {
				by512.Write(make([]byte, min(n, 512)))
			}
			if b.Cap() > by512.Cap() {
				t.Errorf("%d bytes in fragments %v: the buffer ends at %d bytes, %d with 512-byte fragments", tc.size, fs, b.Cap(), by512.Cap())
			}
			whole.Write(make([]byte, tc.size))
			if tc.size <= 3<<10 && b.Cap() > whole.Cap() {
				t.Errorf("%d bytes in fragments %v: the buffer ends at %d bytes, want at most %d (one Write)", tc.size, fs, b.Cap(), whole.Cap())
			}
		})
	}
}
