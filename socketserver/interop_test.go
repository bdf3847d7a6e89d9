//go:build linux

package socketserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
	ss "github.com/socketkit/socketkit/socketserver"
)

func tlsConfig(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func TestTLSServer(t *testing.T) {
	sockettest.LeakCheck(t)
	srv, err := ss.NewThreadingTCPServer("127.0.0.1:0", ss.Stream(func(ctx context.Context, r *ss.StreamRequest) error {
		line, err := r.R.ReadString('\n')
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(r.W, "tls:%s", line)
		return err
	}), ss.WithTLS(tlsConfig(t)))
	if err != nil {
		t.Fatal(err)
	}
	serve(t, srv)
	c, err := tls.Dial("tcp", srv.Address().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hello\n"))
	got, _ := io.ReadAll(c)
	if string(got) != "tls:hello\n" {
		t.Fatalf("got %q", got)
	}
	if !c.ConnectionState().HandshakeComplete {
		t.Fatal("no handshake")
	}
	// A client that does not speak TLS is logged and does not stop the server.
	raw := dial(t, srv)
	raw.Sendall([]byte("GET / HTTP/1.0\r\n\r\n"), 0)
	io.ReadAll(raw)
	c2, err := tls.Dial("tcp", srv.Address().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("server stopped after a bad handshake: %v", err)
	}
	c2.Close()
}

func python3(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 is missing; .ci/run installs it")
		}
		t.Skip("python3 not installed")
	}
	return p
}

// TestGoClientPythonServer: a client on our socket package talks to
// Python's own socketserver.ThreadingTCPServer.
func TestGoClientPythonServer(t *testing.T) {
	py := python3(t)
	script := `
import socketserver, sys
class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(b"py:" + line)
socketserver.ThreadingTCPServer.allow_reuse_address = True
with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo) as srv:
    print("PORT", srv.server_address[1], flush=True)
    srv.serve_forever()
`
	cmd := exec.Command(py, "-c", script)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var port int
	if _, err := fmt.Fscanf(out, "PORT %d\n", &port); err != nil {
		t.Fatal(err)
	}
	c, err := socket.CreateConnection(context.Background(), fmt.Sprintf("127.0.0.1:%d", port), &socket.DialOptions{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Sendall([]byte("one\ntwo\n"), 0); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "py:one\npy:two\n" {
		t.Fatalf("got %q, %v", got, err)
	}
}

// TestPythonClients: python3 socket clients exchange data with our servers
// over tcp, udp and unix.
func TestPythonClients(t *testing.T) {
	py := python3(t)
	for _, tr := range []transport{transports[0], transports[2], transports[4], transports[6]} {
		t.Run(tr.name, func(t *testing.T) {
			srv, err := ss.New(tr.network, tr.addr(t), echoHandler, ss.WithDispatcher(&ss.Goroutines{}))
			if err != nil {
				t.Fatal(err)
			}
			serve(t, srv)
			addr := srv.Address()
			var target, fam, typ, bind string
			switch a := addr.(type) {
			case *socket.Inet4Addr:
				target, fam = fmt.Sprintf("('127.0.0.1', %d)", a.Port), "AF_INET"
			case *socket.UnixAddr:
				target, fam = fmt.Sprintf("%q", a.Path), "AF_UNIX"
			}
			typ = "SOCK_STREAM"
			if tr.network == "udp" || tr.network == "unixgram" {
				typ = "SOCK_DGRAM"
				if fam == "AF_UNIX" {
					bind = fmt.Sprintf("s.bind(%q)", sockettest.UnixPath(t, "py.sock"))
				}
			}
			script := fmt.Sprintf(`
import socket
s = socket.socket(socket.%s, socket.%s)
s.settimeout(10)
%s
s.connect(%s)
s.sendall(b"hello from python")
print(s.recv(1024).decode())
s.close()
`, fam, typ, bind, target)
			out, err := exec.Command(py, "-c", script).CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "hello from python" {
				t.Fatalf("python client: %v\n%s", err, out)
			}
		})
	}
}
