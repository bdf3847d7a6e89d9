//go:build linux

package socket_test

// The port of CPython 3.11's UDP test classes (Lib/test/test_socket.py):
// BasicUDPTest and BasicUDPLITETest, UDPTimeoutTest and UDPLITETimeoutTest:
// the same methods over UDP and UDP-Lite (IPPROTO_UDPLITE).

import (
	"bytes"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/socketkit/socketkit/socket"
)

var (
	udp     = udpKind{"UDP", socket.IPPROTO_UDP}
	udplite = udpKind{"UDP-Lite", socket.IPPROTO_UDPLITE}
)

// udpKind is the transport of SocketUDPTest or SocketUDPLITETest.
type udpKind struct {
	name  string
	proto socket.Protocol
}

// pair is SocketUDPTest's setUp: a bound server and an unbound client.
func (k udpKind) pair(t *testing.T) (serv, cli *socket.Socket, servAddr socket.Sockaddr) {
	t.Helper()
	serv, err := socket.New(socket.AF_INET, socket.SOCK_DGRAM, k.proto)
	if err != nil {
		t.Skipf("%s: %v", k.name, err)
	}
	t.Cleanup(func() { serv.Close() })
	if err := serv.Bind(loop4); err != nil {
		t.Fatal(err)
	}
	cli, err = socket.New(socket.AF_INET, socket.SOCK_DGRAM, k.proto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	serv.SetTimeout(pyTimeout)
	return serv, cli, sockname(t, serv)
}

// sendtoAndRecv is BasicUDPTest.testSendtoAndRecv.
func sendtoAndRecv(t *testing.T, k udpKind) {
	serv, cli, servAddr := k.pair(t)
	if _, err := cli.Sendto(pyMSG, 0, servAddr); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(pyMSG))
	if n, err := serv.Recv(buf, 0); err != nil || !bytes.Equal(buf[:n], pyMSG) {
		t.Fatalf("Recv = %q, %v", buf[:n], err)
	}
}

// recvFrom is BasicUDPTest.testRecvFrom.
func recvFrom(t *testing.T, k udpKind) {
	serv, cli, servAddr := k.pair(t)
	if _, err := cli.Sendto(pyMSG, 0, servAddr); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(pyMSG))
	n, from, err := serv.Recvfrom(buf, 0)
	if err != nil || !bytes.Equal(buf[:n], pyMSG) || from.(*socket.Inet4Addr).Port != sockname(t, cli).(*socket.Inet4Addr).Port {
		t.Fatalf("Recvfrom = %q from %v, %v; want from the client, %v", buf[:n], from, err, sockname(t, cli))
	}
}

// udpTimeout is UDPTimeoutTest.testUDPTimeout.
func udpTimeout(t *testing.T, k udpKind) {
	serv, _, _ := k.pair(t)
	serv.SetTimeout(100 * time.Millisecond)
	if _, err := serv.Recv(make([]byte, 1024), 0); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Recv with a timeout: %v", err)
	}
}

// udpTimeoutZero is UDPTimeoutTest.testTimeoutZero: settimeout(0.0) is
// SetBlocking(false) here, and the receive fails at once with an error
// that is not a timeout.
func udpTimeoutZero(t *testing.T, k udpKind) {
	serv, _, _ := k.pair(t)
	serv.SetBlocking(false)
	_, err := serv.Recv(make([]byte, 1024), 0)
	if errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("non-blocking Recv: %v; want EAGAIN", err)
	}
}

func TestBasicUDPTest_testSendtoAndRecv(t *testing.T)     { sendtoAndRecv(t, udp) }
func TestBasicUDPTest_testRecvFrom(t *testing.T)          { recvFrom(t, udp) }
func TestBasicUDPLITETest_testSendtoAndRecv(t *testing.T) { sendtoAndRecv(t, udplite) }
func TestBasicUDPLITETest_testRecvFrom(t *testing.T)      { recvFrom(t, udplite) }
func TestUDPTimeoutTest_testUDPTimeout(t *testing.T)      { udpTimeout(t, udp) }
func TestUDPTimeoutTest_testTimeoutZero(t *testing.T)     { udpTimeoutZero(t, udp) }
func TestUDPLITETimeoutTest_testUDPLITETimeout(t *testing.T) {
	udpTimeout(t, udplite)
}
func TestUDPLITETimeoutTest_testTimeoutZero(t *testing.T) { udpTimeoutZero(t, udplite) }
