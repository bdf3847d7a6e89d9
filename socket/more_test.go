//go:build linux

package socket_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
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

func TestResolver(t *testing.T) {
	ctx := context.Background()
	ais, err := socket.GetAddrInfo(ctx, "localhost", "http", &socket.AddrInfoHints{Family: socket.AF_INET, Type: socket.SOCK_STREAM})
	if err != nil || len(ais) == 0 {
		t.Fatalf("GetAddrInfo(localhost, http) = %v, %v", ais, err)
	}
	if ais[0].Addr.String() != "127.0.0.1:80" || ais[0].Proto != socket.IPPROTO_TCP {
		t.Fatalf("first result %+v", ais[0])
	}
	// Type 0 gives stream, dgram and raw for each address, as glibc does.
	ais, err = socket.GetAddrInfo(ctx, "127.0.0.1", "7", nil)
	if err != nil || len(ais) != 3 || ais[0].Type != socket.SOCK_STREAM || ais[1].Type != socket.SOCK_DGRAM || ais[2].Type != socket.SOCK_RAW {
		t.Fatalf("GetAddrInfo(numeric) = %+v, %v", ais, err)
	}
	// No host: wildcard with AI_PASSIVE, loopback without.
	ais, _ = socket.GetAddrInfo(ctx, "", "80", &socket.AddrInfoHints{Type: socket.SOCK_STREAM, Flags: socket.AI_PASSIVE})
	if len(ais) != 2 || ais[0].Addr.String() != "0.0.0.0:80" || ais[1].Addr.String() != "[::]:80" {
		t.Fatalf("passive: %+v", ais)
	}
	ais, _ = socket.GetAddrInfo(ctx, "", "80", &socket.AddrInfoHints{Type: socket.SOCK_STREAM})
	if len(ais) != 2 || ais[0].Addr.String() != "[::1]:80" {
		t.Fatalf("no host: %+v", ais)
	}
	// Errors carry EAI codes.
	errCases := []struct {
		host, port string
		hints      *socket.AddrInfoHints
		want       socket.EAI
	}{
		{"no-such-host.invalid", "80", nil, socket.EAI_NONAME},
		{"localhost", "no-such-service", nil, socket.EAI_SERVICE},
		{"localhost", "80", &socket.AddrInfoHints{Flags: socket.AI_NUMERICHOST}, socket.EAI_NONAME},
		{"127.0.0.1", "http", &socket.AddrInfoHints{Flags: socket.AI_NUMERICSERV}, socket.EAI_NONAME},
		{"127.0.0.1", "80", &socket.AddrInfoHints{Family: socket.AF_UNIX}, socket.EAI_FAMILY},
		{"127.0.0.1", "80", &socket.AddrInfoHints{Type: socket.SOCK_RDM}, socket.EAI_SOCKTYPE},
		{"127.0.0.1", "80", &socket.AddrInfoHints{Type: socket.SOCK_STREAM, Proto: socket.IPPROTO_UDP}, socket.EAI_SOCKTYPE},
		{"127.0.0.1", "70000", nil, socket.EAI_SERVICE},
		{"", "", nil, socket.EAI_NONAME},
	}
	for _, tc := range errCases {
		_, err := socket.GetAddrInfo(ctx, tc.host, tc.port, tc.hints)
		var ae *socket.AddrInfoError
		if !errors.As(err, &ae) || !errors.Is(err, tc.want) {
			t.Errorf("GetAddrInfo(%q, %q) = %v; want %v", tc.host, tc.port, err, tc.want)
		}
	}
	if ip, err := socket.GetHostByName("localhost"); err != nil || ip.String() != "127.0.0.1" {
		t.Fatalf("GetHostByName(localhost) = %v, %v", ip, err)
	}
	if he, err := socket.GetHostByAddr("127.0.0.1"); err != nil || he.Name == "" {
		t.Fatalf("GetHostByAddr = %+v, %v", he, err)
	}
	var he *socket.HostError
	if _, err := socket.GetHostByAddr("192.0.2.255"); !errors.As(err, &he) || he.Code != socket.HOST_NOT_FOUND {
		t.Fatalf("GetHostByAddr(TEST-NET) = %v; want a HostError HOST_NOT_FOUND", err)
	}
	if got := (socket.AI_PASSIVE | socket.AI_CANONNAME).String(); got != "AI_PASSIVE|AI_CANONNAME" {
		t.Fatalf("AIFlag.String = %q", got)
	}
	host, serv, err := socket.GetNameInfo(ctx, &socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}, Port: 80}, socket.NI_NUMERICHOST)
	if err != nil || host != "127.0.0.1" || serv != "http" {
		t.Fatalf("GetNameInfo = %q %q, %v", host, serv, err)
	}
	if _, serv, _ := socket.GetNameInfo(ctx, &socket.Inet4Addr{Port: 80}, socket.NI_NUMERICHOST|socket.NI_NUMERICSERV); serv != "80" {
		t.Fatalf("NI_NUMERICSERV gave %q", serv)
	}
	if p, err := socket.GetServByName("echo", "tcp"); err != nil || p != 7 {
		t.Fatalf("GetServByName(echo) = %d, %v", p, err)
	}
	if name, err := socket.GetServByPort(13, ""); err != nil || name != "daytime" {
		t.Fatalf("GetServByPort(13) = %q, %v", name, err)
	}
	if p, err := socket.GetProtoByName("icmp"); err != nil || p != socket.IPPROTO_ICMP {
		t.Fatalf("GetProtoByName(icmp) = %v, %v", p, err)
	}
	if _, err := socket.GetProtoByName("nope"); err == nil {
		t.Fatal("GetProtoByName(nope) succeeded")
	}
	if h, err := socket.GetHostname(); err != nil || h == "" {
		t.Fatalf("GetHostname = %q, %v", h, err)
	}
	if socket.GetFQDN("") == "" {
		t.Fatal("GetFQDN empty")
	}
}

func TestConversions(t *testing.T) {
	if socket.Htons(0x1234) != 0x3412 || socket.Ntohs(socket.Htons(6254)) != 6254 {
		t.Fatal("Htons")
	}
	if socket.Htonl(0x01020304) != 0x04030201 || socket.Ntohl(socket.Htonl(7)) != 7 {
		t.Fatal("Htonl")
	}
	aton := map[string]string{"127.0.0.1": "127.0.0.1", "127.1": "127.0.0.1", "10.1.257": "10.1.1.1",
		"0x7f.1": "127.0.0.1", "2130706433": "127.0.0.1", "017.0.0.1": "15.0.0.1"}
	for in, want := range aton {
		b, err := socket.InetAton(in)
		if err != nil || socket.InetNtoa(b) != want {
			t.Errorf("InetAton(%q) = %v, %v; want %s", in, socket.InetNtoa(b), err, want)
		}
	}
	for _, bad := range []string{"", "1.2.3.4.5", "256.1.1.1", "a.b.c.d", "1..2", "1.2.3.256"} {
		if _, err := socket.InetAton(bad); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("InetAton(%q) = %v", bad, err)
		}
	}
	b, err := socket.InetPton(socket.AF_INET6, "::1")
	if err != nil || len(b) != 16 || b[15] != 1 {
		t.Fatalf("InetPton(::1) = %v, %v", b, err)
	}
	if s, err := socket.InetNtop(socket.AF_INET6, b); err != nil || s != "::1" {
		t.Fatalf("InetNtop = %q, %v", s, err)
	}
	if _, err := socket.InetPton(socket.AF_INET, "127.1"); err == nil {
		t.Fatal("InetPton accepted the legacy form")
	}
	if _, err := socket.InetPton(socket.AF_INET6, "1.2.3.4"); err == nil {
		t.Fatal("InetPton(AF_INET6, v4) accepted")
	}
	if _, err := socket.InetPton(socket.AF_UNIX, "x"); !errors.Is(err, syscall.EAFNOSUPPORT) {
		t.Fatalf("InetPton(AF_UNIX) = %v", err)
	}
	if _, err := socket.InetNtop(socket.AF_INET, []byte{1, 2, 3}); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("InetNtop(3 bytes) = %v", err)
	}
}

func TestCreateConnection(t *testing.T) {
	sockettest.LeakCheck(t)
	ln, addr := listen(t, streamNets[0])
	ap, _ := socket.AddrPortOf(addr)
	go func() {
		for {
			c, _, err := ln.Accept()
			if err != nil {
				return
			}
			c.Sendall([]byte("hi"), 0)
			c.Close()
		}
	}()
	// "localhost" resolves to ::1 and 127.0.0.1 here; only IPv4 listens, so
	// the IPv6 attempt is refused and the IPv4 one wins.
	c, err := socket.CreateConnection(context.Background(), net.JoinHostPort("localhost", strconv.Itoa(int(ap.Port()))),
		&socket.DialOptions{Timeout: 5 * time.Second, Source: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Timeout() != 5*time.Second {
		t.Errorf("timeout not applied: %v", c.Timeout())
	}
	data, err := io.ReadAll(c)
	c.Close()
	if err != nil || string(data) != "hi" {
		t.Fatalf("read %q, %v", data, err)
	}
	ln.Close()
	// Refused everywhere: AllErrors joins every attempt.
	_, err = socket.CreateConnection(context.Background(), "127.0.0.1:"+strconv.Itoa(int(ap.Port())), &socket.DialOptions{AllErrors: true})
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("CreateConnection to a closed port: %v", err)
	}
	if _, err := socket.CreateConnection(context.Background(), "no port", nil); err == nil {
		t.Fatal("bad address accepted")
	}
}

func TestCreateServerDualStack(t *testing.T) {
	if !socket.HasDualStackIPv6() {
		t.Skip("no dual-stack IPv6")
	}
	sockettest.LeakCheck(t)
	ln, err := socket.CreateServer("[::]:0", &socket.ServerOptions{DualStackIPv6: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if on, _ := ln.ReuseAddr(); !on {
		t.Error("SO_REUSEADDR not set")
	}
	port := ln.LocalAddr().(*net.TCPAddr).Port
	for _, target := range []string{"127.0.0.1", "::1"} {
		c, err := net.Dial("tcp", net.JoinHostPort(target, strconv.Itoa(port)))
		if err != nil {
			t.Fatalf("dial %s: %v", target, err)
		}
		s, from, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("dual-stack server accepted %s as %v", target, from)
		s.Close()
		c.Close()
	}
	if _, err := socket.CreateServer("127.0.0.1:0", &socket.ServerOptions{DualStackIPv6: true}); err == nil {
		t.Fatal("DualStackIPv6 with an IPv4 address accepted")
	}
}

// TestZeroCopy: io.Copy between files and sockets takes the sendfile and
// splice paths and delivers every byte.
func TestZeroCopy(t *testing.T) {
	sockettest.LeakCheck(t)
	var mu sync.Mutex
	var paths []string
	defer socket.SetZeroCopyHook(func(p string) { mu.Lock(); paths = append(paths, p); mu.Unlock() })()
	took := func(want ...string) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		sort.Strings(paths)
		sort.Strings(want)
		if strings.Join(paths, ",") != strings.Join(want, ",") {
			t.Fatalf("copy paths taken: %v; want %v", paths, want)
		}
		paths = nil
	}
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	want := sha256.Sum256(data)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.WriteFile(src, data, 0o600)

	c, s := connPair(t, streamNets[0])
	// file -> socket (sendfile), socket -> file (splice)
	got := make(chan []byte)
	go func() {
		dst, _ := os.Create(filepath.Join(dir, "dst"))
		n, err := io.Copy(dst, s)
		dst.Close()
		if err != nil || n != int64(len(data)) {
			t.Errorf("socket->file copied %d, %v", n, err)
		}
		b, _ := os.ReadFile(filepath.Join(dir, "dst"))
		got <- b
	}()
	f, _ := os.Open(src)
	n, err := io.Copy(c, f)
	f.Close()
	if err != nil || n != int64(len(data)) {
		t.Fatalf("file->socket copied %d, %v", n, err)
	}
	c.CloseWrite()
	if sha256.Sum256(<-got) != want {
		t.Fatal("file->socket->file corrupted the data")
	}
	took("sendfile", "splice")

	// A LimitedReader is honoured and the file offset advances.
	c2, s2 := connPair(t, streamNets[0])
	f, _ = os.Open(src)
	n, err = io.Copy(c2, io.LimitReader(f, 1000))
	if err != nil || n != 1000 {
		t.Fatalf("limited copy %d, %v", n, err)
	}
	off, _ := f.Seek(0, io.SeekCurrent)
	f.Close()
	if off != 1000 {
		t.Fatalf("file offset after sendfile = %d", off)
	}
	c2.CloseWrite()
	if b, _ := io.ReadAll(s2); !bytes.Equal(b, data[:1000]) {
		t.Fatal("limited copy corrupted")
	}
	took("sendfile")

	// socket -> socket (splice), with a stdlib TCP connection on one side.
	c3, s3 := connPair(t, streamNets[0])
	nl, _ := net.Listen("tcp", "127.0.0.1:0")
	defer nl.Close()
	out := make(chan []byte)
	go func() {
		cc, err := nl.Accept()
		if err != nil {
			out <- nil
			return
		}
		b, _ := io.ReadAll(cc)
		cc.Close()
		out <- b
	}()
	nc, _ := net.Dial("tcp", nl.Addr().String())
	go func() {
		c3.Sendall(data, 0)
		c3.CloseWrite()
	}()
	n, err = io.Copy(nc, s3) // s3.WriteTo: splice socket -> socket
	nc.Close()
	if err != nil || n != int64(len(data)) {
		t.Fatalf("socket->socket copied %d, %v", n, err)
	}
	if sha256.Sum256(<-out) != want {
		t.Fatal("socket->socket corrupted the data")
	}
	took("splice")

	// A reader that is not a file or socket takes the buffered path.
	c4, s4 := connPair(t, streamNets[2])
	go func() {
		io.Copy(c4, bytes.NewReader(data))
		c4.CloseWrite()
	}()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, s4); err != nil || sha256.Sum256(buf.Bytes()) != want {
		t.Fatalf("buffered path: %v", err)
	}
	took("copy") // socket -> bytes.Buffer (bytes.Reader -> socket uses the reader's own WriteTo)
}

// TestRemoteAddrAfterPeerReset: an accepted socket keeps the address
// accept4(2) returned, so RemoteAddr still names the peer after the peer
// has reset the connection, when getpeername(2) fails with ENOTCONN (as
// Go's net.TCPConn does). Found by the HAProxy test: its health checks
// reset before the server looked.
func TestRemoteAddrAfterPeerReset(t *testing.T) {
	for _, n := range streamNets[:2] {
		t.Run(n.name, func(t *testing.T) {
			ln, addr := listen(t, n)
			c := newSock(t, n.family, n.typ)
			if err := c.Connect(addr); err != nil {
				t.Fatal(err)
			}
			want := sockname(t, c).String()
			c.SetLinger(true, 0)
			c.Close() // RST
			s, peer, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Getpeername(); !errors.Is(err, syscall.ENOTCONN) {
				t.Skipf("getpeername after the reset: %v; the kernel still knows the peer", err)
			}
			if peer == nil || peer.String() != want {
				t.Errorf("Accept's address %v, want %s", peer, want)
			}
			if ra := s.RemoteAddr(); ra == nil || ra.String() != want {
				t.Errorf("RemoteAddr %v, want %s", ra, want)
			}
			if la := s.LocalAddr(); la == nil || la.String() != addr.String() {
				t.Errorf("LocalAddr %v, want %s", la, addr)
			}
		})
	}
}
