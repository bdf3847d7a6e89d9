//go:build linux

package loadgen_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/loadgen"
	"github.com/socketkit/socketkit/internal/sockettest"
	ss "github.com/socketkit/socketkit/socketserver"
)

func TestMain(m *testing.M) { sockettest.VerifyTestMain(m) }

func server(t *testing.T, h ss.HandlerFunc) string {
	t.Helper()
	srv, err := ss.NewThreadingTCPServer("127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeForever()
	t.Cleanup(func() { srv.Close() })
	return srv.Address().String()
}

func TestVerifiesEcho(t *testing.T) {
	addr := server(t, func(ctx context.Context, r *ss.Request) error { _, err := io.Copy(r.Conn, r.Conn); return err })
	res, err := loadgen.Run(loadgen.Config{Addr: addr, Conns: 4, Size: 100, Depth: 3, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Msgs == 0 || res.Verified < int64(res.Msgs)*100 || res.P50us <= 0 || res.Hist.Count() != res.Msgs {
		t.Fatalf("result %+v", res)
	}
	// A fixed count stops the run.
	res, err = loadgen.Run(loadgen.Config{Addr: addr, Conns: 2, Size: 64, Depth: 1, Count: 1000})
	if err != nil || res.Msgs != 1000 {
		t.Fatalf("count run: %+v, %v", res, err)
	}
}

// TestDetectsCorruption: a server that changes one byte in a million, or
// drops the connection, fails the run.
func TestDetectsCorruption(t *testing.T) {
	flip := server(t, func(ctx context.Context, r *ss.Request) error {
		buf := make([]byte, 4096)
		total := 0
		for {
			n, err := r.Conn.Read(buf)
			if err != nil {
				return nil
			}
			for i := 0; i < n; i++ {
				if total+i == 5000 {
					buf[i] ^= 1
				}
			}
			total += n
			r.Conn.Write(buf[:n])
		}
	})
	if _, err := loadgen.Run(loadgen.Config{Addr: flip, Conns: 1, Size: 64, Depth: 4, Duration: time.Second}); err == nil || !strings.Contains(err.Error(), "wrong bytes") {
		t.Fatalf("a corrupted echo was not detected: %v", err)
	}
	drop := server(t, func(ctx context.Context, r *ss.Request) error {
		buf := make([]byte, 64)
		r.Conn.Read(buf)
		return nil // close without echoing
	})
	if _, err := loadgen.Run(loadgen.Config{Addr: drop, Conns: 1, Size: 64, Depth: 1, Duration: time.Second}); err == nil {
		t.Fatal("a server that closes the connection was not detected")
	}
}
