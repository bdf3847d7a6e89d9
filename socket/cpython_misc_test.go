//go:build linux

package socket_test

// The port of smaller CPython 3.11 test classes (Lib/test/test_socket.py):
// TestExceptions, InheritanceTest, NonblockConstantTest, BufferIOTest,
// BasicVSOCKTest, CreateServerTest and CreateServerFunctionalTest.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

func TestTestExceptions_testExceptionTree(t *testing.T) {
	// Python's tree: socket.error is OSError; herror, gaierror and timeout
	// are OSError too, and timeout is TimeoutError. Here: a failed call is
	// a *net.OpError around an *os.SyscallError; a timeout is a net.Error
	// with Timeout() true matching os.ErrDeadlineExceeded; resolver
	// failures are *AddrInfoError and *HostError.
	ln, addr := pyTCPServer(t)
	ln.Close()
	c := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	err := c.Connect(addr)
	var oe *net.OpError
	var se *os.SyscallError
	if !errors.As(err, &oe) || !errors.As(err, &se) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("refused connect: %T %v", err, err)
	}
	u, _ := dgramPairUDP(t)
	u.SetTimeout(10 * time.Millisecond)
	_, err = u.Recv(make([]byte, 1), 0)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &oe) {
		t.Fatalf("timeout: %T %v", err, err)
	}
	_, err = socket.GetAddrInfo(context.Background(), "127.0.0.1", "no-such-service", nil)
	var ae *socket.AddrInfoError
	if !errors.As(err, &ae) || !errors.Is(err, socket.EAI_SERVICE) {
		t.Fatalf("gaierror: %T %v", err, err)
	}
	_, err = socket.GetHostByAddr("192.0.2.255")
	var he *socket.HostError
	if !errors.As(err, &he) {
		t.Fatalf("herror: %T %v", err, err)
	}
}

func dgramPairUDP(t *testing.T) (*socket.Socket, socket.Sockaddr) {
	s := newSock(t, socket.AF_INET, socket.SOCK_DGRAM)
	if err := s.Bind(loop4); err != nil {
		t.Fatal(err)
	}
	return s, sockname(t, s)
}

// cloexec reports whether fd has FD_CLOEXEC (get_inheritable() false).
func cloexec(t *testing.T, fd int) bool {
	t.Helper()
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fl&unix.FD_CLOEXEC != 0
}

func TestInheritanceTest_test_SOCK_CLOEXEC(t *testing.T) {
	s := newSock(t, socket.AF_INET, socket.SOCK_STREAM|socket.SOCK_CLOEXEC)
	if s.Type() != socket.SOCK_STREAM || !cloexec(t, s.Fd()) {
		t.Fatalf("Type %v, close-on-exec %v", s.Type(), cloexec(t, s.Fd()))
	}
}

func TestInheritanceTest_test_default_inheritable(t *testing.T) {
	if s := newSock(t, socket.AF_INET, socket.SOCK_STREAM); !cloexec(t, s.Fd()) {
		t.Fatal("a new socket is inheritable")
	}
}

func TestInheritanceTest_test_dup(t *testing.T) {
	s := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	d, err := s.Dup()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s.Close()
	if !cloexec(t, d.Fd()) {
		t.Fatal("Dup gave an inheritable descriptor")
	}
}

func TestInheritanceTest_test_socketpair(t *testing.T) {
	a, b := socketpair(t, socket.SOCK_STREAM)
	if !cloexec(t, a.Fd()) || !cloexec(t, b.Fd()) {
		t.Fatal("Socketpair gave an inheritable descriptor")
	}
}

func TestNonblockConstantTest_test_SOCK_NONBLOCK(t *testing.T) {
	// Python also checks the descriptor's O_NONBLOCK flag, which follows
	// its mode; here the descriptor is always O_NONBLOCK under the runtime
	// poller, and setdefaulttimeout(0.0) (new sockets non-blocking) has no
	// counterpart because SetDefaultTimeout(0) means no timeout: both
	// differences by design. The modes:
	s := newSock(t, socket.AF_INET, socket.SOCK_STREAM|socket.SOCK_NONBLOCK)
	check := func(blocking bool, timeout time.Duration) {
		t.Helper()
		fl, err := unix.FcntlInt(uintptr(s.Fd()), unix.F_GETFL, 0)
		if err != nil || fl&unix.O_NONBLOCK == 0 {
			t.Fatalf("descriptor flags %#x, %v", fl, err)
		}
		if s.Type() != socket.SOCK_STREAM || s.Blocking() != blocking || s.Timeout() != timeout {
			t.Fatalf("Type %v Blocking %v Timeout %v; want SOCK_STREAM %v %v", s.Type(), s.Blocking(), s.Timeout(), blocking, timeout)
		}
	}
	check(false, 0)
	s.SetBlocking(true)
	check(true, 0)
	s.SetBlocking(false)
	check(false, 0)
	s.SetTimeout(0)
	check(true, 0)
	s.SetTimeout(2 * time.Second)
	check(true, 2*time.Second)
	s.SetBlocking(true)
	check(true, 0)
	defer socket.SetDefaultTimeout(0)
	socket.SetDefaultTimeout(2 * time.Second)
	if d := newSock(t, socket.AF_INET, socket.SOCK_STREAM); !d.Blocking() || d.Timeout() != 2*time.Second {
		t.Fatalf("with a default timeout: Blocking %v Timeout %v", d.Blocking(), d.Timeout())
	}
	socket.SetDefaultTimeout(0)
	if d := newSock(t, socket.AF_INET, socket.SOCK_STREAM); !d.Blocking() || d.Timeout() != 0 {
		t.Fatalf("with no default timeout: Blocking %v Timeout %v", d.Blocking(), d.Timeout())
	}
}

// bufferIO is BufferIOTest's fixture: MSG sent on a connected TCP pair.
func bufferIO(t *testing.T) *socket.Socket {
	cliConn, servConn := pyConnected(t)
	if _, err := servConn.Send(pyMSG, 0); err != nil {
		t.Fatal(err)
	}
	return cliConn
}

func TestBufferIOTest_testRecvIntoBytearray(t *testing.T) {
	c := bufferIO(t)
	buf := make([]byte, 1024)
	n, err := c.Recv(buf, 0)
	for err == nil && n < len(pyMSG) {
		var m int
		m, err = c.Recv(buf[n:], 0)
		n += m
	}
	if err != nil || n != len(pyMSG) || !bytes.Equal(buf[:n], pyMSG) {
		t.Fatalf("Recv = %d %q, %v", n, buf[:n], err)
	}
}

func TestBufferIOTest_testRecvFromIntoBytearray(t *testing.T) {
	c := bufferIO(t)
	buf := make([]byte, 1024)
	n, _, err := c.Recvfrom(buf, 0)
	for err == nil && n < len(pyMSG) {
		var m int
		m, _, err = c.Recvfrom(buf[n:], 0)
		n += m
	}
	if err != nil || n != len(pyMSG) || !bytes.Equal(buf[:n], pyMSG) {
		t.Fatalf("Recvfrom = %d %q, %v", n, buf[:n], err)
	}
}

func TestBufferIOTest_testRecvFromIntoEmptyBuffer(t *testing.T) {
	c := bufferIO(t)
	for range 2 {
		if n, _, err := c.Recvfrom(nil, 0); n != 0 || err != nil {
			t.Fatalf("Recvfrom into an empty buffer = %d, %v", n, err)
		}
	}
}

func vsockSocket(t *testing.T) *socket.Socket {
	t.Helper()
	s, err := socket.New(socket.AF_VSOCK, socket.SOCK_STREAM, 0)
	if err != nil {
		t.Skipf("no AF_VSOCK here: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestBasicVSOCKTest_testCrucialConstants(t *testing.T) {
	if socket.AF_VSOCK != unix.AF_VSOCK {
		t.Fatalf("AF_VSOCK = %d", socket.AF_VSOCK)
	}
}

func TestBasicVSOCKTest_testVSOCKConstants(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"SO_VM_SOCKETS_BUFFER_SIZE", socket.SO_VM_SOCKETS_BUFFER_SIZE, unix.SO_VM_SOCKETS_BUFFER_SIZE},
		{"SO_VM_SOCKETS_BUFFER_MIN_SIZE", socket.SO_VM_SOCKETS_BUFFER_MIN_SIZE, unix.SO_VM_SOCKETS_BUFFER_MIN_SIZE},
		{"SO_VM_SOCKETS_BUFFER_MAX_SIZE", socket.SO_VM_SOCKETS_BUFFER_MAX_SIZE, unix.SO_VM_SOCKETS_BUFFER_MAX_SIZE},
		{"VMADDR_CID_ANY", socket.VMADDR_CID_ANY, unix.VMADDR_CID_ANY},
		{"VMADDR_PORT_ANY", socket.VMADDR_PORT_ANY, unix.VMADDR_PORT_ANY},
		{"VMADDR_CID_HOST", socket.VMADDR_CID_HOST, unix.VMADDR_CID_HOST},
		{"VM_SOCKETS_INVALID_VERSION", socket.VM_SOCKETS_INVALID_VERSION, 0xffffffff},
		{"IOCTL_VM_SOCKETS_GET_LOCAL_CID", socket.IOCTL_VM_SOCKETS_GET_LOCAL_CID, unix.IOCTL_VM_SOCKETS_GET_LOCAL_CID},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#x; want %#x", c.name, c.got, c.want)
		}
	}
}

func TestBasicVSOCKTest_testCreateSocket(t *testing.T) {
	vsockSocket(t)
}

func TestBasicVSOCKTest_testSocketBufferSize(t *testing.T) {
	// The options are 64-bit; Python's getsockopt special-cases AF_VSOCK to
	// read a uint64, here GetsockoptBytes reads the 8 bytes.
	s := vsockSocket(t)
	get := func(opt int) uint64 {
		t.Helper()
		b, err := s.GetsockoptBytes(int(socket.AF_VSOCK), opt, 8)
		if err != nil || len(b) != 8 {
			t.Fatalf("getsockopt(%d) = %v, %v", opt, b, err)
		}
		return binary.NativeEndian.Uint64(b)
	}
	set := func(opt int, v uint64) {
		t.Helper()
		if err := s.SetsockoptBytes(int(socket.AF_VSOCK), opt, binary.NativeEndian.AppendUint64(nil, v)); err != nil {
			t.Fatalf("setsockopt(%d, %d): %v", opt, v, err)
		}
	}
	origMax, orig, origMin := get(socket.SO_VM_SOCKETS_BUFFER_MAX_SIZE), get(socket.SO_VM_SOCKETS_BUFFER_SIZE), get(socket.SO_VM_SOCKETS_BUFFER_MIN_SIZE)
	set(socket.SO_VM_SOCKETS_BUFFER_MAX_SIZE, origMax*2)
	set(socket.SO_VM_SOCKETS_BUFFER_SIZE, orig*2)
	set(socket.SO_VM_SOCKETS_BUFFER_MIN_SIZE, origMin*2)
	if get(socket.SO_VM_SOCKETS_BUFFER_MAX_SIZE) != origMax*2 || get(socket.SO_VM_SOCKETS_BUFFER_SIZE) != orig*2 ||
		get(socket.SO_VM_SOCKETS_BUFFER_MIN_SIZE) != origMin*2 {
		t.Fatal("the doubled buffer sizes did not stick")
	}
}

// freePort is socket_helper.find_unused_port, with a port below the
// ephemeral range that no other test's port-0 bind or connection can take
// before this test binds it (sockettest.FreePort).
func freePort(t *testing.T) int { return sockettest.FreePort(t) }

func createServer(t *testing.T, addr string, opts *socket.ServerOptions) *socket.Socket {
	t.Helper()
	s, err := socket.CreateServer(addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestCreateServerTest_test_address(t *testing.T) {
	port := freePort(t)
	s := createServer(t, "127.0.0.1:"+strconv.Itoa(port), nil)
	if a := sockname(t, s).(*socket.Inet4Addr); a.Addr != [4]byte{127, 0, 0, 1} || a.Port != port {
		t.Fatalf("Getsockname = %v; want 127.0.0.1:%d", a, port)
	}
	s.Close()
	if socket.HasIPv6() {
		s6 := createServer(t, "[::1]:"+strconv.Itoa(port), &socket.ServerOptions{Family: socket.AF_INET6})
		if a := sockname(t, s6).(*socket.Inet6Addr); a.Addr != ([16]byte{15: 1}) || a.Port != port {
			t.Fatalf("Getsockname = %v; want [::1]:%d", a, port)
		}
	}
}

func TestCreateServerTest_test_family_and_type(t *testing.T) {
	s := createServer(t, "127.0.0.1:0", nil)
	if s.Family() != socket.AF_INET || s.Type() != socket.SOCK_STREAM {
		t.Fatalf("Family %v Type %v", s.Family(), s.Type())
	}
	if socket.HasIPv6() {
		s6 := createServer(t, "[::1]:0", &socket.ServerOptions{Family: socket.AF_INET6})
		if s6.Family() != socket.AF_INET6 || s6.Type() != socket.SOCK_STREAM {
			t.Fatalf("Family %v Type %v", s6.Family(), s6.Type())
		}
	}
}

func TestCreateServerTest_test_reuse_port(t *testing.T) {
	s := createServer(t, "localhost:0", nil)
	if on, err := s.GetsockoptInt(socket.SOL_SOCKET, socket.SO_REUSEPORT); err != nil || on != 0 {
		t.Fatalf("SO_REUSEPORT = %d, %v; want 0", on, err)
	}
	s = createServer(t, "localhost:0", &socket.ServerOptions{ReusePort: true})
	if on, err := s.GetsockoptInt(socket.SOL_SOCKET, socket.SO_REUSEPORT); err != nil || on == 0 {
		t.Fatalf("SO_REUSEPORT = %d, %v; want on", on, err)
	}
}

func TestCreateServerTest_test_ipv6_only_default(t *testing.T) {
	loop6(t)
	s := createServer(t, "[::1]:0", &socket.ServerOptions{Family: socket.AF_INET6})
	if on, err := s.V6Only(); err != nil || !on {
		t.Fatalf("IPV6_V6ONLY = %v, %v; want on by default", on, err)
	}
}

func TestCreateServerTest_test_dualstack_ipv6_family(t *testing.T) {
	loop6(t)
	if !socket.HasDualStackIPv6() {
		t.Skip("no dual-stack IPv6")
	}
	s := createServer(t, "[::1]:0", &socket.ServerOptions{Family: socket.AF_INET6, DualStackIPv6: true})
	if s.Family() != socket.AF_INET6 {
		t.Fatalf("Family %v", s.Family())
	}
}

// echoServer is CreateServerFunctionalTest.echo_server: accept one
// connection and echo one message.
func echoServer(t *testing.T, s *socket.Socket) <-chan error {
	s.SetTimeout(pyTimeout)
	return goErr(func() error {
		conn, _, err := s.Accept()
		if err != nil {
			return err
		}
		defer conn.Close()
		buf := make([]byte, 1024)
		n, err := conn.Recv(buf, 0)
		if err != nil || n == 0 {
			return err
		}
		_, err = conn.Sendall(buf[:n], 0)
		return err
	})
}

// echoClient is CreateServerFunctionalTest.echo_client.
func echoClient(t *testing.T, addr socket.Sockaddr) {
	t.Helper()
	c := newSock(t, addr.Family(), socket.SOCK_STREAM)
	c.SetTimeout(pyTimeout)
	if err := c.Connect(addr); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sendall([]byte("foo"), 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	if n, err := c.Recv(buf, 0); err != nil || string(buf[:n]) != "foo" {
		t.Fatalf("echo = %q, %v", buf[:n], err)
	}
}

func TestCreateServerFunctionalTest_test_tcp4(t *testing.T) {
	port := freePort(t)
	s := createServer(t, ":"+strconv.Itoa(port), nil)
	srv := echoServer(t, s)
	echoClient(t, &socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}, Port: port})
	wait(t, srv)
}

func TestCreateServerFunctionalTest_test_tcp6(t *testing.T) {
	loop6(t)
	port := freePort(t)
	s := createServer(t, ":"+strconv.Itoa(port), &socket.ServerOptions{Family: socket.AF_INET6})
	srv := echoServer(t, s)
	echoClient(t, &socket.Inet6Addr{Addr: [16]byte{15: 1}, Port: port})
	wait(t, srv)
}

func TestCreateServerFunctionalTest_test_dual_stack_client_v4(t *testing.T) {
	loop6(t)
	if !socket.HasDualStackIPv6() {
		t.Skip("no dual-stack IPv6")
	}
	port := freePort(t)
	s := createServer(t, ":"+strconv.Itoa(port), &socket.ServerOptions{Family: socket.AF_INET6, DualStackIPv6: true})
	srv := echoServer(t, s)
	echoClient(t, &socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}, Port: port})
	wait(t, srv)
}

func TestCreateServerFunctionalTest_test_dual_stack_client_v6(t *testing.T) {
	loop6(t)
	if !socket.HasDualStackIPv6() {
		t.Skip("no dual-stack IPv6")
	}
	port := freePort(t)
	s := createServer(t, ":"+strconv.Itoa(port), &socket.ServerOptions{Family: socket.AF_INET6, DualStackIPv6: true})
	srv := echoServer(t, s)
	echoClient(t, &socket.Inet6Addr{Addr: [16]byte{15: 1}, Port: port})
	wait(t, srv)
}
