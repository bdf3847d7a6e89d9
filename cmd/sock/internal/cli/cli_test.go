//go:build linux

package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketkit/socketkit/cmd/sock/internal/cli"
	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

func TestMain(m *testing.M) { sockettest.VerifyTestMain(m) }

func run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cli.Run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// freePort is a port for a sock command to listen on: below the
// ephemeral range, so that no other test's port-0 bind or connection (of
// this package or of another running at the same time) takes it before
// the command binds it (sockettest.FreePort).
func freePort(t *testing.T) int { return sockettest.FreePort(t) }

func TestDemo(t *testing.T) {
	sockettest.LeakCheck(t)
	port := freePort(t)
	code, out, errs := run(t, "", "demo", "--addr", fmt.Sprintf("127.0.0.1:%d", port))
	if code != 0 {
		t.Fatalf("demo exited %d: %s", code, errs)
	}
	t.Log("\n" + out)
	for _, want := range []string{
		"sk.listen(5)",
		"正在等待客户端连接....",
		fmt.Sprintf("laddr=127.0.0.1:%d", port),
		"family=AF_INET, type=SOCK_STREAM",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	// s1.py prints the client's address, then the connection.
	if !regexp.MustCompile(`(?m)^127\.0\.0\.1:\d+ <socket fd=\d+, family=AF_INET, type=SOCK_STREAM, proto=0, laddr=127\.0\.0\.1:\d+, raddr=127\.0\.0\.1:\d+>$`).MatchString(out) {
		t.Error("demo does not print (address, conn) as s1.py does")
	}
	// The tour has a row for each of 3 families x 5 types.
	rows := regexp.MustCompile(`(?m)^AF_(INET6?|UNIX)\s+SOCK_\w+\s+(yes|no)\s+(yes|no)\s+(yes|no)`).FindAllString(out, -1)
	if len(rows) != 15 {
		t.Fatalf("tour has %d rows, want 15", len(rows))
	}
	mustRow := func(family, typ, created, exchanged string) {
		t.Helper()
		re := regexp.MustCompile(`(?m)^` + family + `\s+` + typ + `\s+` + created + `\s+\S+\s+` + exchanged + `\b`)
		if !re.MatchString(out) {
			t.Errorf("tour row %s %s: want created=%s exchanged=%s", family, typ, created, exchanged)
		}
	}
	for _, f := range []string{"AF_INET", "AF_INET6", "AF_UNIX"} {
		mustRow(f, "SOCK_STREAM", "yes", "yes")
		mustRow(f, "SOCK_DGRAM", "yes", "yes")
		mustRow(f, "SOCK_RDM", "no", "no")
	}
	mustRow("AF_UNIX", "SOCK_SEQPACKET", "yes", "yes")
	mustRow("AF_INET", "SOCK_SEQPACKET", "no", "no")
	if sockettest.IsRoot() {
		mustRow("AF_INET", "SOCK_RAW", "yes", "yes")
		mustRow("AF_INET6", "SOCK_RAW", "yes", "yes")
	} else {
		mustRow("AF_INET", "SOCK_RAW", "no", "no")
		if !strings.Contains(out, "CAP_NET_RAW") {
			t.Error("the tour does not say why SOCK_RAW failed")
		}
	}
}

func TestDemoPortTaken(t *testing.T) {
	busy, err := socket.CreateServer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	code, out, errs := run(t, "", "demo", "--addr", busy.LocalAddr().String())
	if code != 0 {
		t.Fatalf("demo exited %d: %s", code, errs)
	}
	if !strings.Contains(out, "is in use") || !strings.Contains(out, "using a free port") {
		t.Fatalf("demo did not say the port was taken:\n%s", out)
	}
}

func TestExitCodes(t *testing.T) {
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"bogus"}, cli.ExitUsage, "unknown command"},
		{[]string{"demo", "--nope"}, cli.ExitUsage, "unknown flag"},
		{[]string{"demo", "extra"}, cli.ExitUsage, "argument"},
		{[]string{"demo", "--addr", "1.2.3"}, cli.ExitUsage, "host:port"},
		{[]string{"connect"}, cli.ExitUsage, "argument"},
		{[]string{"connect", "127.0.0.1", "70000"}, cli.ExitUsage, "out of range"},
		{[]string{"connect", "127.0.0.1", fmt.Sprint(freePort(t))}, cli.ExitError, "connection refused"},
		{[]string{"connect", "no-such-host.invalid", "80"}, cli.ExitError, "no-such-host.invalid"},
		{[]string{"connect", "/" + strings.Repeat("x", 120)}, cli.ExitUsage, "limit is 108"},
		{[]string{"serve", "echo", "--addr", "127.0.0.1:99999"}, cli.ExitUsage, "out of range"},
		// nc's -k without -l would be ignored: it is an error instead.
		{[]string{"-k", "127.0.0.1", "7000"}, cli.ExitUsage, "-k (--keep-open) is for listening"},
		{[]string{"--broker", "127.0.0.1", "7000"}, cli.ExitUsage, "is for listening"},
		// cobra's own errors are usage errors too.
		{[]string{"connect", "-Z"}, cli.ExitUsage, "unknown shorthand flag"},
		{[]string{"connect", "-w"}, cli.ExitUsage, "flag needs an argument"},
		{[]string{"serve", "echo", "--workers", "many"}, cli.ExitUsage, "invalid argument"},
		{[]string{"listen", "---k"}, cli.ExitUsage, "bad flag syntax"},
		{[]string{"relay", "-"}, cli.ExitUsage, "relay takes 2 arguments, got 1"},
		{[]string{"ping"}, cli.ExitUsage, "ping takes 1 argument, got 0"},
	}
	for _, tc := range cases {
		code, _, errs := run(t, "", tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.msg) {
			t.Errorf("sock %v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, errs, tc.code, tc.msg)
		}
		// A usage error points to the help of the command that was used.
		if tc.code == cli.ExitUsage {
			help := "Run 'sock --help'"
			if cmd := tc.args[0]; !strings.HasPrefix(cmd, "-") && cmd != "bogus" {
				help = "Run 'sock " + cmd + " --help'"
			}
			if !strings.Contains(errs, help) {
				t.Errorf("sock %v: stderr %q does not say %q", tc.args, errs, help)
			}
		}
		lines := strings.Split(strings.TrimSpace(errs), "\n")
		if len(lines) > 2 || strings.Contains(errs, "goroutine ") || strings.Contains(errs, "panic") {
			t.Errorf("sock %v: stderr is not one clear line: %q", tc.args, errs)
		}
	}
}

// TestHelpOwnFlags: connect and listen each list only the flags they take.
func TestHelpOwnFlags(t *testing.T) {
	for _, tc := range []struct {
		cmd        string
		has, lacks []string
	}{
		{"connect", []string{"--wait", "--zero", "--tls-fingerprint", "--send-proxy", "--source-port"},
			[]string{"--keep-open", "--max-conns", "--broker", "--chat", "--listen"}},
		{"listen", []string{"--keep-open", "--max-conns", "--broker", "--chat", "--tls-cert"},
			[]string{"--wait", "--zero", "--tls-fingerprint", "--tls-insecure", "--tls-ca", "--tls-sni", "--send-proxy", "--listen"}},
		{"--help", []string{"--listen", "--keep-open", "--wait", "--tls-fingerprint"}, nil}, // bare sock takes both
	} {
		args := []string{tc.cmd, "--help"}
		if tc.cmd == "--help" {
			args = args[:1]
		}
		code, out, _ := run(t, "", args...)
		if code != 0 {
			t.Fatalf("sock %v: exit %d", args, code)
		}
		for _, f := range tc.has {
			if !strings.Contains(out, f) {
				t.Errorf("sock %v does not list %s", args, f)
			}
		}
		for _, f := range tc.lacks {
			if strings.Contains(out, f) {
				t.Errorf("sock %v lists %s, which it does not take", args, f)
			}
		}
	}
}

// startServe runs "sock serve echo" in process until the test ends.
func startServe(t *testing.T, addr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	var errb bytes.Buffer
	go func() {
		defer wg.Done()
		if code := cli.RunContext(ctx, []string{"serve", "echo", "--addr", addr}, strings.NewReader(""), &bytes.Buffer{}, &errb); code != 0 {
			t.Errorf("serve exited %d", code)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	// Wait until it accepts.
	for deadline := time.Now().Add(sockettest.Patience(t)); time.Now().Before(deadline); {
		if c, err := dialAny(addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("serve did not start: %s", errb.String())
}

func dialAny(addr string) (*socket.Socket, error) {
	sa, err := socket.ParseAddr(socket.AF_UNSPEC, addr)
	if err != nil {
		return nil, err
	}
	s, err := socket.New(sa.Family(), socket.SOCK_STREAM, 0)
	if err != nil {
		return nil, err
	}
	if err := s.Connect(sa); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func TestServeEchoAndConnect(t *testing.T) {
	for _, addr := range []string{
		fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		sockettest.UnixPath(t, "echo.sock"),
	} {
		t.Run(addr, func(t *testing.T) {
			startServe(t, addr)
			input := strings.Repeat("hello, echo\n", 1000)
			args := []string{"connect", addr}
			if host, port, ok := strings.Cut(addr, ":"); ok {
				args = []string{"connect", host, port}
			}
			code, out, errs := run(t, input, args...)
			if code != 0 || out != input {
				t.Fatalf("connect: exit %d, %d bytes back of %d, stderr %q", code, len(out), len(input), errs)
			}
		})
	}
}

func python(t *testing.T) string {
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

// TestTutorialC1Py runs the seed tutorial's c1.py, with python3, against
// sock serve echo on the tutorial's address.
func TestTutorialC1Py(t *testing.T) {
	py := python(t)
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	startServe(t, addr)
	c1 := filepath.Join(t.TempDir(), "c1.py")
	// c1.py as the tutorial prints it, with the port made free for the test.
	src := `#!/usr/bin/env python
# _*_ coding:utf-8 _*_

import socket

# 创建一个socket对象
obj = socket.socket()

# 制定服务端的IP地址和端口
obj.connect(('127.0.0.1', PORT, ))

# 连接完成之后关闭链接
obj.close()
print("c1.py done")
`
	os.WriteFile(c1, []byte(strings.Replace(src, "PORT", fmt.Sprint(port), 1)), 0o644)
	out, err := exec.Command(py, c1).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "c1.py done") {
		t.Fatalf("c1.py: %v\n%s", err, out)
	}
}

// TestPythonClientThroughConnect: a python3 server, our client.
func TestPythonServerSockConnect(t *testing.T) {
	py := python(t)
	port := freePort(t)
	script := fmt.Sprintf(`
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', %d)); s.listen(5); print('ready', flush=True)
c, a = s.accept(); data = b''
while True:
    b = c.recv(65536)
    if not b: break
    data += b
c.sendall(data.upper()); c.close()
`, port)
	cmd := exec.Command(py, "-c", script)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	buf := make([]byte, 6)
	if _, err := stdout.Read(buf); err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(t, "from sock to python\n", "connect", "127.0.0.1", fmt.Sprint(port))
	if code != 0 || out != "FROM SOCK TO PYTHON\n" {
		t.Fatalf("exit %d out %q err %q", code, out, errs)
	}
}

// TestHelp: every command has --help with examples.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"demo", "--help"}, {"serve", "--help"}, {"serve", "echo", "--help"}, {"connect", "--help"}} {
		code, out, _ := run(t, "", args...)
		if code != 0 || !strings.Contains(out, "Examples:") {
			t.Errorf("sock %v: exit %d, no examples:\n%s", args, code, out)
		}
	}
}
