//go:build linux

package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/socketkit/socketkit/cmd/sock/internal/cli"
	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/proxyproto"
	"github.com/socketkit/socketkit/socket"
)

// serveInProcess runs "sock serve ARGS..." until the test ends and
// returns the address it serves on.
func serveInProcess(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var errb syncBuffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if code := cli.RunContext(ctx, append([]string{"serve"}, args...), strings.NewReader(""), io.Discard, &errb); code != 0 {
			t.Errorf("sock serve %v exited %d: %s", args, code, errb.String())
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	re := regexp.MustCompile(`serving \S+ on (\S+) `)
	for deadline := time.Now().Add(sockettest.Patience(t)); time.Now().Before(deadline); {
		if m := re.FindStringSubmatch(errb.String()); m != nil {
			return m[1]
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("sock serve %v did not start: %s", args, errb.String())
	return ""
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// pyPrelude opens a socket to the server under test from Python. FAM, TYPE,
// ADDR and BIND are filled in per transport.
const pyPrelude = `
import socket, struct, time, sys
def conn(bind=True):
    s = socket.socket(socket.FAM, socket.TYPE)
    s.settimeout(5)
    if BIND and bind:
        s.bind(BIND.pop(0))
    s.connect(ADDR)
    return s
def recvall(s):
    out = b""
    while True:
        b = s.recv(65536)
        if not b: return out
        out += b
`

// pyChecks are per-service client checks; each prints "OK ..." or fails.
var pyChecks = map[string]string{
	"echo": `
s = conn(); s.sendall(b"hello, echo"); got = s.recv(100)
assert got == b"hello, echo", got
print("OK", got.decode())`,
	"discard": `
s = conn(); s.sendall(b"into the void" * 100)
if DGRAM:
    try:
        s.recv(100); print("FAIL reply to discard")
    except socket.timeout:
        print("OK silent")
else:
    s.shutdown(socket.SHUT_WR); s.settimeout(5)
    assert recvall(s) == b""
    print("OK silent")`,
	"chargen": `
s = conn()
if DGRAM:
    s.send(b"x"); got = s.recv(1024)
    assert len(got) <= 512, len(got)
    assert all(32 <= c <= 126 or c in (13, 10) for c in got)
else:
    got = b""
    while len(got) < 148: got += s.recv(4096)
    line0 = bytes(range(32, 32+72)) + b"\r\n"
    assert got.startswith(line0), got[:80]
    assert got[74:74+72] == bytes(range(33, 33+72)), got[74:150]
print("OK", len(got))`,
	"daytime": `
s = conn()
if DGRAM: s.send(b"x"); got = s.recv(1024)
else: got = recvall(s)
assert got.endswith(b"\r\n") and str(time.gmtime().tm_year).encode() in got, got
print("OK", got.decode().strip())`,
	"time": `
s = conn()
if DGRAM: s.send(b"x"); got = s.recv(1024)
else: got = recvall(s)
assert len(got) == 4, got
t = struct.unpack("!I", got)[0] - 2208988800
assert abs(t - time.time()) < 10, (t, time.time())
print("OK", t)`,
	"chat": `
if DGRAM:
    a = conn(); b = conn()
    a.send(b"a here"); a.settimeout(0.2)
    for i in range(50):   # b joins until a hears it: the two may race
        b.send(b"b here")
        try:
            a.recv(1024); break
        except socket.timeout:
            pass
    a.settimeout(5)
    a.send(b"hi from a"); got = b.recv(1024)
    while b"hi from a" not in got: got = b.recv(1024)
else:
    a = conn(); fa = a.makefile("rb"); fa.readline()   # a is in the room
    b = conn(); fb = b.makefile("rb"); fb.readline()   # then b
    while b"joined" not in fa.readline(): pass
    a.sendall(b"hi from a\n")
    got = fb.readline()
    while b"hi from a" not in got: got = fb.readline()
print("OK", got.decode().strip())`,
}

func pythonClient(t *testing.T, service, proto, addr string) string {
	t.Helper()
	py := python(t)
	fam, typ, target, dgram := "AF_INET", "SOCK_STREAM", "", "False"
	var binds []string
	switch proto {
	case "tcp", "udp":
		host, port, _ := strings.Cut(addr, ":")
		target = fmt.Sprintf("(%q, %s)", host, port)
	default:
		fam = "AF_UNIX"
		target = fmt.Sprintf("%q", addr)
	}
	switch proto {
	case "udp":
		typ, dgram = "SOCK_DGRAM", "True"
	case "unixgram":
		typ, dgram = "SOCK_DGRAM", "True"
		for i := 0; i < 2; i++ {
			binds = append(binds, fmt.Sprintf("%q", sockettest.UnixPath(t, fmt.Sprintf("py%d.sock", i))))
		}
	case "seqpacket":
		typ = "SOCK_SEQPACKET"
	}
	script := strings.NewReplacer("FAM", fam, "TYPE", typ, "ADDR", target).Replace(pyPrelude) +
		fmt.Sprintf("BIND = [%s]\nDGRAM = %s\n", strings.Join(binds, ", "), dgram) + pyChecks[service]
	out, err := exec.Command(py, "-c", script).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "OK") {
		t.Fatalf("python client of %s over %s: %v\n%s", service, proto, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestServicesWithPython: python3 clients exchange data with every service
// over tcp, udp and unix (and echo over unixgram and seqpacket too).
func TestServicesWithPython(t *testing.T) {
	for _, svc := range []string{"echo", "discard", "chargen", "daytime", "time", "chat"} {
		protos := []string{"tcp", "udp", "unix"}
		if svc == "echo" {
			protos = append(protos, "unixgram", "seqpacket")
		}
		for _, proto := range protos {
			t.Run(svc+"/"+proto, func(t *testing.T) {
				addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
				if proto != "tcp" && proto != "udp" {
					addr = sockettest.UnixPath(t, "svc.sock")
				}
				got := serveInProcess(t, svc, "--proto", proto, "--addr", addr)
				t.Log(pythonClient(t, svc, proto, got))
			})
		}
	}
}

// sockBinary builds the sock command once per test run.
var sockBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "sockbin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "sock")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/socketkit/socketkit/cmd/sock").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// startSock runs the built binary and waits for its "serving" line.
func startSock(t *testing.T, args ...string) (*exec.Cmd, string, *syncBuffer) {
	t.Helper()
	bin, err := sockBinary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	var errb syncBuffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	re := regexp.MustCompile(`serving \S+ on (\S+) `)
	for i := 0; i < 1000; i++ {
		if m := re.FindStringSubmatch(errb.String()); m != nil {
			return cmd, m[1], &errb
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("sock %v did not start: %s", args, errb.String())
	return nil, "", nil
}

func waitExit(t *testing.T, cmd *exec.Cmd, within time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(within):
		t.Fatalf("sock did not exit within %v", within)
		return nil
	}
}

// TestServeSignals: SIGINT shuts down gracefully; a second signal forces.
func TestServeSignals(t *testing.T) {
	cmd, addr, errb := startSock(t, "serve", "chat", "--addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	sa, _ := socket.ParseAddr(socket.AF_INET, addr)
	c, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Connect(sa); err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(5 * time.Second)
	c.Recv(make([]byte, 100), 0) // the welcome line: the request is in flight
	cmd.Process.Signal(syscall.SIGINT)
	for deadline := time.Now().Add(sockettest.Patience(t)); !strings.Contains(errb.String(), "shutting down") && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(errb.String(), "signal again to force") {
		t.Fatalf("no graceful shutdown message: %s", errb.String())
	}
	// The chat client stays connected, so the server waits...
	time.Sleep(100 * time.Millisecond)
	if cmd.ProcessState != nil {
		t.Fatal("sock exited while a request was in flight")
	}
	// ...until a second signal forces it.
	cmd.Process.Signal(syscall.SIGINT)
	if err := waitExit(t, cmd, 5*time.Second); err != nil {
		t.Fatalf("sock exited with %v: %s", err, errb.String())
	}
	if !strings.Contains(errb.String(), "forced") {
		t.Fatalf("no forced-shutdown message: %s", errb.String())
	}
}

// TestServePrefork: the prefork dispatcher through the CLI serves from
// child processes, and SIGTERM stops them all.
func TestServePrefork(t *testing.T) {
	cmd, addr, errb := startSock(t, "serve", "echo", "--dispatcher", "prefork", "--workers", "2",
		"--addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	sa, _ := socket.ParseAddr(socket.AF_INET, addr)
	for i := 0; i < 5; i++ {
		c, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		c.SetTimeout(5 * time.Second)
		if err := c.Connect(sa); err != nil {
			t.Fatal(err)
		}
		c.Sendall([]byte("prefork"), 0)
		c.CloseWrite()
		got, err := io.ReadAll(c)
		c.Close()
		if string(got) != "prefork" {
			t.Fatalf("echo %q, %v; %s", got, err, errb.String())
		}
	}
	children := childPids(cmd.Process.Pid)
	if len(children) != 2 {
		t.Fatalf("sock has children %v, want 2 workers", children)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := waitExit(t, cmd, 10*time.Second); err != nil {
		t.Fatalf("sock exited with %v: %s", err, errb.String())
	}
	// The summary reports what the workers served.
	if out := errb.String(); !strings.Contains(out, "served 5 requests (0 rejected, 0 errors), 35 bytes in, 35 out") {
		t.Errorf("the summary does not report the workers' 5 requests:\n%s", out)
	}
	if out := errb.String(); strings.Contains(out, "replacing") || strings.Contains(out, "exited") {
		t.Errorf("stopping the workers was reported as a crash:\n%s", out)
	}
	for _, pid := range children {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("worker %d still running", pid)
		}
	}
}

// childPids lists the children of pid from /proc, across all its threads
// (a child belongs to the thread that started it).
func childPids(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, task := range tasks {
		b, _ := os.ReadFile(task)
		for _, f := range strings.Fields(string(b)) {
			var n int
			fmt.Sscan(f, &n)
			out = append(out, n)
		}
	}
	return out
}

// TestServeTLSWithOpenSSL: openssl s_client completes a handshake with
// sock serve --tls, on goroutines and on the engine's own TLS (epoll, and
// io_uring where it runs), and gets its data echoed.
func TestServeTLSWithOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is missing; .ci/run installs it")
		}
		t.Skip("openssl not installed")
	}
	for _, engine := range []string{"goroutines", "loop", "auto"} {
		t.Run(engine, func(t *testing.T) {
			addr := serveInProcess(t, "echo", "--tls", "--engine", engine, "--addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
			cmd := exec.Command(openssl, "s_client", "-connect", addr, "-servername", "localhost", "-quiet")
			stdin, _ := cmd.StdinPipe()
			var out syncBuffer
			cmd.Stdout = &out
			cmd.Stderr = &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { cmd.Process.Kill(); cmd.Wait() }()
			fmt.Fprintln(stdin, "hello over tls")
			for i := 0; i < 1000 && !strings.Contains(out.String(), "hello over tls"); i++ {
				time.Sleep(10 * time.Millisecond)
			}
			if !strings.Contains(out.String(), "hello over tls") || !strings.Contains(out.String(), "CN = sock self-signed") {
				t.Fatalf("openssl s_client did not complete the handshake and get the echo:\n%s", out.String())
			}
		})
	}
}

// TestServeEngineRefusals: what the engine cannot do yet is refused with a
// message that says what works instead.
func TestServeEngineRefusals(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "echo", "--engine", "loop", "--graceful-restart", "--reuseport"}, "drop --reuseport"},
		{[]string{"serve", "chat", "--engine", "loop", "--proto", "udp"}, "--engine goroutines"},
	} {
		code, _, errs := run(t, "", tc.args...)
		if code != cli.ExitUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("sock %v: exit %d, stderr %q; want a usage error saying %q", tc.args, code, errs, tc.want)
		}
	}
}

// TestServeUsage: bad service, protocol and dispatcher names are usage
// errors with one line.
func TestServeUsage(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "gopher"},
		{"serve", "echo", "--proto", "sctp"},
		{"serve", "echo", "--dispatcher", "fork-bomb"},
		{"serve", "echo", "--proto", "udp", "--tls"},
		{"serve", "echo", "--idle-timeout", "soon"},
		{"serve", "echo", "--workers", "-1"},
		{"serve", "echo", "--pid-file", "x.pid"},
		{"serve", "echo", "--graceful-restart", "--proto", "udp"},
		{"serve", "echo", "--graceful-restart", "--engine", "loop", "--proto", "udp"},
		{"serve", "echo", "--proxy-protocol", "10.0.0.0/33"},
		{"serve", "echo", "--proxy-protocol", "lb.example"},
		{"serve", "echo", "--proxy-protocol", "any", "--proto", "udp"},
		{"serve", "echo", "--proxy-protocol", "any", "--engine", "loop"},
		{"connect", "--send-proxy", "-l", "7000"},
		{"connect", "--send-proxy", "--send-proxy-v2", "127.0.0.1", "7000"},
		{"connect", "--send-proxy", "-u", "127.0.0.1", "7000"},
		{"-lp", "7000", "--send-proxy-v2"},
		{"serve"},
	} {
		code, _, errs := run(t, "", args...)
		if code != cli.ExitUsage || strings.Count(strings.TrimSpace(errs), "\n") > 1 {
			t.Errorf("sock %v: exit %d, stderr %q", args, code, errs)
		}
	}
	// A busy port is an error, not a usage error.
	busy, _ := socket.CreateServer("127.0.0.1:0", nil)
	defer busy.Close()
	code, _, errs := run(t, "", "serve", "echo", "--addr", busy.LocalAddr().String())
	if code != cli.ExitError || !strings.Contains(errs, "address already in use") {
		t.Errorf("busy port: exit %d, %q", code, errs)
	}
}

// TestServeProxyProtocol: behind a proxy that sends PROXY headers, the chat
// room names clients by the addresses in the headers; a peer outside the
// trusted prefixes is refused, and one that sends no header is closed.
func TestServeProxyProtocol(t *testing.T) {
	addr := serveInProcess(t, "chat", "--addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--proxy-protocol", "127.0.0.0/8,::1")
	join := func(header string) (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, header)
		return c, bufio.NewReader(c)
	}
	_, ra := join("PROXY TCP4 203.0.113.7 192.0.2.1 51000 6254\r\n")
	if line, _ := ra.ReadString('\n'); line != "* you are 203.0.113.7:51000; 1 in the room\n" {
		t.Fatalf("first client: %q", line)
	}
	h := proxyproto.Header{Version: 2, Command: proxyproto.Proxy, Transport: proxyproto.TCP6,
		Source: &net.TCPAddr{IP: net.ParseIP("2001:db8::9"), Port: 4242}, Destination: &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 6254}}
	b, _ := h.Format()
	cb, rb := join(string(b))
	if line, _ := rb.ReadString('\n'); line != "* you are [2001:db8::9]:4242; 2 in the room\n" {
		t.Fatalf("second client: %q", line)
	}
	io.WriteString(cb, "hello\n")
	for _, want := range []string{"* [2001:db8::9]:4242 joined\n", "[2001:db8::9]:4242: hello\n"} {
		if line, _ := ra.ReadString('\n'); line != want {
			t.Fatalf("the room said %q, want %q", line, want)
		}
	}
	// No header: closed without a word.
	_, rc := join("hello without a header\n")
	if rest, _ := io.ReadAll(rc); len(rest) != 0 {
		t.Errorf("a client without a header got %q", rest)
	}
}

// TestConnectSendProxy: sock connect --send-proxy(-v2) begins with the
// header a proxy would send for its connection: source the client's
// address, destination the server's; a PROXY-protocol server then serves
// it, and one without the flag is turned away.
func TestConnectSendProxy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	for _, tc := range []struct {
		flag    string
		version int
	}{{"--send-proxy", 1}, {"--send-proxy-v2", 2}} {
		t.Run(tc.flag, func(t *testing.T) {
			got := make(chan string, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					got <- err.Error()
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				h, err := proxyproto.ReadHeader(c)
				if err != nil {
					got <- err.Error()
					return
				}
				rest, _ := io.ReadAll(c)
				got <- fmt.Sprintf("v%d %s %v %v %q", h.Version, h.Transport, h.Source.String() == c.RemoteAddr().String(), h.Destination.String() == c.LocalAddr().String(), rest)
			}()
			code, _, errs := run(t, "after the header\n", "connect", "-v", tc.flag, "127.0.0.1", port)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			want := fmt.Sprintf("v%d TCP4 true true %q", tc.version, "after the header\n")
			if g := <-got; g != want {
				t.Errorf("the server read %s, want %s", g, want)
			}
			if !strings.Contains(errs, "sent a PROXY header: v") {
				t.Errorf("-v did not report the header: %q", errs)
			}
		})
	}
	// Against sock serve --proxy-protocol over a Unix socket: with the
	// header the echo comes back; without it the server closes at once.
	addr := serveInProcess(t, "echo", "--proto", "unix", "--addr", "@sock-test-proxy-"+port, "--proxy-protocol", "any")
	for _, flags := range [][]string{{"--send-proxy"}, {"--send-proxy-v2"}, nil} {
		args := append(append([]string{"connect", "-U"}, flags...), addr)
		code, out, errs := run(t, "echo me\n", args...)
		want := "echo me\n"
		if flags == nil {
			want = ""
		}
		if code != 0 || out != want {
			t.Errorf("sock %v: exit %d, out %q (want %q), err %q", args, code, out, want, errs)
		}
	}
}
