//go:build linux

package cli_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketkit/socketkit/cmd/sock/internal/cli"
	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

// startProxyServer runs "sock proxy ARGS..." in process until the test
// ends and returns its address and its stderr (the log).
func startProxyServer(t *testing.T, args ...string) (string, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var errb syncBuffer
	var wg sync.WaitGroup
	wg.Add(1)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	go func() {
		defer wg.Done()
		if code := cli.RunContext(ctx, append([]string{"proxy", "--addr", addr}, args...), strings.NewReader(""), io.Discard, &errb); code != 0 {
			t.Errorf("sock proxy %v exited %d: %s", args, code, errb.String())
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	for deadline := time.Now().Add(sockettest.Patience(t)); !strings.Contains(errb.String(), "Ctrl-C stops") && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(errb.String(), "on "+addr) {
		t.Fatalf("sock proxy did not start: %s", errb.String())
	}
	return addr, &errb
}

// httpServer is a local HTTP server on 127.0.0.1 that answers every
// request with "hello from PATH".
func httpServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// curl runs curl with args, with no proxy setting from the environment,
// and returns its exit code, stdout and stderr.
func curl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("curl is missing; .ci/run installs it")
		}
		t.Skip("curl not installed")
	}
	cmd := exec.Command("curl", append([]string{"-sS", "--max-time", "20"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.Contains(strings.ToLower(strings.SplitN(kv, "=", 2)[0]), "proxy") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// waitLog waits until the proxy's log matches re.
func waitLog(t *testing.T, log *syncBuffer, re string) {
	t.Helper()
	rx := regexp.MustCompile(re)
	for i := 0; i < 1000; i++ {
		if rx.MatchString(log.String()) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("the proxy never logged %q:\n%s", re, log.String())
}

// TestProxyServerWithCurl: curl --socks5-hostname and curl -x http://
// (forwarding, and CONNECT with -p) through sock proxy to a local HTTP
// server, with and without credentials.
func TestProxyServerWithCurl(t *testing.T) {
	web := httpServer(t)
	_, webPort, _ := strings.Cut(web, ":")
	open, _ := startProxyServer(t)
	authed, authLog := startProxyServer(t, "--auth", "bob:s3cret")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"socks5, the name resolved by the proxy", []string{"--socks5-hostname", open, "http://localhost:" + webPort + "/a"}},
		{"socks5 with an address", []string{"--socks5", open, "http://" + web + "/a"}},
		{"http forwarding", []string{"-x", "http://" + open, "http://" + web + "/a"}},
		{"http CONNECT", []string{"-p", "-x", "http://" + open, "http://localhost:" + webPort + "/a"}},
		{"socks5 with user and password", []string{"-x", "socks5h://bob:s3cret@" + authed, "http://localhost:" + webPort + "/a"}},
		{"socks5 with --proxy-user", []string{"--socks5-hostname", authed, "--proxy-user", "bob:s3cret", "http://" + web + "/a"}},
		{"http forwarding with Basic", []string{"-x", "http://bob:s3cret@" + authed, "http://" + web + "/a"}},
		{"http CONNECT with Basic", []string{"-p", "-x", "http://bob:s3cret@" + authed, "http://" + web + "/a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := curl(t, tc.args...)
			if code != 0 || out != "hello from /a" {
				t.Errorf("curl %v: exit %d, %q, %s", tc.args, code, out, errs)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		code, _, errs := curl(t, "-x", "socks5h://bob:wrong@"+authed, "http://"+web+"/")
		if code == 0 {
			t.Errorf("curl through SOCKS5 with a wrong password succeeded: %s", errs)
		}
		code, out, _ := curl(t, "-o", "/dev/null", "-w", "%{http_code}", "-x", "http://bob:wrong@"+authed, "http://"+web+"/")
		if out != "407" {
			t.Errorf("HTTP with a wrong password: exit %d, status %q, want 407", code, out)
		}
		code, out, _ = curl(t, "-o", "/dev/null", "-w", "%{http_code}", "-x", "http://"+authed, "http://"+web+"/")
		if out != "407" {
			t.Errorf("HTTP without credentials: exit %d, status %q, want 407", code, out)
		}
		waitLog(t, authLog, `refused 127\.0\.0\.1:\d+ \(socks5\): wrong user or password \(user "bob"\) \(authentication failed\)`)
		waitLog(t, authLog, `refused 127\.0\.0\.1:\d+ \(http GET \S+\): wrong user or password \(407 Proxy Authentication Required\)`)
		waitLog(t, authLog, `refused 127\.0\.0\.1:\d+ \(http GET \S+\): no credentials \(407 Proxy Authentication Required\)`)
	})
}

// socks5Request sends a SOCKS5 greeting (no authentication) and a request
// for cmd to the IPv4 address dst:port, and returns the reply code.
func socks5Request(t *testing.T, proxy string, cmd byte, dst [4]byte, port int) (byte, *socket.Socket) {
	t.Helper()
	c, err := dialAny(proxy)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetTimeout(10 * time.Second)
	c.Sendall([]byte{5, 1, 0}, 0)
	var sel [2]byte
	if _, err := io.ReadFull(c, sel[:]); err != nil || sel != [2]byte{5, 0} {
		t.Fatalf("method selection %v, %v", sel, err)
	}
	c.Sendall([]byte{5, cmd, 0, 1, dst[0], dst[1], dst[2], dst[3], byte(port >> 8), byte(port)}, 0)
	var rep [10]byte
	if _, err := io.ReadFull(c, rep[:]); err != nil {
		t.Fatalf("no SOCKS5 reply: %v", err)
	}
	return rep[1], c
}

// TestProxyServerRefusals: a destination outside --allow, a command
// other than CONNECT, a client over --max-per-client and a SOCKS4 client
// are answered in their protocol and logged, one line each.
func TestProxyServerRefusals(t *testing.T) {
	web := httpServer(t)
	_, webPort, _ := strings.Cut(web, ":")
	proxy, log := startProxyServer(t, "--max-per-client", "2")

	// 192.0.2.1 (TEST-NET-1) is outside the default --allow: nothing is
	// sent to it.
	if code, _ := socks5Request(t, proxy, 1, [4]byte{192, 0, 2, 1}, 80); code != 2 {
		t.Errorf("SOCKS5 CONNECT outside --allow: reply %d, want 2 (connection not allowed by ruleset)", code)
	}
	waitLog(t, log, `refused 127\.0\.0\.1:\d+ \(socks5 CONNECT 192\.0\.2\.1:80\): 192\.0\.2\.1 is outside --allow \(127\.0\.0\.0/8, ::1/128\) \(reply 2, connection not allowed by ruleset\)`)
	code, _, errs := curl(t, "--socks5-hostname", proxy, "http://192.0.2.1/")
	if code != 97 || !strings.Contains(errs, "(2)") {
		t.Errorf("curl --socks5-hostname to 192.0.2.1: exit %d, %s; want 97, reply 2", code, errs)
	}
	code, _, errs = curl(t, "-p", "-x", "http://"+proxy, "http://192.0.2.1/")
	if code == 0 || !strings.Contains(errs, "403") {
		t.Errorf("curl -p -x to 192.0.2.1: exit %d, %s; want the 403", code, errs)
	}
	_, out, _ := curl(t, "-o", "/dev/null", "-w", "%{http_code}", "-x", "http://"+proxy, "http://192.0.2.1/")
	if out != "403" {
		t.Errorf("curl -x to http://192.0.2.1/: status %q, want 403", out)
	}
	waitLog(t, log, `refused 127\.0\.0\.1:\d+ \(http CONNECT 192\.0\.2\.1:80\): 192\.0\.2\.1 is outside --allow .* \(403 Forbidden\)`)
	waitLog(t, log, `refused 127\.0\.0\.1:\d+ \(http GET http://192\.0\.2\.1/\): 192\.0\.2\.1 is outside --allow .* \(403 Forbidden\)`)

	if code, _ := socks5Request(t, proxy, 2, [4]byte{127, 0, 0, 1}, 80); code != 7 {
		t.Errorf("SOCKS5 BIND: reply %d, want 7 (command not supported)", code)
	}
	waitLog(t, log, `command 2 BIND \(only CONNECT is served\) \(reply 7, command not supported\)`)

	// Two tunnels held open; the third connection is over the limit.
	var port int
	fmt.Sscan(webPort, &port)
	for i := 0; i < 2; i++ {
		if code, _ := socks5Request(t, proxy, 1, [4]byte{127, 0, 0, 1}, port); code != 0 {
			t.Fatalf("tunnel %d: reply %d", i, code)
		}
	}
	if code, _ := socks5Request(t, proxy, 1, [4]byte{127, 0, 0, 1}, port); code != 2 {
		t.Errorf("a third connection with --max-per-client 2: reply %d, want 2", code)
	}
	_, out, _ = curl(t, "-o", "/dev/null", "-w", "%{http_code}", "-x", "http://"+proxy, "http://"+web+"/")
	if out != "429" {
		t.Errorf("an HTTP request over --max-per-client: status %q, want 429", out)
	}
	waitLog(t, log, `over --max-per-client 2 \(reply 2, connection not allowed by ruleset\)`)
	waitLog(t, log, `over --max-per-client 2 \(429 Too Many Requests\)`)

	// A SOCKS4 client is told no in SOCKS4.
	c, err := dialAny(proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetTimeout(10 * time.Second)
	c.Sendall([]byte{4, 1, 0, 80, 127, 0, 0, 1, 0}, 0)
	var rep [8]byte
	if _, err := io.ReadFull(c, rep[:]); err != nil || rep[1] != 91 {
		t.Errorf("SOCKS4: reply %v, %v; want code 91", rep, err)
	}
	waitLog(t, log, `refused 127\.0\.0\.1:\d+ \(socks4\): SOCKS4 is not served here`)
}

// TestConnectThroughSockProxy: sock connect --proxy through sock proxy,
// SOCKS5 and HTTP; with socks5 the name reaches the proxy unresolved.
func TestConnectThroughSockProxy(t *testing.T) {
	port := lineServer(t)
	proxy, log := startProxyServer(t, "-v", "--auth", "bob:s3cret")
	for _, scheme := range []string{"socks5", "http"} {
		code, out, errs := run(t, "sock\n", "connect", "--proxy", scheme+"://bob:s3cret@"+proxy, "localhost", port)
		if code != 0 || out != "hello sock\n" {
			t.Errorf("%s: exit %d, %q, %s", scheme, code, out, errs)
		}
	}
	waitLog(t, log, `socks5 CONNECT localhost:`+port+` -> `)
	waitLog(t, log, `http CONNECT localhost:`+port+` -> `)
}

// TestProxyServerUsage: bad flags are usage errors with one line.
func TestProxyServerUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"proxy", "--allow", "10.0.0.0/33"}, `--allow "10.0.0.0/33"`},
		{[]string{"proxy", "--allow", "example.com"}, "not a prefix"},
		{[]string{"proxy", "--auth", "nopassword"}, "USER:PASSWORD"},
		{[]string{"proxy", "--auth", "env"}, "SOCK_PROXY_AUTH is not set"},
		{[]string{"proxy", "--addr", "1080"}, "want host:port"},
		{[]string{"proxy", "--max-per-client", "-1"}, "must not be negative"},
		{[]string{"proxy", "extra"}, "takes 0 arguments"},
	} {
		t.Setenv("SOCK_PROXY_AUTH", "")
		code, _, errs := run(t, "", tc.args...)
		first, _, _ := strings.Cut(errs, "\n")
		if code != 2 || !strings.Contains(first, tc.want) {
			t.Errorf("sock %v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, errs, tc.want)
		}
	}
}

// TestProxyServerMaxPerClientAtAccept: connections over --max-per-client
// are turned away at once, not when they name a destination, so silent
// connections from one address cannot hold --max-conns slots and lock
// other clients out. 8 silent connections from 127.0.0.1 with
// --max-per-client 2 --max-conns 5: 6 are closed well within the 10 s
// handshake time, and a client from 127.0.0.2 still gets its tunnel.
func TestProxyServerMaxPerClientAtAccept(t *testing.T) {
	web := httpServer(t)
	proxy, log := startProxyServer(t, "--max-per-client", "2", "--max-conns", "5")
	silent := make([]net.Conn, 8)
	for i := range silent {
		c, err := net.Dial("tcp4", proxy)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		silent[i] = c
	}
	var closed atomic.Int32
	var wg sync.WaitGroup
	for _, c := range silent {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			var b [16]byte
			if _, err := c.Read(b[:]); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				closed.Add(1) // EOF (or a reset): turned away
			}
		}()
	}
	wg.Wait()
	if n := closed.Load(); n != 6 {
		t.Fatalf("%d of 8 silent connections from one address closed within 5 s; want 6 (2 allowed)\n%s", n, log.String())
	}
	waitLog(t, log, `refused 127\.0\.0\.1:\d+ .*over --max-per-client 2`)

	// Another address is served: a SOCKS5 tunnel and an HTTP request.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp4", proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	host, port, _ := net.SplitHostPort(web)
	var p int
	fmt.Sscan(port, &p)
	ip := net.ParseIP(host).To4()
	c.Write([]byte{5, 1, 0})
	var sel [2]byte
	if _, err := io.ReadFull(c, sel[:]); err != nil || sel != [2]byte{5, 0} {
		t.Fatalf("127.0.0.2: method selection %v, %v\n%s", sel, err, log.String())
	}
	c.Write([]byte{5, 1, 0, 1, ip[0], ip[1], ip[2], ip[3], byte(p >> 8), byte(p)})
	var rep [10]byte
	if _, err := io.ReadFull(c, rep[:]); err != nil || rep[1] != 0 {
		t.Fatalf("127.0.0.2: SOCKS5 reply %v, %v; want 0\n%s", rep, err, log.String())
	}
	h, err := d.Dial("tcp4", proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	h.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(h, "GET http://%s/two HTTP/1.1\r\nHost: %s\r\n\r\n", web, web)
	resp, err := http.ReadResponse(bufio.NewReader(h), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("127.0.0.2: HTTP GET through the proxy: %v, %v\n%s", resp, err, log.String())
	}
	resp.Body.Close()
}

// TestProxyServerBareLF: requests whose lines end in a bare LF (which
// Go's http.ReadRequest accepts) are served at once, CONNECT and a plain
// GET, and a header that never ends is answered 408 and logged. Before,
// readHTTPHead looked only for CRLF CRLF: no answer, closed after 10 s.
func TestProxyServerBareLF(t *testing.T) {
	web := httpServer(t)
	proxy, log := startProxyServer(t)
	for _, tc := range []struct{ name, req, path string }{
		{"CONNECT", "CONNECT " + web + " HTTP/1.1\nHost: " + web + "\n\n", "/tunneled"},
		{"CONNECT, CRLF and LF mixed", "CONNECT " + web + " HTTP/1.1\r\nHost: " + web + "\n\r\n", "/mixed"},
		{"GET", "GET http://" + web + "/lf HTTP/1.1\nHost: " + web + "\n\n", "/lf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp4", proxy)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second)) // under the 10 s handshake time
			br := bufio.NewReader(c)
			io.WriteString(c, tc.req)
			if strings.HasPrefix(tc.req, "CONNECT") {
				status, err := br.ReadString('\n')
				if err != nil || !strings.HasPrefix(status, "HTTP/1.1 200") {
					t.Fatalf("CONNECT: %q, %v\n%s", status, err, log.String())
				}
				if blank, _ := br.ReadString('\n'); blank != "\r\n" {
					t.Fatalf("CONNECT: %q after the status line, want the blank line", blank)
				}
				fmt.Fprintf(c, "GET %s HTTP/1.1\nHost: %s\nConnection: close\n\n", tc.path, web)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer: %v\n%s", err, log.String())
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "hello from "+tc.path {
				t.Fatalf("%s %q; want 200 and %q", resp.Status, body, "hello from "+tc.path)
			}
		})
	}
}

// TestHeadEnd: where an HTTP header ends, with CRLF, bare LF and mixed
// line ends, and not before its blank line.
func TestHeadEnd(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody", 27},
		{"GET / HTTP/1.1\nHost: a\n\nbody", 24},
		{"GET / HTTP/1.1\r\nHost: a\n\r\nbody", 26},
		{"GET / HTTP/1.1\nHost: a\r\n\nbody", 25},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r", -1},
		{"GET / HTTP/1.1\r\nHost: a\r\n", -1},
		{"GET / HTTP/1.1\r\n", -1},
		{"\n\n", 2},
		{"", -1},
	} {
		if got := cli.HeadEnd([]byte(tc.in)); got != tc.want {
			t.Errorf("HeadEnd(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestProxyServerHeadTimeout: a request header not complete within the
// 10 s handshake time is answered 408 and logged, not closed silently.
func TestProxyServerHeadTimeout(t *testing.T) {
	t.Parallel()
	proxy, log := startProxyServer(t)
	c, err := net.Dial("tcp4", proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(c, "GET http://127.0.0.1/ HTTP/1.1\r\nHost: 127.0.0.1\r\n") // no blank line
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("%v, %v; want 408\n%s", resp, err, log.String())
	}
	resp.Body.Close()
	waitLog(t, log, `refused 127\.0\.0\.1:\d+ \(http\): no complete request header within 10s \(408 Request Timeout\)`)
}
