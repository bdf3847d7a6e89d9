//go:build linux

package reliability_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
	ss "github.com/socketkit/socketkit/socketserver"
)

// digestServer reads a stream to its end and answers with its sha256: the
// receiving side of the transfers. It runs inside ns, on socketserver
// with the Goroutines dispatcher.
func digestServer(t *testing.T, ns *netns) (socket.Sockaddr, func()) {
	return digestServerOn(t, ns, chaosServers[0])
}

// digest is the digest server's handler.
func digest(ctx context.Context, c net.Conn) error {
	sum := sha256.New()
	if _, err := io.Copy(sum, c); err != nil {
		return err
	}
	_, err := c.Write(sum.Sum(nil))
	return err
}

// chaosServer is a server the loss and reset tests run the digest server
// on: socketserver (kind nil, the figures' names without a prefix), or
// the engine through eventloop.Blocking on epoll or io_uring.
type chaosServer struct {
	name string
	kind *serverKind
}

var chaosServers = []chaosServer{
	{"goroutines", nil},
	{blockingKind.name, &blockingKind},
	{blockingURingKind.name, &blockingURingKind},
}

// figureName is name for socketserver and name with the server's name
// after its first word for the others.
func (s chaosServer) figureName(name string) string {
	if s.kind == nil {
		return name
	}
	first, rest, _ := strings.Cut(name, "_")
	return first + "_" + s.name + "_" + rest
}

func digestServerOn(t *testing.T, ns *netns, on chaosServer) (socket.Sockaddr, func()) {
	t.Helper()
	if on.kind != nil {
		var srv runningServer
		ns.do(t, func() { srv = on.kind.start(t, "tcp", "127.0.0.1:0", digest, limits{}) })
		sa, err := socket.ParseAddr(socket.AF_INET, srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		return sa, func() {
			// Closed within a second, as srv.Close below closes at once: a
			// connection the reset cut off on the client's side only
			// still waits for data.
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			srv.Shutdown(t, ctx)
		}
	}
	h := ss.HandlerFunc(func(ctx context.Context, r *ss.Request) error { return digest(ctx, r.Conn) })
	var srv *ss.Server
	var err error
	ns.do(t, func() { srv, err = ss.NewTCPServer("127.0.0.1:0", h) })
	if err != nil {
		t.Fatal(err)
	}
	srv.Logger = slog.New(slog.DiscardHandler)
	srv.LingerTimeout = 5 * time.Second
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeForever() }()
	return srv.Address(), func() {
		srv.Close()
		<-errc
	}
}

// nsClient makes a TCP socket inside ns.
func nsClient(t *testing.T, ns *netns) *socket.Socket {
	t.Helper()
	var c *socket.Socket
	var err error
	ns.do(t, func() { c, err = socket.New(socket.AF_INET, socket.SOCK_STREAM, 0) })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// transfer sends size random bytes to a digestServer in ns and checks the
// digest that comes back; it returns the time taken.
func transfer(t *testing.T, ns *netns, size int, limit time.Duration) time.Duration {
	t.Helper()
	return transferOn(t, ns, chaosServers[0], size, limit)
}

func transferOn(t *testing.T, ns *netns, on chaosServer, size int, limit time.Duration) time.Duration {
	t.Helper()
	addr, stop := digestServerOn(t, ns, on)
	defer stop()
	payload := make([]byte, size)
	rand.Read(payload)
	want := sha256.Sum256(payload)
	c := nsClient(t, ns)
	defer c.Close()
	c.SetTimeout(limit)
	start := time.Now()
	if err := c.Connect(addr); err != nil {
		t.Fatalf("connect: %v", err)
	}
	if _, err := c.Sendall(payload, 0); err != nil {
		t.Fatalf("send: %v", err)
	}
	c.CloseWrite()
	got := make([]byte, 32)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading the digest: %v", err)
	}
	took := time.Since(start)
	if !bytes.Equal(got, want[:]) {
		t.Fatalf("sha256 differs: sent %x, received %x", want, got)
	}
	return took
}

// dropRate drops pct% of incoming TCP packets (data and ACKs alike).
//
// It also lowers the namespace's retransmission timeout floor to 10 ms and
// its ceiling to 1 s (net.ipv4.tcp_rto_min_us, tcp_rto_max_ms). Loopback's
// round trip is microseconds, and with the defaults (200 ms, 120 s) a chain
// of lost retransmissions doubles its way into minutes: at 20% loss a
// retransmission round fails 36% of the time (the segment or its ACK), and
// one run in about 80 needed more than 60 s for 20 MB. Every segment is
// still dropped at the same rate and must still arrive; only the waiting
// between tries is shorter.
func dropRate(t *testing.T, ns *netns, pct int) {
	ns.sh(t, "sysctl -q -w net.ipv4.tcp_rto_min_us=10000 net.ipv4.tcp_rto_max_ms=1000")
	ns.nft(t, fmt.Sprintf(`table inet chaos {
	chain in {
		type filter hook input priority 0; policy accept;
		meta l4proto tcp numgen random mod 100 < %d counter drop
	}
}
`, pct))
}

// TestPacketLoss: 20 MB arrives intact through 5% and 20% random loss, on
// the Goroutines dispatcher and on the event-loop engine (epoll and
// io_uring).
func TestPacketLoss(t *testing.T) {
	for _, on := range chaosServers {
		for _, tc := range []struct {
			pct   int
			limit time.Duration
		}{{5, 10 * time.Second}, {20, 60 * time.Second}} {
			t.Run(fmt.Sprintf("%s/%dpct", on.name, tc.pct), func(t *testing.T) {
				testPacketLoss(t, on, tc.pct, tc.limit)
			})
		}
	}
}

func testPacketLoss(t *testing.T, on chaosServer, pct int, limit time.Duration) {
	sockettest.LeakCheck(t)
	ns := newNetns(t)
	dropRate(t, ns, pct)
	took := transferOn(t, ns, on, 20_000_000, limit)
	figure(t, on.figureName(fmt.Sprintf("loss_%dpct_20MB_secs", pct)), fmt.Sprintf("%.2f", took.Seconds()))
	drops := ns.dropped(t)
	figure(t, on.figureName(fmt.Sprintf("loss_%dpct_packets_dropped", pct)), drops)
	if drops == 0 {
		t.Errorf("the nft rule dropped nothing: the test proved nothing")
	}
	if took > limit {
		t.Errorf("took %v, bound %v", took, limit)
	}
}

// TestRateLimit: through an 8 Mbit/s token bucket, 4 MB takes what the
// rate says, within 15%, and no deadline fires by mistake.
func TestRateLimit(t *testing.T) {
	sockettest.LeakCheck(t)
	ns := newNetns(t)
	ns.sh(t, "tc qdisc add dev lo root tbf rate 8mbit burst 32kbit latency 400ms")
	const size = 4_000_000
	took := transfer(t, ns, size, 30*time.Second)
	mbit := float64(size) * 8 / took.Seconds() / 1e6
	figure(t, "tbf_8mbit_measured_mbit", fmt.Sprintf("%.2f", mbit))
	// Both directions share lo's one qdisc; the ACKs are small.
	if mbit < 8*0.85 || mbit > 8*1.15 {
		t.Errorf("%.2f Mbit/s through an 8 Mbit/s bucket", mbit)
	}
}

// TestResetMidStream: the kernel answers with a RST after 5 MB; the sender
// gets ECONNRESET (an error, not a panic or a hang) and the server serves
// the next client; on the Goroutines dispatcher and on the event-loop
// engine (epoll and io_uring).
func TestResetMidStream(t *testing.T) {
	for _, on := range chaosServers {
		t.Run(on.name, func(t *testing.T) { testResetMidStream(t, on) })
	}
}

func testResetMidStream(t *testing.T, on chaosServer) {
	sockettest.LeakCheck(t)
	ns := newNetns(t)
	addr, stop := digestServerOn(t, ns, on)
	defer stop()
	port := addr.(*socket.Inet4Addr).Port
	ns.nft(t, fmt.Sprintf(`table inet chaos {
	chain in {
		type filter hook input priority 0; policy accept;
		tcp dport %d quota over 5 mbytes counter reject with tcp reset
	}
}
`, port))
	c := nsClient(t, ns)
	defer c.Close()
	c.SetTimeout(20 * time.Second)
	if err := c.Connect(addr); err != nil {
		t.Fatal(err)
	}
	_, err := c.Sendall(make([]byte, 20_000_000), 0)
	figure(t, on.figureName("rst_midstream_error"), fmt.Sprintf("%q", errClass(err)))
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("send through a reset: %v, want ECONNRESET", err)
	}
	ns.sh(t, "nft flush ruleset")
	if took := transferOn(t, ns, on, 1_000_000, 10*time.Second); took <= 0 {
		t.Fatal("no transfer after the reset")
	}
}

// TestPartitionUserTimeout: the peer vanishes (every packet dropped); with
// TCP_USER_TIMEOUT of 2 s the sender learns within 3 s.
func TestPartitionUserTimeout(t *testing.T) {
	sockettest.LeakCheck(t)
	ns := newNetns(t)
	addr, stop := digestServer(t, ns)
	defer stop()
	c := nsClient(t, ns)
	defer c.Close()
	if err := c.SetUserTimeout(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(30 * time.Second)
	if err := c.Connect(addr); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sendall([]byte("before the partition"), 0); err != nil {
		t.Fatal(err)
	}
	ns.nft(t, `table inet chaos {
	chain in {
		type filter hook input priority 0; policy accept;
		meta l4proto tcp counter drop
	}
}
`)
	start := time.Now()
	var err error
	for err == nil && time.Since(start) < 20*time.Second {
		_, err = c.Sendall(make([]byte, 64<<10), 0)
	}
	took := time.Since(start)
	figure(t, "partition_detected_secs", fmt.Sprintf("%.2f", took.Seconds()))
	if !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("after a partition: %v, want ETIMEDOUT", err)
	}
	if took > 3*time.Second {
		t.Errorf("partition detected after %v, want within 3s", took)
	}
}

func errClass(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return unixName(errno)
	}
	if err == nil {
		return "none"
	}
	return err.Error()
}

func unixName(e syscall.Errno) string {
	switch e {
	case syscall.ECONNRESET:
		return "ECONNRESET"
	case syscall.EPIPE:
		return "EPIPE"
	case syscall.ETIMEDOUT:
		return "ETIMEDOUT"
	}
	return e.Error()
}
