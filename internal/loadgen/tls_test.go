//go:build linux

package loadgen_test

import (
	"context"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/internal/loadgen"
	"github.com/socketkit/socketkit/internal/sockettest"
	ss "github.com/socketkit/socketkit/socketserver"
)

type echo struct{ eventloop.BaseHandler }

func (echo) OnData(c *eventloop.Conn) eventloop.Action {
	b, _ := c.Next(-1)
	c.Write(b)
	return eventloop.None
}

// tlsServer serves echo over TLS on the engine.
func tlsServer(t *testing.T) string {
	t.Helper()
	p := sockettest.TLSCerts(t)
	e := &eventloop.Engine{Handler: echo{}, Loops: 1, TLSConfig: &tls.Config{Certificates: []tls.Certificate{p.Server}}}
	errc := make(chan error, 1)
	go func() { errc <- e.ListenAndServe("tcp", "127.0.0.1:0") }()
	for i := 0; i < 500 && e.Addr() == nil; i++ {
		time.Sleep(2 * time.Millisecond)
	}
	if e.Addr() == nil {
		t.Fatal("engine did not start")
	}
	t.Cleanup(func() {
		e.Shutdown(context.Background())
		if err := <-errc; !errors.Is(err, eventloop.ErrEngineClosed) {
			t.Errorf("Serve = %v", err)
		}
	})
	return e.Addr().String()
}

// TestTLSVerifiesEcho: with Config.TLS the load speaks TLS, and what is
// verified is the plaintext, over several records a message.
func TestTLSVerifiesEcho(t *testing.T) {
	addr := tlsServer(t)
	cfg := &tls.Config{RootCAs: sockettest.TLSCerts(t).CAPool, ServerName: "localhost"}
	for _, size := range []int{1, 1024, 40000} {
		res, err := loadgen.Run(loadgen.Config{Addr: addr, Conns: 3, Size: size, Depth: 2, Count: 300, TLS: cfg})
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if res.AllMsgs != 300 || res.Verified != 300*int64(size) {
			t.Fatalf("size %d: %d messages, %d bytes verified", size, res.AllMsgs, res.Verified)
		}
	}
	// Held connections have made their handshakes.
	if n, err := loadgen.Hold(loadgen.Config{Addr: addr, Conns: 5, TLS: cfg}, time.Millisecond); n != 5 || err != nil {
		t.Fatalf("Hold = %d, %v", n, err)
	}
}

// TestHandshakes counts full handshakes, and fails on a server that does
// not speak TLS.
func TestHandshakes(t *testing.T) {
	addr := tlsServer(t)
	cfg := &tls.Config{RootCAs: sockettest.TLSCerts(t).CAPool, ServerName: "localhost"}
	res, err := loadgen.Handshakes(loadgen.Config{Addr: addr, Conns: 2, TLS: cfg, Duration: 200 * time.Millisecond})
	if err != nil || res.Handshakes == 0 || res.PerS <= 0 {
		t.Fatalf("Handshakes = %+v, %v", res, err)
	}
	plain := server(t, func(ctx context.Context, r *ss.Request) error { return nil })
	if _, err := loadgen.Handshakes(loadgen.Config{Addr: plain, Conns: 1, TLS: cfg, Duration: 100 * time.Millisecond}); err == nil {
		t.Fatal("Handshakes against a plain server reported no error")
	}
}
