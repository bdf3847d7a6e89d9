//go:build linux

package socket_test

// The port of CPython 3.11's Unix-domain test classes
// (Lib/test/test_socket.py): TestLinuxAbstractNamespace, TestUnixDomain and
// BasicSocketPairTest. An abstract address, which Python writes with a
// leading NUL byte, is "@name" here.

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

// unixPathMax is UNIX_PATH_MAX, the size of sun_path.
const unixPathMax = 108

func uniqueAbstract(t *testing.T, name string) string {
	// Abstract names are global to the network namespace: make ours unique
	// so that parallel runs do not collide, within this process (the
	// test's name) and across processes (the pid: several people's test
	// runs share the machine).
	return "@" + name + "-" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + strconv.Itoa(os.Getpid())
}

func TestTestLinuxAbstractNamespace_testLinuxAbstractNamespace(t *testing.T) {
	address := uniqueAbstract(t, "python-test-hello") + "\x00\xff"
	s1 := newSock(t, socket.AF_UNIX, socket.SOCK_STREAM)
	if err := s1.Bind(&socket.UnixAddr{Path: address}); err != nil {
		t.Fatal(err)
	}
	if err := s1.Listen(5); err != nil {
		t.Fatal(err)
	}
	s2 := newSock(t, socket.AF_UNIX, socket.SOCK_STREAM)
	if err := s2.Connect(sockname(t, s1)); err != nil {
		t.Fatal(err)
	}
	s3, _, err := s1.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if got := sockname(t, s1).(*socket.UnixAddr).Path; got != address {
		t.Fatalf("Getsockname = %q; want %q", got, address)
	}
	peer, err := s2.Getpeername()
	if err != nil || peer.(*socket.UnixAddr).Path != address {
		t.Fatalf("Getpeername = %v, %v; want %q", peer, err, address)
	}
}

func TestTestLinuxAbstractNamespace_testMaxName(t *testing.T) {
	prefix := uniqueAbstract(t, "")
	address := prefix + strings.Repeat("h", unixPathMax-len(prefix))
	s := newSock(t, socket.AF_UNIX, socket.SOCK_STREAM)
	if err := s.Bind(&socket.UnixAddr{Path: address}); err != nil {
		t.Fatal(err)
	}
	if got := sockname(t, s).(*socket.UnixAddr).Path; got != address {
		t.Fatalf("Getsockname = %q; want %q", got, address)
	}
}

func TestTestLinuxAbstractNamespace_testNameOverflow(t *testing.T) {
	address := "@" + strings.Repeat("h", unixPathMax)
	s := newSock(t, socket.AF_UNIX, socket.SOCK_STREAM)
	if err := s.Bind(&socket.UnixAddr{Path: address}); err == nil {
		t.Fatal("Bind to an abstract name longer than sun_path succeeded")
	}
}

func TestTestLinuxAbstractNamespace_testStrName(t *testing.T) {
	name := uniqueAbstract(t, "python\x00test") + "\x00"
	s := newSock(t, socket.AF_UNIX, socket.SOCK_STREAM)
	if err := s.Bind(&socket.UnixAddr{Path: name}); err != nil {
		t.Fatal(err)
	}
	if got := sockname(t, s).(*socket.UnixAddr).Path; got != name {
		t.Fatalf("Getsockname = %q; want %q", got, name)
	}
}

func TestTestLinuxAbstractNamespace_testBytearrayName(t *testing.T) {
	// Python takes str, bytes or bytearray; a Go string holds any bytes, so
	// the same name built from a []byte behaves the same.
	name := string(append([]byte(uniqueAbstract(t, "python\x00test")), 0))
	s := newSock(t, socket.AF_UNIX, socket.SOCK_STREAM)
	if err := s.Bind(&socket.UnixAddr{Path: name}); err != nil {
		t.Fatal(err)
	}
	if got := sockname(t, s).(*socket.UnixAddr).Path; got != name {
		t.Fatalf("Getsockname = %q; want %q", got, name)
	}
}

func TestTestLinuxAbstractNamespace_testAutobind(t *testing.T) {
	// Binding "" binds to a free abstract address (unix(7), "Autobind").
	abstract := regexp.MustCompile(`^@[0-9a-f]{5}$`)
	s1 := newSock(t, socket.AF_UNIX, socket.SOCK_STREAM)
	if err := s1.Bind(&socket.UnixAddr{Path: ""}); err != nil {
		t.Fatal(err)
	}
	n1 := sockname(t, s1).(*socket.UnixAddr).Path
	s2 := newSock(t, socket.AF_UNIX, socket.SOCK_STREAM)
	if err := s2.Bind(&socket.UnixAddr{Path: ""}); err != nil {
		t.Fatal(err)
	}
	n2 := sockname(t, s2).(*socket.UnixAddr).Path
	if !abstract.MatchString(n1) || !abstract.MatchString(n2) || n1 == n2 {
		t.Fatalf("autobound to %q and %q", n1, n2)
	}
}

func TestTestUnixDomain_testUnbound(t *testing.T) {
	s := newSock(t, socket.AF_UNIX, socket.SOCK_STREAM)
	if got := sockname(t, s).(*socket.UnixAddr).Path; got != "" {
		t.Fatalf("Getsockname of an unbound socket = %q", got)
	}
}

func TestTestUnixDomain_testStrAddr(t *testing.T) {
	path := sockettest.UnixPath(t, "testfn")
	s := newSock(t, socket.AF_UNIX, socket.SOCK_STREAM)
	if err := s.Bind(&socket.UnixAddr{Path: path}); err != nil {
		t.Fatal(err)
	}
	if got := sockname(t, s).(*socket.UnixAddr).Path; got != path {
		t.Fatalf("Getsockname = %q; want %q", got, path)
	}
}

func TestTestUnixDomain_testBytesAddr(t *testing.T) {
	// A path given as bytes: a Go string is bytes already.
	path := string([]byte(sockettest.UnixPath(t, "testfn")))
	s := newSock(t, socket.AF_UNIX, socket.SOCK_STREAM)
	if err := s.Bind(&socket.UnixAddr{Path: path}); err != nil {
		t.Fatal(err)
	}
	if got := sockname(t, s).(*socket.UnixAddr).Path; got != path {
		t.Fatalf("Getsockname = %q; want %q", got, path)
	}
}

func TestTestUnixDomain_testSurrogateescapeBind(t *testing.T) {
	// A path whose bytes are not UTF-8 (Python passes them with
	// surrogateescape): bound and read back byte for byte.
	path := sockettest.UnixPath(t, "@test_\xe9\xff\x80")
	s := newSock(t, socket.AF_UNIX, socket.SOCK_STREAM)
	if err := s.Bind(&socket.UnixAddr{Path: path}); err != nil {
		t.Fatal(err)
	}
	if got := sockname(t, s).(*socket.UnixAddr).Path; got != path {
		t.Fatalf("Getsockname = %q; want %q", got, path)
	}
}

func TestBasicSocketPairTest_testDefaults(t *testing.T) {
	a, b, err := socket.Socketpair(0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	for _, s := range []*socket.Socket{a, b} {
		if s.Family() != socket.AF_UNIX || s.Type() != socket.SOCK_STREAM || s.Proto() != 0 {
			t.Fatalf("Socketpair() gave %v", s)
		}
	}
}

func TestBasicSocketPairTest_testRecv(t *testing.T) {
	serv, cli := socketpair(t, socket.SOCK_STREAM)
	if _, err := cli.Send(pyMSG, 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	if n, err := serv.Recv(buf, 0); err != nil || !bytes.Equal(buf[:n], pyMSG) {
		t.Fatalf("Recv = %q, %v", buf[:n], err)
	}
}

func TestBasicSocketPairTest_testSend(t *testing.T) {
	serv, cli := socketpair(t, socket.SOCK_STREAM)
	if _, err := serv.Send(pyMSG, 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	if n, err := cli.Recv(buf, 0); err != nil || !bytes.Equal(buf[:n], pyMSG) {
		t.Fatalf("Recv = %q, %v", buf[:n], err)
	}
}
