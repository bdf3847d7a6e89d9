//go:build linux

package socket_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

func TestContextVariants(t *testing.T) {
	sockettest.LeakCheck(t)
	ln, addr := listen(t, streamNets[0])

	// Cancel wakes a blocked AcceptContext with ctx.Err().
	ctx, cancel := context.WithCancel(context.Background())
	go func() { sockettest.WaitBlocked(t, 1, "socket_test.TestContextVariants"); cancel() }()
	if _, _, err := ln.AcceptContext(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("AcceptContext after cancel: %v", err)
	}
	// A cancelled context leaves no deadline behind: a plain Accept works.
	c := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	if err := c.ConnectContext(context.Background(), addr); err != nil {
		t.Fatal(err)
	}
	s, _, err := ln.Accept()
	if err != nil {
		t.Fatalf("Accept after a cancelled AcceptContext: %v", err)
	}
	defer s.Close()

	// A context deadline bounds RecvContext.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel2()
	_, err = s.RecvContext(ctx2, make([]byte, 4), 0)
	var oe *net.OpError
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &oe) || oe.Op != "recv" {
		t.Fatalf("RecvContext past deadline: %v; want context.DeadlineExceeded in an OpError naming recv", err)
	}
	// And data is received within one.
	c.Sendall([]byte("ctx!"), 0)
	buf := make([]byte, 4)
	if n, err := s.RecvContext(context.Background(), buf, 0); n != 4 || err != nil {
		t.Fatalf("RecvContext = %d, %v", n, err)
	}
	if n, err := c.SendallContext(context.Background(), []byte("back"), 0); n != 4 || err != nil {
		t.Fatalf("SendallContext = %d, %v", n, err)
	}
	// An already cancelled context fails at once.
	done, cancel3 := context.WithCancel(context.Background())
	cancel3()
	if err := c.ConnectContext(done, addr); !errors.Is(err, context.Canceled) {
		t.Fatalf("ConnectContext(cancelled) = %v", err)
	}

	u, v, _, vAddr := dgramPair(t, dgramNets[0])
	if _, err := u.SendtoContext(context.Background(), []byte("d"), 0, vAddr); err != nil {
		t.Fatal(err)
	}
	if _, from, err := v.RecvfromContext(context.Background(), buf, 0); err != nil || from == nil {
		t.Fatalf("RecvfromContext: %v %v", from, err)
	}
}
