//go:build linux

package socket_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

func TestParseNetwork(t *testing.T) {
	for _, tc := range []struct {
		network string
		fam     socket.Family
		typ     socket.Type
	}{
		{"tcp", socket.AF_UNSPEC, socket.SOCK_STREAM},
		{"tcp4", socket.AF_INET, socket.SOCK_STREAM},
		{"tcp6", socket.AF_INET6, socket.SOCK_STREAM},
		{"udp", socket.AF_UNSPEC, socket.SOCK_DGRAM},
		{"udp4", socket.AF_INET, socket.SOCK_DGRAM},
		{"udp6", socket.AF_INET6, socket.SOCK_DGRAM},
		{"unix", socket.AF_UNIX, socket.SOCK_STREAM},
		{"unixgram", socket.AF_UNIX, socket.SOCK_DGRAM},
		{"unixpacket", socket.AF_UNIX, socket.SOCK_SEQPACKET},
	} {
		fam, typ, err := socket.ParseNetwork(tc.network)
		if err != nil || fam != tc.fam || typ != tc.typ {
			t.Errorf("ParseNetwork(%q) = %v, %v, %v; want %v, %v", tc.network, fam, typ, err, tc.fam, tc.typ)
		}
	}
	for _, bad := range []string{"", "TCP", "ip", "ip4:icmp", "unixstream", "sctp"} {
		if _, _, err := socket.ParseNetwork(bad); err == nil {
			t.Errorf("ParseNetwork(%q): no error", bad)
		} else if ue := net.UnknownNetworkError(""); !errors.As(err, &ue) || string(ue) != bad {
			t.Errorf("ParseNetwork(%q) = %v, want a net.UnknownNetworkError", bad, err)
		}
	}
}

// TestListenNetworks opens every network and checks the socket it gets:
// family, type, bound address, listening or not, and the options Listen
// sets by default.
func TestListenNetworks(t *testing.T) {
	for _, tc := range []struct {
		network, addr string
		opts          *socket.ListenOptions
		fam           socket.Family
		typ           socket.Type
		reuseAddr     bool
		v6only        bool
	}{
		{"tcp", "127.0.0.1:0", nil, socket.AF_INET, socket.SOCK_STREAM, true, false},
		{"tcp", ":0", nil, socket.AF_INET, socket.SOCK_STREAM, true, false},
		{"tcp", "[::1]:0", nil, socket.AF_INET6, socket.SOCK_STREAM, true, true},
		{"tcp", "[::ffff:127.0.0.1]:0", nil, socket.AF_INET, socket.SOCK_STREAM, true, false},
		{"tcp", ":0", &socket.ListenOptions{DualStack: true}, socket.AF_INET6, socket.SOCK_STREAM, true, false},
		{"tcp4", ":0", nil, socket.AF_INET, socket.SOCK_STREAM, true, false},
		{"tcp6", ":0", nil, socket.AF_INET6, socket.SOCK_STREAM, true, true},
		{"tcp6", "[::]:0", &socket.ListenOptions{DualStack: true}, socket.AF_INET6, socket.SOCK_STREAM, true, false},
		{"tcp4", "127.0.0.1:0", &socket.ListenOptions{ReuseAddr: socket.ReuseAddrOff}, socket.AF_INET, socket.SOCK_STREAM, false, false},
		{"udp", "127.0.0.1:0", nil, socket.AF_INET, socket.SOCK_DGRAM, false, false},
		{"udp", "[::1]:0", nil, socket.AF_INET6, socket.SOCK_DGRAM, false, true},
		{"udp4", "127.0.0.1:0", &socket.ListenOptions{ReuseAddr: socket.ReuseAddrOn}, socket.AF_INET, socket.SOCK_DGRAM, true, false},
		{"udp6", "[::1]:0", nil, socket.AF_INET6, socket.SOCK_DGRAM, false, true},
		{"unix", "PATH", nil, socket.AF_UNIX, socket.SOCK_STREAM, false, false},
		{"unix", "@ABSTRACT", nil, socket.AF_UNIX, socket.SOCK_STREAM, false, false},
		{"unixgram", "PATH", nil, socket.AF_UNIX, socket.SOCK_DGRAM, false, false},
		{"unixpacket", "PATH", nil, socket.AF_UNIX, socket.SOCK_SEQPACKET, false, false},
	} {
		name := tc.network + " " + tc.addr
		if o := tc.opts; o != nil {
			name += fmt.Sprintf(" DualStack=%v ReuseAddr=%d", o.DualStack, o.ReuseAddr)
		}
		t.Run(name, func(t *testing.T) {
			if tc.fam == socket.AF_INET6 && !socket.HasIPv6() {
				t.Skip("no IPv6 loopback")
			}
			addr := tc.addr
			switch addr {
			case "PATH":
				addr = sockettest.UnixPath(t, "l.sock")
			case "@ABSTRACT":
				addr = fmt.Sprintf("@socketkit-listen-test-%d", os.Getpid())
			}
			s, err := socket.Listen(tc.network, addr, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Family() != tc.fam || s.Type() != tc.typ {
				t.Fatalf("socket is %v %v, want %v %v", s.Family(), s.Type(), tc.fam, tc.typ)
			}
			sa := sockname(t, s)
			if tc.fam == socket.AF_UNIX {
				if got := sa.(*socket.UnixAddr).Path; got != addr {
					t.Fatalf("bound to %q, want %q", got, addr)
				}
			} else if ap, _ := socket.AddrPortOf(sa); ap.Port() == 0 {
				t.Fatalf("bound to %v: no port", sa)
			}
			listening, err := s.AcceptConn()
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.typ != socket.SOCK_DGRAM; listening != want {
				t.Fatalf("SO_ACCEPTCONN = %v, want %v", listening, want)
			}
			if tc.fam != socket.AF_UNIX {
				if on, err := s.ReuseAddr(); err != nil || on != tc.reuseAddr {
					t.Fatalf("SO_REUSEADDR = %v (%v), want %v", on, err, tc.reuseAddr)
				}
			}
			if tc.fam == socket.AF_INET6 {
				if on, err := s.V6Only(); err != nil || on != tc.v6only {
					t.Fatalf("IPV6_V6ONLY = %v (%v), want %v", on, err, tc.v6only)
				}
			}
			// The socket works: a peer reaches it.
			peer, err := socket.New(tc.fam, tc.typ, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			if tc.fam == socket.AF_INET6 && !tc.v6only {
				sa = &socket.Inet6Addr{Addr: [16]byte{15: 1}, Port: sa.(*socket.Inet6Addr).Port}
			}
			if tc.typ == socket.SOCK_DGRAM {
				if _, err := peer.Sendto([]byte("x"), 0, sa); err != nil {
					t.Fatal(err)
				}
				var b [8]byte
				if n, _, err := s.Recvfrom(b[:], 0); err != nil || n != 1 {
					t.Fatalf("Recvfrom = %d, %v", n, err)
				}
				return
			}
			if err := peer.Connect(sa); err != nil {
				t.Fatal(err)
			}
			c, _, err := s.Accept()
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
		})
	}
}

func TestListenOptions(t *testing.T) {
	t.Run("BindOnly", func(t *testing.T) {
		s, err := socket.Listen("tcp", "127.0.0.1:0", &socket.ListenOptions{BindOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if on, _ := s.AcceptConn(); on {
			t.Fatal("BindOnly socket is listening")
		}
		if err := s.Listen(1); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ReusePort", func(t *testing.T) {
		opts := &socket.ListenOptions{ReusePort: true}
		a, err := socket.Listen("tcp4", "127.0.0.1:0", opts)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := socket.Listen("tcp4", sockname(t, a).String(), opts)
		if err != nil {
			t.Fatalf("second SO_REUSEPORT listener on %v: %v", sockname(t, a), err)
		}
		b.Close()
		_, err = socket.Listen("tcp4", sockname(t, a).String(), nil)
		wantErrno(t, err, syscall.EADDRINUSE)
	})
	t.Run("Backlog", func(t *testing.T) {
		// The backlog is the accept queue's length: with 1, the kernel
		// completes backlog+1 handshakes and leaves further SYNs waiting.
		s, err := socket.Listen("tcp4", "127.0.0.1:0", &socket.ListenOptions{Backlog: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		tcpInfoBacklog(t, s, 1)
	})
	t.Run("Control", func(t *testing.T) {
		var saw atomic.Bool
		s, err := socket.Listen("tcp4", "127.0.0.1:0", &socket.ListenOptions{Control: func(s *socket.Socket) error {
			saw.Store(true)
			if sa, _ := s.Getsockname(); sa != nil {
				if ap, _ := socket.AddrPortOf(sa); ap.Port() != 0 {
					return fmt.Errorf("Control ran after bind: %v", sa)
				}
			}
			return s.SetReadBuffer(65536)
		}})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if !saw.Load() {
			t.Fatal("Control was not called")
		}
		boom := errors.New("boom")
		if _, err := socket.Listen("tcp4", "127.0.0.1:0", &socket.ListenOptions{Control: func(*socket.Socket) error { return boom }}); !errors.Is(err, boom) {
			t.Fatalf("Control's error: got %v", err)
		} // the socket is closed: VerifyTestMain checks for leaked fds
	})
}

// tcpInfoBacklog checks the listen backlog through the kernel's view of a
// listening socket (tcpi_sacked holds the backlog for a listener).
func tcpInfoBacklog(t *testing.T, s *socket.Socket, want int) {
	t.Helper()
	info, err := unix.GetsockoptTCPInfo(s.Fd(), unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		t.Fatal(err)
	}
	if int(info.Sacked) != want {
		t.Fatalf("listen backlog %d, want %d", info.Sacked, want)
	}
}

func TestListenErrors(t *testing.T) {
	busy, err := socket.Listen("tcp4", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		network, addr string
		opts          *socket.ListenOptions
		errno         syscall.Errno // 0: an *AddrError without a system call
		addrError     bool
	}{
		{"sctp", ":0", nil, 0, false},
		{"", ":0", nil, 0, false},
		{"tcp", "127.0.0.1", nil, 0, true},
		{"tcp", "127.0.0.1:99999", nil, 0, true},
		{"tcp4", "[::1]:0", nil, syscall.EAFNOSUPPORT, true},
		{"tcp6", "127.0.0.1:0", nil, syscall.EAFNOSUPPORT, true},
		{"tcp4", ":0", &socket.ListenOptions{DualStack: true}, syscall.EINVAL, true},
		{"tcp", "127.0.0.1:0", &socket.ListenOptions{DualStack: true}, syscall.EINVAL, true},
		{"unix", "PATH", &socket.ListenOptions{DualStack: true}, syscall.EINVAL, true},
		{"unix", "/nonexistent-dir/x.sock", nil, syscall.ENOENT, false},
		{"tcp4", sockname(t, busy).String(), nil, syscall.EADDRINUSE, false},
		{"tcp4", "192.0.2.1:0", nil, syscall.EADDRNOTAVAIL, false},
	} {
		t.Run(tc.network+" "+tc.addr, func(t *testing.T) {
			addr := tc.addr
			if addr == "PATH" {
				addr = sockettest.UnixPath(t, "e.sock")
			}
			s, err := socket.Listen(tc.network, addr, tc.opts)
			if err == nil {
				s.Close()
				t.Fatal("no error")
			}
			if ae := (*socket.AddrError)(nil); errors.As(err, &ae) != tc.addrError {
				t.Fatalf("%v: *AddrError %v, want %v", err, !tc.addrError, tc.addrError)
			}
			if tc.errno == 0 && !tc.addrError {
				if ue := net.UnknownNetworkError(""); !errors.As(err, &ue) {
					t.Fatalf("%v: want a net.UnknownNetworkError", err)
				}
				return
			}
			if tc.addrError {
				if tc.errno != 0 && !errors.Is(err, tc.errno) {
					t.Fatalf("%v: want %v", err, tc.errno)
				}
				return
			}
			wantErrno(t, err, tc.errno)
		})
	}
}

func TestListenRemoveStale(t *testing.T) {
	for _, network := range []string{"unix", "unixgram", "unixpacket"} {
		t.Run(network, func(t *testing.T) {
			path := sockettest.UnixPath(t, "stale.sock")
			// A server that is gone leaves its file behind.
			gone, err := socket.Listen(network, path, nil)
			if err != nil {
				t.Fatal(err)
			}
			gone.Close()
			_, err = socket.Listen(network, path, nil)
			wantErrno(t, err, syscall.EADDRINUSE)
			s, err := socket.Listen(network, path, &socket.ListenOptions{RemoveStale: true})
			if err != nil {
				t.Fatalf("RemoveStale over a stale file: %v", err)
			}
			defer s.Close()
			// A live server's file is not removed.
			_, err = socket.Listen(network, path, &socket.ListenOptions{RemoveStale: true})
			wantErrno(t, err, syscall.EADDRINUSE)
			if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeSocket == 0 {
				t.Fatalf("the live server's socket file: %v %v", fi, err)
			}
		})
	}
	t.Run("not a socket", func(t *testing.T) {
		path := sockettest.UnixPath(t, "file")
		if err := os.WriteFile(path, []byte("keep"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := socket.Listen("unix", path, &socket.ListenOptions{RemoveStale: true})
		wantErrno(t, err, syscall.EADDRINUSE)
		if b, err := os.ReadFile(path); err != nil || string(b) != "keep" {
			t.Fatalf("a regular file was touched: %q %v", b, err)
		}
	})
}

// TestZoneRoundTrip sends a datagram between two link-local addresses in a
// network namespace of its own and checks that the sender's zone survives
// both AddrPort forms: SendtoAddrPort encodes it as sin6_scope_id, and
// RecvfromAddrPort gives it back.
func TestZoneRoundTrip(t *testing.T) {
	if !sockettest.IsRoot() {
		t.Skip("needs root for a network namespace with a link-local address")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip (iproute2) is not installed")
	}
	ns := fmt.Sprintf("sklisten%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", ns).Run()
	for _, args := range [][]string{
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "addr", "add", "fe80::1/64", "dev", "lo", "nodad"},
		{"-n", ns, "addr", "add", "fe80::2/64", "dev", "lo", "nodad"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	// Make the sockets on a thread that enters the namespace; the thread
	// is not given back to the scheduler (it exits with its goroutine).
	type pair struct {
		a, b *socket.Socket
		err  error
	}
	ch := make(chan pair)
	go func() {
		runtime.LockOSThread()
		var p pair
		defer func() { ch <- p }()
		fd, err := unix.Open("/var/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			p.err = err
			return
		}
		defer unix.Close(fd)
		if p.err = unix.Setns(fd, unix.CLONE_NEWNET); p.err != nil {
			return
		}
		if p.a, p.err = socket.Listen("udp6", "[fe80::1%lo]:0", nil); p.err != nil {
			return
		}
		p.b, p.err = socket.Listen("udp6", "[fe80::2%lo]:0", nil)
	}()
	p := <-ch
	if p.a != nil {
		defer p.a.Close()
	}
	if p.b != nil {
		defer p.b.Close()
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	aAddr, _ := socket.AddrPortOf(sockname(t, p.a))
	bAddr, _ := socket.AddrPortOf(sockname(t, p.b))
	if aAddr.Addr().Zone() == "" {
		t.Fatalf("getsockname lost the zone: %v", aAddr)
	}
	if _, err := p.b.SendtoAddrPort([]byte("zone"), 0, aAddr); err != nil {
		t.Fatalf("SendtoAddrPort(%v): %v", aAddr, err)
	}
	var buf [8]byte
	n, from, err := p.a.RecvfromAddrPort(buf[:], 0)
	if err != nil || string(buf[:n]) != "zone" {
		t.Fatalf("RecvfromAddrPort = %q, %v", buf[:n], err)
	}
	if from != bAddr {
		t.Fatalf("sender %v, want %v (with its zone)", from, bAddr)
	}
	if want := netip.MustParseAddr("fe80::2").WithZone(aAddr.Addr().Zone()); from.Addr() != want {
		t.Fatalf("sender address %v, want %v", from.Addr(), want)
	}
}
