//go:build linux

package cli_test

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/socketkit/socketkit/cmd/sock/internal/cli"
	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

// dialTCP connects a raw client socket to 127.0.0.1:port.
func dialTCP(t *testing.T, port string) *socket.Socket {
	t.Helper()
	var c *socket.Socket
	for deadline := time.Now().Add(sockettest.Patience(t)); time.Now().Before(deadline); {
		s, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		sa, _ := socket.ParseAddr(socket.AF_INET, "127.0.0.1:"+port)
		if err := s.Connect(sa); err == nil {
			c = s
			break
		}
		s.Close()
		time.Sleep(10 * time.Millisecond)
	}
	if c == nil {
		t.Fatalf("nothing accepts on port %s", port)
	}
	t.Cleanup(func() { c.Close() })
	c.SetTimeout(10 * time.Second)
	return c
}

func readLineFrom(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading a line: %v (got %q)", err, line)
	}
	return line
}

// TestCombinedShortFlags: nc's "-lvkp PORT" listens, verbose, keeps open.
func TestCombinedShortFlags(t *testing.T) {
	port := fmt.Sprint(freePort(t))
	l := start(t, "sock", "-lvkp", port, "--recv-only")
	for i := 0; i < 2; i++ { // -k: a second client after the first left
		c := dialTCP(t, port)
		c.Sendall([]byte(fmt.Sprintf("client %d\n", i)), 0)
		c.Close()
		l.expect(fmt.Sprintf("client %d\n", i))
	}
	if !strings.Contains(l.errb.String(), "listening on") {
		t.Fatalf("-v said nothing: %q", l.errb.String())
	}
}

func TestCRLFAndHexdump(t *testing.T) {
	port := fmt.Sprint(freePort(t))
	l := start(t, "sock", "listen", "127.0.0.1", port)
	waitListen(t, "tcp", "127.0.0.1:"+port)
	code, _, errs := run(t, "one\ntwo\r\n", "connect", "-C", "--hexdump", "127.0.0.1", port)
	if code != 0 {
		t.Fatal(errs)
	}
	l.expect("one\r\ntwo\r\n")
	if !strings.Contains(errs, "> 00000000  6f 6e 65 0d 0a 74 77 6f  0d 0a") || !strings.Contains(errs, "|one..two..|") {
		t.Fatalf("hexdump of the sent CRLF data missing:\n%s", errs)
	}
}

// TestExecPerConnection: -e and -c run a program per client.
func TestExecPerConnection(t *testing.T) {
	for _, flag := range [][]string{{"-e", "/bin/cat"}, {"-c", "tr a-z A-Z"}} {
		t.Run(flag[0], func(t *testing.T) {
			port := fmt.Sprint(freePort(t))
			start(t, "sock", append([]string{"listen", "-k"}, append(flag, "127.0.0.1", port)...)...)
			for i := 0; i < 2; i++ {
				c := dialTCP(t, port)
				c.Sendall([]byte("hello exec\n"), 0)
				c.CloseWrite()
				got, _ := io.ReadAll(c)
				want := "hello exec\n"
				if flag[0] == "-c" {
					want = "HELLO EXEC\n"
				}
				if string(got) != want {
					t.Fatalf("client %d got %q, want %q", i, got, want)
				}
			}
		})
	}
}

// TestTLSConnectListen: sock listen --tls prints its certificate's
// fingerprint, and sock connect --tls talks to it; verification fails
// without --tls-insecure and passes with the pinned fingerprint.
func TestTLSConnectListen(t *testing.T) {
	port := fmt.Sprint(freePort(t))
	l := start(t, "sock", "listen", "--tls", "-k", "127.0.0.1", port) // no -v: the fingerprint is said anyway
	waitListen(t, "tcp", "127.0.0.1:"+port)
	for deadline := time.Now().Add(sockettest.Patience(t)); !strings.Contains(l.errb.String(), "SHA256:") && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	i := strings.Index(l.errb.String(), "TLS certificate SHA256:")
	if i < 0 {
		t.Fatalf("sock listen --tls did not print its certificate's fingerprint: %q", l.errb.String())
	}
	fp := strings.Fields(l.errb.String()[i:])[2]
	code, _, errs := run(t, "untrusted\n", "connect", "--tls", "127.0.0.1", port)
	if code != 1 || !strings.Contains(errs, "certificate") {
		t.Fatalf("connecting to a self-signed server without --tls-insecure: exit %d, %q", code, errs)
	}
	code, _, errs = run(t, "hello tls\n", "connect", "--tls", "--tls-insecure", "-q", "0.2", "127.0.0.1", port)
	if code != 0 {
		t.Fatalf("--tls-insecure: %d %s", code, errs)
	}
	l.expect("hello tls\n")
	if !strings.Contains(errs, "TLS 1.3, server certificate "+fp) {
		t.Errorf("sock connect --tls did not say the server's certificate fingerprint %s on stderr: %q", fp, errs)
	}
	code, _, errs = run(t, "pinned\n", "connect", "--tls", "--tls-fingerprint", fp, "-q", "0.2", "127.0.0.1", port)
	if code != 0 {
		t.Fatalf("--tls-fingerprint %s: %d %s", fp, code, errs)
	}
	l.expect("pinned\n")
	code, _, errs = run(t, "x\n", "connect", "--tls", "--tls-fingerprint", "SHA256:00", "127.0.0.1", port)
	if code != 1 || !strings.Contains(errs, "fingerprint") {
		t.Fatalf("wrong fingerprint: %d %q", code, errs)
	}
}

// TestTLSSNIALPN: sock listen --tls --sni NAME --alpn LIST answers only
// clients that ask for NAME, and picks its preferred protocol among the
// client's; sock connect --sni and --alpn ask, and say what was settled.
func TestTLSSNIALPN(t *testing.T) {
	port := fmt.Sprint(freePort(t))
	l := start(t, "sock", "listen", "--tls", "-k", "-v", "--sni", "srv.test", "--alpn", "h2,http/1.1", "127.0.0.1", port)
	waitListen(t, "tcp", "127.0.0.1:"+port)
	code, _, errs := run(t, "hello sni\n", "connect", "--tls", "--tls-insecure", "--sni", "srv.test", "--alpn", "http/1.1,h2", "-q", "0.2", "127.0.0.1", port)
	if code != 0 {
		t.Fatalf("connect --sni srv.test: exit %d, %q", code, errs)
	}
	l.expect("hello sni\n")
	if !strings.Contains(errs, "server name srv.test, ALPN h2, server certificate SHA256:") {
		t.Errorf("connect's stderr does not say the server name, protocol and fingerprint: %q", errs)
	}
	code, _, errs = run(t, "x\n", "connect", "--tls", "--tls-insecure", "--sni", "other.test", "127.0.0.1", port)
	if code != 1 || !strings.Contains(errs, "handshake") {
		t.Errorf("connect --sni other.test to a listener for srv.test: exit %d, %q; want a failed handshake", code, errs)
	}
	code, _, errs = run(t, "", "connect", "--sni", "srv.test", "127.0.0.1", port)
	if code != cli.ExitUsage || !strings.Contains(errs, "--tls") {
		t.Errorf("--sni without --tls: exit %d, %q; want a usage error", code, errs)
	}
}

// TestQuitAndSendOnly: -q quits after stdin ends even though the peer stays;
// --send-only quits at EOF; -i closes an idle connection.
func TestQuitAndSendOnly(t *testing.T) {
	port := fmt.Sprint(freePort(t))
	start(t, "sock", "listen", "-k", "--recv-only", "127.0.0.1", port) // never closes its side
	waitListen(t, "tcp", "127.0.0.1:"+port)
	for _, args := range [][]string{
		{"connect", "-q", "0.1", "127.0.0.1", port},
		{"connect", "--send-only", "127.0.0.1", port},
	} {
		startT := time.Now()
		code, _, errs := run(t, "bye\n", args...)
		if code != 0 || time.Since(startT) > 5*time.Second {
			t.Fatalf("sock %v: exit %d after %v: %s", args, code, time.Since(startT), errs)
		}
	}
	startT := time.Now()
	code, _, errs := run(t, "", "connect", "--recv-only", "-i", "0.3", "127.0.0.1", port)
	if code != 1 || !strings.Contains(errs, "idle") || time.Since(startT) > 5*time.Second {
		t.Fatalf("-i: exit %d after %v: %q", code, time.Since(startT), errs)
	}
}

func TestZeroIO(t *testing.T) {
	srv, _ := socket.CreateServer("127.0.0.1:0", nil)
	defer srv.Close()
	port := fmt.Sprint(srv.LocalAddr().(interface{ String() string }).String()[len("127.0.0.1:"):])
	code, _, errs := run(t, "", "-zv", "127.0.0.1", port)
	if code != 0 || !strings.Contains(errs, "succeeded") {
		t.Fatalf("-z: %d %q", code, errs)
	}
	srv.Close()
	if code, _, _ := run(t, "", "-z", "127.0.0.1", port); code != 1 {
		t.Fatalf("-z on a closed port: exit %d", code)
	}
}

func TestUnixDatagramAndSeqpacket(t *testing.T) {
	path := sockettest.UnixPath(t, "sp.sock")
	l := start(t, "sock", "listen", "--seqpacket", path)
	waitListen(t, "unix", path)
	code, _, errs := run(t, "record\n", "connect", "--seqpacket", "-q", "0.2", path)
	if code != 0 {
		t.Fatal(errs)
	}
	l.expect("record\n")
}

// TestSeqpacketEOF: at the end of stdin, sock connect --seqpacket shuts
// down its sending side as it does for a stream (the default, -N), so a
// server that echoes until the client's EOF closes, and sock exits with
// the echo printed. It did not (only SOCK_STREAM was shut down), and hung
// until killed.
func TestSeqpacketEOF(t *testing.T) {
	sockettest.LeakCheck(t)
	path := sockettest.UnixPath(t, "eof.sock")
	ln, err := socket.Listen("unixpacket", path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		c, _, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		c.SetTimeout(20 * time.Second)
		buf := make([]byte, 1024)
		for {
			n, err := c.Recv(buf, 0)
			if err != nil || n == 0 { // n == 0: the client shut down its side
				served <- err
				return
			}
			if _, err := c.Send(buf[:n], 0); err != nil {
				served <- err
				return
			}
		}
	}()
	type result struct {
		code     int
		out, err string
	}
	res := make(chan result, 1)
	go func() {
		code, out, errs := run(t, "seq\n", "connect", "--seqpacket", path)
		res <- result{code, out, errs}
	}()
	select {
	case r := <-res:
		if r.code != 0 || r.out != "seq\n" {
			t.Fatalf("sock connect --seqpacket: exit %d, stdout %q, stderr %q; want 0 and the echo", r.code, r.out, r.err)
		}
	case <-time.After(20 * time.Second):
		ln.Close()
		t.Fatal("sock connect --seqpacket did not end 20 s after its stdin did: the server never saw its EOF")
	}
	if err := <-served; err != nil {
		t.Fatalf("server: %v", err)
	}
}
