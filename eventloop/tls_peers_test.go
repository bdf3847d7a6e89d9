//go:build linux

package eventloop_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/internal/sockettest"
)

// lineEcho echoes lines, and closes the connection (close_notify first)
// after a line "quit"; OnOpen reports the connection's TLS state.
type lineEcho struct {
	tlsEcho
	lines chan string // each line, if set
}

func (h *lineEcho) OnData(c *eventloop.Conn) eventloop.Action {
	for {
		b, _ := c.Peek(-1)
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return eventloop.None
		}
		line, _ := c.Next(i + 1)
		c.Write(line)
		if h.lines != nil {
			h.lines <- string(line)
		}
		if string(bytes.TrimSpace(line)) == "quit" {
			return eventloop.Close
		}
	}
}

// httpHello answers every HTTP request with "hello over TLS" and closes.
type httpHello struct{ tlsEcho }

func (h *httpHello) OnData(c *eventloop.Conn) eventloop.Action {
	if b, _ := c.Peek(-1); !bytes.Contains(b, []byte("\r\n\r\n")) {
		return eventloop.None
	}
	c.Discard(-1)
	st, _ := c.ConnectionState()
	body := fmt.Sprintf("hello over TLS (%s, ALPN %q)\n", tls.VersionName(st.Version), st.NegotiatedProtocol)
	fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	return eventloop.Close
}

// sniConfig serves the test PKI's server certificate, or the one for
// other.test when the client asks for that name (GetConfigForClient),
// with ALPN http/1.1.
func sniConfig(t testing.TB) *tls.Config {
	p := sockettest.TLSCerts(t)
	base := &tls.Config{Certificates: []tls.Certificate{p.Server}, NextProtos: []string{"http/1.1"}}
	other := &tls.Config{Certificates: []tls.Certificate{p.Other}, NextProtos: []string{"http/1.1"}}
	return &tls.Config{
		Certificates: base.Certificates,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if hello.ServerName == "other.test" {
				return other, nil
			}
			return base, nil
		},
	}
}

// need skips the test if a peer program is missing.
func need(t *testing.T, prog string) string {
	t.Helper()
	path, err := exec.LookPath(prog)
	if err != nil {
		t.Skipf("%s is not installed (apt-get install %s)", prog, prog)
	}
	return path
}

// run runs a peer with stdin and returns its combined output.
func run(t *testing.T, stdin string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestTLSOpenSSL: openssl s_client over TLS 1.2 and 1.3, with ALPN and
// SNI (GetConfigForClient picks the certificate by name).
func TestTLSOpenSSL(t *testing.T) {
	openssl := need(t, "openssl")
	p := sockettest.TLSCerts(t)
	for _, tc := range []struct {
		version, protocol, sni, cn string
	}{
		{"-tls1_2", "TLSv1.2", "localhost", "localhost"},
		{"-tls1_3", "TLSv1.3", "localhost", "localhost"},
		{"-tls1_2", "TLSv1.2", "other.test", "other.test"},
		{"-tls1_3", "TLSv1.3", "other.test", "other.test"},
	} {
		t.Run(tc.protocol+" "+tc.sni, func(t *testing.T) {
			rec := newTLSRecorder()
			h := &lineEcho{tlsEcho: tlsEcho{rec: rec, state: make(chan tls.ConnectionState, 1)}}
			addr, _, _ := startTLS(t, h, sniConfig(t), nil)
			out, err := run(t, "hello from openssl\nquit\n", openssl, "s_client", "-connect", addr, tc.version,
				"-servername", tc.sni, "-alpn", "h2,http/1.1", "-CAfile", p.CAFile, "-verify_return_error", "-ign_eof")
			if err != nil {
				t.Fatalf("s_client: %v\n%s", err, out)
			}
			for _, want := range []string{"Protocol  : " + tc.protocol, "ALPN protocol: http/1.1", "CN = " + tc.cn, "Verify return code: 0 (ok)", "hello from openssl\nquit\n"} {
				if !strings.Contains(out, want) {
					t.Errorf("s_client's output lacks %q:\n%s", want, out)
				}
			}
			st := recv(t, h.state, "OnOpen")
			if st.ServerName != tc.sni || st.NegotiatedProtocol != "http/1.1" {
				t.Errorf("OnOpen saw SNI %q, ALPN %q", st.ServerName, st.NegotiatedProtocol)
			}
			if closed, _ := rec.wait(t, 1, 0); closed[0] != nil {
				t.Errorf("OnClose(%v), want nil", closed[0])
			}
		})
	}
}

// TestTLSRenegotiationRefused: a TLS 1.2 client that asks to renegotiate
// (openssl's R command) is refused with an alert and the connection is
// closed with an error; the server does not start a second handshake.
func TestTLSRenegotiationRefused(t *testing.T) {
	openssl := need(t, "openssl")
	p := sockettest.TLSCerts(t)
	rec := newTLSRecorder()
	h := &lineEcho{tlsEcho: tlsEcho{rec: rec}, lines: make(chan string, 10)}
	addr, e, _ := startTLS(t, h, sniConfig(t), nil)
	// s_client takes R as a command only without -ign_eof, when the end
	// of its input also ends the connection: keep its input open until
	// it has exited.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, openssl, "s_client", "-connect", addr, "-tls1_2", "-CAfile", p.CAFile)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdin.Write([]byte("before\n"))
	if line := recv(t, h.lines, "the first line"); line != "before\n" {
		t.Fatalf("the server read %q", line)
	}
	// R once s_client has printed the echo: an echo that arrives during
	// the renegotiation is an unexpected record to it, and never printed.
	sockettest.WaitFor(t, "s_client to print the echo", func() bool { return strings.Contains(out.String(), "\nbefore\n") })
	stdin.Write([]byte("R\n"))
	cmd.Wait() // the server's alert ends it
	stdin.Close()
	// (Whether s_client printed the echo of "before" first is a race
	// with its renegotiation: the server read the line, which is enough.)
	if !strings.Contains(out.String(), "RENEGOTIATING") {
		t.Fatalf("s_client did not try to renegotiate:\n%s", out.String())
	}
	closed, _ := rec.wait(t, 1, 0)
	if closed[0] == nil || !strings.Contains(closed[0].Error(), "unexpected handshake message") {
		t.Errorf("OnClose(%v), want crypto/tls's unexpected message error", closed[0])
	}
	if st := e.Stats(); st.TLSHandshakes != 1 {
		t.Errorf("%d handshakes, want 1", st.TLSHandshakes)
	}
}

// TestTLSCurl: curl over HTTPS to an HTTP handler on the engine.
func TestTLSCurl(t *testing.T) {
	curl := need(t, "curl")
	p := sockettest.TLSCerts(t)
	for _, version := range []string{"--tlsv1.2", "--tlsv1.3"} {
		t.Run(version, func(t *testing.T) {
			addr, _, _ := startTLS(t, &httpHello{}, sniConfig(t), nil)
			port := addr[strings.LastIndexByte(addr, ':')+1:]
			maxV := "1.2"
			if version == "--tlsv1.3" {
				maxV = "1.3"
			}
			out, err := run(t, "", curl, "-sS", "--cacert", p.CAFile, version, "--tls-max", maxV, "https://localhost:"+port+"/")
			if err != nil {
				t.Fatalf("curl: %v\n%s", err, out)
			}
			want := fmt.Sprintf("hello over TLS (TLS %s, ALPN \"http/1.1\")\n", maxV)
			if out != want {
				t.Errorf("curl got %q, want %q", out, want)
			}
		})
	}
}

// pythonClient talks to the engine with Python's ssl module: it sends a
// line, reads it back, and then either closes with close_notify
// (unwrap, which waits for the server's close_notify) or asks the server
// to close and reads its close_notify (a ragged EOF raises, since
// suppress_ragged_eofs is off).
const pythonClient = `
import socket, ssl, sys
host, port, cafile, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile)
if len(sys.argv) > 5:
    ctx.load_cert_chain(sys.argv[5], sys.argv[6])
raw = socket.create_connection((host, port), timeout=10)
s = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
s.sendall(b"hello from python\n")
got = b""
while not got.endswith(b"\n"):
    got += s.recv(100)
print(s.version(), got.decode().strip())
if mode == "client-closes":
    s.unwrap()  # close_notify both ways
    print("unwrapped")
else:
    s.sendall(b"quit\n")
    rest = b""
    while True:
        b = s.recv(100)
        if not b:
            break
        rest += b
    print("close_notify after", rest.decode().strip())
raw.close()
`

// TestTLSPython: Python's ssl module, closing both ways: the client's
// close_notify is answered with the server's, and the server's orderly
// close sends one (Python raises on an EOF without it).
func TestTLSPython(t *testing.T) {
	python := need(t, "python3")
	p := sockettest.TLSCerts(t)
	for _, mode := range []string{"client-closes", "server-closes"} {
		t.Run(mode, func(t *testing.T) {
			rec := newTLSRecorder()
			addr, _, _ := startTLS(t, &lineEcho{tlsEcho: tlsEcho{rec: rec}}, tlsServerConfig(t), nil)
			host, port := addr[:strings.LastIndexByte(addr, ':')], addr[strings.LastIndexByte(addr, ':')+1:]
			out, err := run(t, "", python, "-c", pythonClient, host, port, p.CAFile, mode)
			if err != nil {
				t.Fatalf("python: %v\n%s", err, out)
			}
			want := "TLSv1.3 hello from python\n"
			if mode == "client-closes" {
				want += "unwrapped\n"
			} else {
				want += "close_notify after quit\n"
			}
			if out != want {
				t.Errorf("python printed %q, want %q", out, want)
			}
			if closed, _ := rec.wait(t, 1, 0); closed[0] != nil {
				t.Errorf("OnClose(%v), want nil", closed[0])
			}
		})
	}
}

// TestTLSClientCertificate: a config that requires a client certificate
// signed by the test CA admits a client with one (OnOpen sees it), and
// refuses clients without one or with one it does not trust (the
// handshake fails, OnHandshakeError says why); Go, openssl and Python
// clients.
func TestTLSClientCertificate(t *testing.T) {
	p := sockettest.TLSCerts(t)
	cfg := &tls.Config{Certificates: []tls.Certificate{p.Server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.CAPool}
	for _, tc := range []struct {
		name   string
		client func(t *testing.T, addr string) error
		ok     bool
		want   string // in the handshake error when !ok
	}{
		{"Go with the certificate", func(t *testing.T, addr string) error {
			cc := tlsClientConfig(t)
			cc.Certificates = []tls.Certificate{p.Client}
			c, err := tls.Dial("tcp", addr, cc)
			if err != nil {
				return err
			}
			defer c.Close()
			echoCheck(t, c, []byte("with a certificate\n"))
			return nil
		}, true, ""},
		{"Go without a certificate", func(t *testing.T, addr string) error {
			c, err := tls.Dial("tcp", addr, tlsClientConfig(t))
			if err == nil {
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, err = c.Read(make([]byte, 1)) // TLS 1.3: the refusal comes after the client's Finished
				c.Close()
			}
			if err == nil {
				return fmt.Errorf("served without a certificate")
			}
			return nil
		}, false, "didn't provide a certificate"},
		{"Go with a certificate of another CA", func(t *testing.T, addr string) error {
			cc := tlsClientConfig(t)
			cc.Certificates = []tls.Certificate{selfSignedClient(t)}
			c, err := tls.Dial("tcp", addr, cc)
			if err == nil {
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, err = c.Read(make([]byte, 1))
				c.Close()
			}
			if err == nil {
				return fmt.Errorf("served with an untrusted certificate")
			}
			return nil
		}, false, "certificate"},
		{"openssl with the certificate", func(t *testing.T, addr string) error {
			openssl := need(t, "openssl")
			out, err := run(t, "hello from openssl\nquit\n", openssl, "s_client", "-connect", addr, "-CAfile", p.CAFile,
				"-cert", p.ClientCert, "-key", p.ClientKey, "-ign_eof")
			if err != nil || !strings.Contains(out, "hello from openssl\nquit\n") {
				return fmt.Errorf("s_client: %v\n%s", err, out)
			}
			return nil
		}, true, ""},
		{"Python with the certificate", func(t *testing.T, addr string) error {
			python := need(t, "python3")
			host, port := addr[:strings.LastIndexByte(addr, ':')], addr[strings.LastIndexByte(addr, ':')+1:]
			out, err := run(t, "", python, "-c", pythonClient, host, port, p.CAFile, "server-closes", p.ClientCert, p.ClientKey)
			if err != nil || !strings.Contains(out, "close_notify after quit") {
				return fmt.Errorf("python: %v\n%s", err, out)
			}
			return nil
		}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newTLSRecorder()
			h := &lineEcho{tlsEcho: tlsEcho{rec: rec, state: make(chan tls.ConnectionState, 1)}}
			addr, _, _ := startTLS(t, h, cfg, nil)
			if err := tc.client(t, addr); err != nil {
				t.Fatal(err)
			}
			if !tc.ok {
				_, hs := rec.wait(t, 0, 1)
				if !strings.Contains(hs[0].Error(), tc.want) {
					t.Errorf("handshake error %v, want one saying %q", hs[0], tc.want)
				}
				return
			}
			st := recv(t, h.state, "OnOpen")
			if len(st.PeerCertificates) == 0 || st.PeerCertificates[0].Subject.CommonName != "socketkit test client" {
				t.Errorf("OnOpen saw client certificates %v", st.PeerCertificates)
			}
			rec.wait(t, 1, 0)
		})
	}
}

// selfSignedClient is a client certificate no CA of the test PKI signed.
func selfSignedClient(t *testing.T) tls.Certificate {
	p := sockettest.TLSCerts(t)
	// The SNI certificate for other.test is signed by the test CA but is
	// not a client certificate (its extended key usage is serverAuth):
	// the server refuses it as such.
	return p.Other
}

// lockedBuffer is a bytes.Buffer that a program's output goroutines write
// while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
