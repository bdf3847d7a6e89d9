//go:build linux

package cli_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// debianPython is Debian's own python3, which has python3-websockets; the
// first python3 on PATH may be another one (pyenv) without it.
func debianPython(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import websockets").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s cannot import websockets (%v); .ci/run installs python3-websockets", py, err)
		}
		t.Skipf("%s cannot import websockets: %v", py, err)
	}
	return py
}

// The peers in Python's websockets (Debian python3-websockets, 10.x).
const (
	// pyWSServer greets each client, answers each message with "py got:
	// MESSAGE" (text or binary as it came) and closes with 4000 "bye" on
	// "quit". It prints its port.
	pyWSServer = `
import asyncio, sys, ssl, websockets
async def handler(ws, path=None):
    await ws.send("welcome")
    async for msg in ws:
        if msg == "quit":
            await ws.close(4000, "bye")
            return
        await ws.send("py got: " + msg if isinstance(msg, str) else b"py got: " + msg)
async def run():
    ctx = None
    if len(sys.argv) > 2:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    server = await websockets.serve(handler, "127.0.0.1", 0, ssl=ctx)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Future()
asyncio.run(run())
`
	// pyWSClient connects to argv[1] (trusting argv[2] for wss), sends
	// argv[3], prints what it gets back, and closes normally; a close by
	// the server is printed with its code.
	pyWSClient = `
import asyncio, sys, ssl, websockets
async def main():
    ctx = ssl.create_default_context(cafile=sys.argv[2]) if sys.argv[1].startswith("wss") else None
    async with websockets.connect(sys.argv[1], ssl=ctx) as ws:
        await ws.send(sys.argv[3])
        try:
            print("python got:", await ws.recv(), flush=True)
        except websockets.ConnectionClosed as e:
            print("python closed:", e.code, flush=True)
asyncio.run(main())
`
)

// startPyWSServer runs pyWSServer and returns its port.
func startPyWSServer(t *testing.T, tlsFiles ...string) string {
	t.Helper()
	py := debianPython(t)
	p := start(t, py, append([]string{"-c", pyWSServer}, tlsFiles...)...)
	for i := 0; i < 1000 && !strings.Contains(p.out.String(), "\n"); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	port := strings.TrimSpace(p.out.String())
	if port == "" {
		t.Fatalf("the Python server did not start: %s", p.errb.String())
	}
	return port
}

// testCert writes a self-signed certificate for 127.0.0.1 and localhost
// (its own CA) and its key, and returns the two paths.
func testCert(t *testing.T) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sock test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	cert, keyf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyf, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return cert, keyf
}

// expectErr waits until the program's stderr holds want.
func (p *proc) expectErr(want string) {
	p.t.Helper()
	for i := 0; i < 1000; i++ {
		if strings.Contains(p.errb.String(), want) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.t.Fatalf("%s never said %q; stderr %q", p.name, want, p.errb.String())
}

// TestWSConnectToPython: sock connect ws:// and wss:// to a Python
// websockets server: its greeting, answers to lines (text) and to binary
// messages, its close code, and our close at the end of stdin.
func TestWSConnectToPython(t *testing.T) {
	cert, key := testCert(t)
	for _, scheme := range []string{"ws", "wss"} {
		t.Run(scheme, func(t *testing.T) {
			var files, tlsArgs []string
			if scheme == "wss" {
				files, tlsArgs = []string{cert, key}, []string{"--tls-ca", cert}
			}
			url := scheme + "://127.0.0.1:" + startPyWSServer(t, files...) + "/chat"

			// Lines both ways; the server's close code ends sock with it.
			c := start(t, "sock", append(append([]string{"connect", "-v"}, tlsArgs...), url)...)
			c.expect("welcome\n")
			c.send("hello\n")
			c.expect("welcome\npy got: hello\n")
			c.send("second\n")
			c.expect("py got: second\n")
			c.send("quit\n")
			if code := c.exits(10 * time.Second); code != 1 {
				t.Errorf("sock exited %d after the server's close 4000, want 1", code)
			}
			c.expectErr(`the server closed the WebSocket with 4000: "bye"`)

			// Binary messages; the end of stdin closes normally (exit 0).
			b := start(t, "sock", append(append([]string{"connect", "--binary"}, tlsArgs...), url)...)
			b.expect("welcome")
			b.send("\x00\x01bin")
			b.expect("welcomepy got: \x00\x01bin")
			b.stdin.Close()
			if code := b.exits(10 * time.Second); code != 0 {
				t.Errorf("sock --binary exited %d at the end of stdin, want 0: %s", code, b.errb.String())
			}
		})
	}
}

// TestWSListenForPython: a Python websockets client talks to sock listen
// --ws, over ws:// and wss://: a message each way, then its normal close
// ends sock with 0.
func TestWSListenForPython(t *testing.T) {
	py := debianPython(t)
	cert, key := testCert(t)
	for _, scheme := range []string{"ws", "wss"} {
		t.Run(scheme, func(t *testing.T) {
			port := fmt.Sprint(freePort(t))
			args := []string{"listen", "--ws", "--ws-path", "/in"}
			if scheme == "wss" {
				args = append(args, "--tls", "--tls-cert", cert, "--tls-key", key)
			}
			l := start(t, "sock", append(args, "127.0.0.1", port)...)
			waitListen(t, "tcp", "127.0.0.1:"+port)
			client := start(t, py, "-c", pyWSClient, scheme+"://127.0.0.1:"+port+"/in", cert, "from python")
			l.expect("from python\n")
			l.send("from sock\n")
			client.expect("python got: from sock\n")
			if code := client.exits(10 * time.Second); code != 0 {
				t.Fatalf("the Python client exited %d: %s", code, client.errb.String())
			}
			if code := l.exits(10 * time.Second); code != 0 {
				t.Errorf("sock listen --ws exited %d after the client's normal close, want 0: %s", code, l.errb.String())
			}
		})
	}
}

// TestWSMessageLimit: a message over --ws-max-message closes the
// connection with 1009, which the client sees, and sock says why.
func TestWSMessageLimit(t *testing.T) {
	py := debianPython(t)
	port := fmt.Sprint(freePort(t))
	l := start(t, "sock", "listen", "--ws", "--ws-max-message", "100", "127.0.0.1", port)
	waitListen(t, "tcp", "127.0.0.1:"+port)
	client := start(t, py, "-c", pyWSClient, "ws://127.0.0.1:"+port+"/", "", strings.Repeat("x", 200))
	client.expect("python closed: 1009\n")
	if code := l.exits(10 * time.Second); code != 1 {
		t.Errorf("sock exited %d, want 1", code)
	}
	l.expectErr("over --ws-max-message 100 bytes: closed the WebSocket with 1009 (message too big)")
}

// silentWSServer answers a WebSocket handshake and then reads nothing, so
// that pings get no pong.
func silentWSServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", base64.StdEncoding.EncodeToString(sum[:]))
		io.Copy(io.Discard, c) // until sock gives up
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// TestWSPing: --ws-ping measures pongs from a live server and gives up on
// a server that answers none.
func TestWSPing(t *testing.T) {
	port := startPyWSServer(t)
	// -q 0: close at the end of stdin, not after a second's quiet in which
	// one late pong of ten (a loaded machine) would end it.
	c := start(t, "sock", "connect", "-vv", "-q", "0", "--ws-ping", "0.1", "ws://127.0.0.1:"+port+"/")
	c.expect("welcome\n")
	c.expectErr("sock: pong after ")
	c.stdin.Close()
	if code := c.exits(10 * time.Second); code != 0 {
		t.Errorf("exit %d: %s", code, c.errb.String())
	}

	code, _, errs := run(t, "", "connect", "--recv-only", "--ws-ping", "200ms", "ws://"+silentWSServer(t)+"/")
	oneErrorLine(t, code, errs, "no pong within 200ms: closed the WebSocket")
}

// sha256Of hashes what r gives until EOF.
func sha256Of(r io.Reader) ([32]byte, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, n, err
}

// TestWSBridge: TCP -> sock relay -> WebSocket -> sock relay -> TCP,
// over ws:// and wss://, moves 10 MB each way with the sha256 intact, and
// passes the end of data on (a half-close), so that a server can answer
// after it.
func TestWSBridge(t *testing.T) {
	blob := make([]byte, 10<<20)
	rand.Read(blob)
	want := sha256.Sum256(blob)
	for _, scheme := range []string{"ws", "wss"} {
		t.Run(scheme, func(t *testing.T) {
			// The far TCP server: each connection is told, on its first
			// byte, what to do: 'u' hash what comes until EOF and answer
			// the hash; 'd' send the blob and close.
			sink, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			hashes := make(chan [32]byte, 4)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					c, err := sink.Accept()
					if err != nil {
						return
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						defer c.Close()
						var op [1]byte
						if _, err := io.ReadFull(c, op[:]); err != nil {
							return
						}
						switch op[0] {
						case 'u':
							sum, _, _ := sha256Of(c)
							hashes <- sum
							c.Write(sum[:]) // after the client's EOF
						case 'd':
							c.Write(blob)
						}
					}()
				}
			}()
			t.Cleanup(func() { sink.Close(); wg.Wait() })

			wsPort, tcpPort := fmt.Sprint(freePort(t)), fmt.Sprint(freePort(t))
			listenKind, relayArgs := "ws-listen", []string{"relay"}
			if scheme == "wss" {
				listenKind, relayArgs = "wss-listen", []string{"relay", "--tls-insecure"}
			}
			far := start(t, "sock", "relay", listenKind+":127.0.0.1:"+wsPort+"/tunnel,fork", "tcp:"+sink.Addr().String())
			waitListen(t, "tcp", "127.0.0.1:"+wsPort)
			near := start(t, "sock", append(relayArgs, "tcp-listen:127.0.0.1:"+tcpPort+",fork", "ws:"+scheme+"://127.0.0.1:"+wsPort+"/tunnel")...)
			waitListen(t, "tcp", "127.0.0.1:"+tcpPort)
			diag := func() string { return "near: " + near.errb.String() + "\nfar: " + far.errb.String() }

			// Up: 10 MB, our end of data, then the sink's answer.
			c, err := net.Dial("tcp4", "127.0.0.1:"+tcpPort)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			c.Write([]byte{'u'})
			if _, err := c.Write(blob); err != nil {
				t.Fatalf("sending: %v\n%s", err, diag())
			}
			c.(*net.TCPConn).CloseWrite()
			var answer [32]byte
			if _, err := io.ReadFull(c, answer[:]); err != nil {
				t.Fatalf("no answer after our end of data: %v\n%s", err, diag())
			}
			if got := <-hashes; got != want || answer != want {
				t.Fatalf("up: the sink hashed %x, answered %x; want %x\n%s", got[:8], answer[:8], want[:8], diag())
			}

			// Down: 10 MB from the sink, then its close.
			d, err := net.Dial("tcp4", "127.0.0.1:"+tcpPort)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			d.SetDeadline(time.Now().Add(60 * time.Second))
			d.Write([]byte{'d'})
			got, n, err := sha256Of(d)
			if err != nil || got != want {
				t.Fatalf("down: %d bytes, sha256 %x, %v; want %d bytes, %x\n%s", n, got[:8], err, len(blob), want[:8], diag())
			}
		})
	}
}

// TestWSThroughProxy: sock connect ws:// through sock proxy (SOCKS5).
func TestWSThroughProxy(t *testing.T) {
	port := startPyWSServer(t)
	proxy, log := startProxyServer(t, "-v")
	c := start(t, "sock", "connect", "-v", "--proxy", "socks5://"+proxy, "ws://localhost:"+port+"/")
	c.expect("welcome\n")
	c.send("via proxy\n")
	c.expect("py got: via proxy\n")
	c.stdin.Close()
	if code := c.exits(10 * time.Second); code != 0 {
		t.Errorf("exit %d: %s", code, c.errb.String())
	}
	waitLog(t, log, `socks5 CONNECT localhost:`+port+` -> `)
}

// TestWSErrors: a server that does not upgrade, and bad URLs and flags.
func TestWSErrors(t *testing.T) {
	web := httpServer(t)
	code, _, errs := run(t, "", "connect", "ws://"+web+"/")
	oneErrorLine(t, code, errs, "the server answered 200 OK, not 101 Switching Protocols")
	code, _, errs = run(t, "", "connect", fmt.Sprintf("ws://127.0.0.1:%d/", freePort(t)))
	oneErrorLine(t, code, errs, "connection refused")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"connect", "ws://"}, "has no host"},
		{[]string{"connect", "ws://127.0.0.1:99999/"}, "not a number from 1 to 65535"},
		{[]string{"connect", "ws://127.0.0.1:1/#frag"}, "fragment"},
		{[]string{"connect", "--binary", "127.0.0.1", "80"}, "--binary is for WebSocket"},
		{[]string{"connect", "-u", "ws://127.0.0.1:1/"}, "-u do not apply to WebSocket"},
		{[]string{"connect", "--ws-header", "nocolon", "ws://127.0.0.1:1/"}, `want "Name: value"`},
		{[]string{"connect", "--ws-max-message", "0", "ws://127.0.0.1:1/"}, "at least 1"},
		{[]string{"listen", "--ws-path", "/x", "8080"}, "--ws-path goes with --ws"},
		{[]string{"listen", "--ws", "--ws-path", "x", "8080"}, "must begin with /"},
		{[]string{"listen", "--ws", "--broker", "8080"}, "do not apply to WebSocket"},
		{[]string{"relay", "ws:ftp://127.0.0.1/", "-"}, "want ws:// or wss://"},
		{[]string{"relay", "ws-listen:abc", "-"}, "not a number"},
		{[]string{"relay", "ws-listen:8080,nofork", "-"}, `unknown option "nofork"`},
		{[]string{"relay", "--ws-max-message", "0", "ws://127.0.0.1:1/", "-"}, "at least 1"},
	} {
		code, _, errs := run(t, "", tc.args...)
		first, _, _ := strings.Cut(errs, "\n")
		if code != 2 || !strings.Contains(first, tc.want) {
			t.Errorf("sock %v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, errs, tc.want)
		}
	}
}

// TestWSListenKeep: with -k, sock listen --ws serves several clients at
// once: what each sends goes to stdout, and a line of stdin goes to all.
func TestWSListenKeep(t *testing.T) {
	py := debianPython(t)
	port := fmt.Sprint(freePort(t))
	l := start(t, "sock", "listen", "--ws", "-k", "127.0.0.1", port)
	waitListen(t, "tcp", "127.0.0.1:"+port)
	a := start(t, py, "-c", pyWSClient, "ws://127.0.0.1:"+port+"/", "", "from a")
	b := start(t, py, "-c", pyWSClient, "ws://127.0.0.1:"+port+"/", "", "from b")
	for _, want := range []string{"from a\n", "from b\n"} {
		l.expect(want)
	}
	l.send("to all\n")
	for _, c := range []*proc{a, b} {
		c.expect("python got: to all\n")
		if code := c.exits(10 * time.Second); code != 0 {
			t.Errorf("a Python client exited %d: %s", code, c.errb.String())
		}
	}
}

// TestWSConnectEOFKeepsReplies: at the end of stdin, sock connect ws://
// prints every reply the server sends before its close. Through a relay
// (ws-listen to a TCP echo server) the replies come after the last line;
// a close sent at once made the relay drop them (1-7 runs in 20 lost a
// line). 20 runs, each must print both lines' bytes.
func TestWSConnectEOFKeepsReplies(t *testing.T) {
	echoPort, wsPort := fmt.Sprint(freePort(t)), fmt.Sprint(freePort(t))
	start(t, "sock", "serve", "echo", "--addr", "127.0.0.1:"+echoPort)
	waitListen(t, "tcp", "127.0.0.1:"+echoPort)
	relay := start(t, "sock", "relay", "ws-listen:127.0.0.1:"+wsPort+"/echo,fork", "tcp:127.0.0.1:"+echoPort)
	waitListen(t, "tcp", "127.0.0.1:"+wsPort)
	// Each line goes as a text message without its line end, and the
	// relay's TCP side may join or split the echoed bytes into other
	// messages: the bytes, not the line ends, are what must all arrive.
	const in, want = "over ws\nsecond\n", "over wssecond"
	for i := range 20 {
		c := start(t, "sock", "connect", "-v", "ws://127.0.0.1:"+wsPort+"/echo")
		c.send(in)
		c.stdin.Close()
		code := c.exits(20 * time.Second)
		if got := c.out.String(); code != 0 || strings.ReplaceAll(got, "\n", "") != want {
			t.Fatalf("run %d: exit %d, stdout %q; want exit 0 and the bytes %q\nstderr: %s\nrelay: %s", i, code, got, want, c.errb.String(), relay.errb.String())
		}
	}
}

// TestWSListenKeepSlowClient: with -k, a client that never reads is cut
// off once its queue is full and it has taken nothing for a second, and
// the others get every message without a multi-second stall (a reading
// client slower than stdin is waited for, not cut off). Before, the broadcast wrote to one client at a time
// with a 5 s timeout each: a client whose socket buffers were full held
// up every line for every client for 5 s.
func TestWSListenKeepSlowClient(t *testing.T) {
	port := fmt.Sprint(freePort(t))
	l := start(t, "sock", "listen", "-v", "--ws", "-k", "127.0.0.1", port)
	waitListen(t, "tcp", "127.0.0.1:"+port)
	url := "ws://127.0.0.1:" + port + "/"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	slow, _, err := websocket.Dial(ctx, url, nil) // never read
	if err != nil {
		t.Fatal(err)
	}
	defer slow.CloseNow()
	fast, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.CloseNow()
	for i := 0; strings.Count(l.errb.String(), "WebSocket client ") < 2; i++ {
		if i == 1000 {
			t.Fatalf("the clients were not taken: %s", l.errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// 8 MB: more than the slow client's socket buffers (the sender's
	// grows to tcp_wmem's 4 MB) and its 1 MiB queue.
	const lines = 8000
	line := strings.Repeat("x", 1000)
	go func() {
		var b strings.Builder
		for i := range lines {
			fmt.Fprintf(&b, "%05d %s\n", i, line)
		}
		io.WriteString(l.stdin, b.String())
	}()
	var worst time.Duration
	last := time.Now()
	for i := range lines {
		_, msg, err := fast.Read(ctx)
		if err != nil {
			t.Fatalf("message %d: %v\n%s", i, err, l.errb.String())
		}
		if want := fmt.Sprintf("%05d %s", i, line); string(msg) != want {
			t.Fatalf("message %d: %.20q, want %.20q", i, msg, want)
		}
		worst = max(worst, time.Since(last))
		last = time.Now()
	}
	// The stall was 5 s; between two messages even a loaded machine takes
	// far less than 2.5 s.
	if worst > 2500*time.Millisecond {
		t.Errorf("the reading client waited %v between two messages\n%s", worst, l.errb.String())
	}
	l.expectErr("SendQ exceeded")
}
