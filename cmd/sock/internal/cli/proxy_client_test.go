//go:build linux

package cli_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// lineServer answers each connection's first line with "hello LINE" and
// closes it. It listens on one port of both 127.0.0.1 and ::1 (where the
// kernel has IPv6), so that "localhost" reaches it whichever address a
// resolver puts first.
func lineServer(t *testing.T) string {
	t.Helper()
	var lns []net.Listener
	for try := 0; try < 20 && lns == nil; try++ {
		l4, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = []net.Listener{l4}
		port := l4.Addr().(*net.TCPAddr).Port
		if l6, err := net.Listen("tcp6", fmt.Sprintf("[::1]:%d", port)); err == nil {
			lns = append(lns, l6)
		} else if !strings.Contains(err.Error(), "address already in use") {
			break // no IPv6 here: 127.0.0.1 alone
		} else {
			l4.Close()
			lns = nil
		}
	}
	if lns == nil {
		t.Fatal("no port free on both 127.0.0.1 and ::1")
	}
	var wg sync.WaitGroup
	for _, ln := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer c.Close()
					line, err := bufio.NewReader(c).ReadString('\n')
					if err == nil {
						fmt.Fprintf(c, "hello %s", line)
					}
				}()
			}
		}()
	}
	t.Cleanup(func() {
		for _, ln := range lns {
			ln.Close()
		}
		wg.Wait()
	})
	return fmt.Sprint(lns[0].Addr().(*net.TCPAddr).Port)
}

// startMicrosocks runs microsocks (Debian's SOCKS5 server) on loopback,
// with a user and password when user is not empty.
func startMicrosocks(t *testing.T, user, pass string) string {
	t.Helper()
	port := fmt.Sprint(freePort(t))
	args := []string{"-i", "127.0.0.1", "-p", port}
	if user != "" {
		args = append(args, "-u", user, "-P", pass)
	}
	start(t, "microsocks", args...)
	addr := "127.0.0.1:" + port
	waitListen(t, "tcp", addr)
	return addr
}

// startTinyproxy runs tinyproxy (Debian's HTTP proxy) in the foreground on
// loopback with Basic authentication.
func startTinyproxy(t *testing.T, user, pass string) string {
	t.Helper()
	port := fmt.Sprint(freePort(t))
	conf := filepath.Join(t.TempDir(), "tinyproxy.conf")
	// No ConnectPort line: CONNECT to any port (Debian's sample config
	// allows 443 and 563 only).
	text := fmt.Sprintf("Port %s\nListen 127.0.0.1\nTimeout 30\nMaxClients 20\nLogLevel Warning\nBasicAuth %s %s\n", port, user, pass)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, "tinyproxy", "-d", "-c", conf)
	addr := "127.0.0.1:" + port
	waitListen(t, "tcp", addr)
	return addr
}

// oneErrorLine checks that a failed command said one line that holds want.
func oneErrorLine(t *testing.T, code int, stderr, want string) {
	t.Helper()
	if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr %q; want exit 1 and one line with %q", code, stderr, want)
	}
}

// TestConnectThroughSOCKS5: sock connect --proxy through microsocks, with
// and without a user and password, and the failures, each one clear line.
// --no-shutdown: microsocks ends a tunnel when either side shuts down its
// sending side.
func TestConnectThroughSOCKS5(t *testing.T) {
	port := lineServer(t)
	open := startMicrosocks(t, "", "")
	authed := startMicrosocks(t, "bob", "s3cret")
	dead := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	for _, tc := range []struct {
		name, proxy, env, host, wantErr string
	}{
		{name: "no authentication", proxy: "socks5://" + open},
		{name: "name resolved by the proxy", proxy: "socks5h://" + open, host: "localhost"},
		{name: "user and password in the URL", proxy: "socks5://bob:s3cret@" + authed},
		{name: "user and password from the environment", proxy: "socks5://" + authed, env: "bob:s3cret"},
		{name: "wrong password", proxy: "socks5://bob:wrong@" + authed, wantErr: "authentication failed: wrong user or password"},
		{name: "no credentials for a proxy that wants them", proxy: "socks5://" + authed, wantErr: "the proxy wants a user and password"},
		{name: "unreachable proxy", proxy: "socks5://" + dead, wantErr: "cannot connect to the proxy: connection refused"},
		{name: "destination refused by the proxy", proxy: "socks5://" + open, host: "127.0.0.1", wantErr: "the proxy could not connect to 127.0.0.1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SOCK_PROXY_AUTH", tc.env)
			host, p := tc.host, port
			if host == "" {
				host = "127.0.0.1"
			}
			if strings.HasPrefix(tc.name, "destination refused") {
				p = fmt.Sprint(freePort(t))
			}
			code, out, errs := run(t, "proxy\n", "connect", "--no-shutdown", "--proxy", tc.proxy, host, p)
			if tc.wantErr != "" {
				oneErrorLine(t, code, errs, tc.wantErr)
				return
			}
			if code != 0 || out != "hello proxy\n" {
				t.Errorf("exit %d, stdout %q, stderr %q; want hello proxy", code, out, errs)
			}
		})
	}
}

// TestConnectThroughHTTPProxy: sock connect --proxy http:// through
// tinyproxy with Basic authentication.
func TestConnectThroughHTTPProxy(t *testing.T) {
	port := lineServer(t)
	proxy := startTinyproxy(t, "bob", "s3cret")
	dead := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	for _, tc := range []struct {
		name, proxy, env, wantErr string
	}{
		{name: "user and password in the URL", proxy: "http://bob:s3cret@" + proxy},
		{name: "user and password from the environment", proxy: "http://" + proxy, env: "bob:s3cret"},
		{name: "no scheme is http", proxy: "bob:s3cret@" + proxy},
		{name: "wrong password", proxy: "http://bob:wrong@" + proxy, wantErr: "wrong user or password"},
		{name: "no credentials", proxy: "http://" + proxy, wantErr: "407 Proxy Authentication Required: the proxy wants a user and password"},
		{name: "unreachable proxy", proxy: "http://" + dead, wantErr: "cannot connect to the proxy: connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SOCK_PROXY_AUTH", tc.env)
			code, out, errs := run(t, "tunnel\n", "connect", "-v", "--no-shutdown", "--proxy", tc.proxy, "127.0.0.1", port)
			if tc.wantErr != "" {
				oneErrorLine(t, code, errs, tc.wantErr)
				return
			}
			if code != 0 || out != "hello tunnel\n" || !strings.Contains(errs, "through proxy http://bob:***@") {
				t.Errorf("exit %d, stdout %q, stderr %q; want hello tunnel, through the proxy", code, out, errs)
			}
		})
	}
}

// TestRelayThroughProxy: sock relay --proxy takes its tcp: address
// through the proxy, for every client of a forking listener.
func TestRelayThroughProxy(t *testing.T) {
	port := lineServer(t)
	for _, proxy := range []string{
		"socks5://" + startMicrosocks(t, "", ""),
		"http://bob:s3cret@" + startTinyproxy(t, "bob", "s3cret"),
	} {
		t.Run(strings.Split(proxy, ":")[0], func(t *testing.T) {
			relayAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			relay := start(t, "sock", "relay", "--proxy", proxy, "tcp-listen:"+relayAddr+",fork", "tcp:127.0.0.1:"+port)
			waitListen(t, "tcp", relayAddr)
			for i := 0; i < 3; i++ {
				c, err := dialAny(relayAddr)
				if err != nil {
					t.Fatal(err)
				}
				msg := fmt.Sprintf("client %d\n", i)
				c.Sendall([]byte(msg), 0)
				got, err := bufio.NewReader(c).ReadString('\n')
				c.Close()
				if got != "hello "+msg {
					t.Fatalf("got %q, %v; want %q\nrelay: %s", got, err, "hello "+msg, relay.errb.String())
				}
			}
		})
	}
}

// TestProxyFromEnvironment: --proxy env takes ALL_PROXY, then
// HTTPS_PROXY, and connects directly to what NO_PROXY names.
func TestProxyFromEnvironment(t *testing.T) {
	port := lineServer(t)
	socks := startMicrosocks(t, "", "")
	dead := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	for _, tc := range []struct {
		name                   string
		all, https, noProxy    string
		host                   string
		wantRoute, wantFailure string
	}{
		{name: "ALL_PROXY", all: "socks5h://" + socks, wantRoute: "through proxy socks5h://" + socks + " (--proxy env: $ALL_PROXY)"},
		{name: "ALL_PROXY before HTTPS_PROXY", all: "socks5h://" + socks, https: "http://" + dead, wantRoute: "$ALL_PROXY"},
		{name: "HTTPS_PROXY", https: "socks5://" + socks, wantRoute: "through proxy socks5h://" + socks + " (--proxy env: $HTTPS_PROXY)"},
		{name: "neither: direct", wantRoute: "directly (--proxy env: no ALL_PROXY or HTTPS_PROXY is set)"},
		{name: "NO_PROXY address", all: "socks5://" + dead, noProxy: "example.com,127.0.0.1", wantRoute: "directly (--proxy env: NO_PROXY names 127.0.0.1)"},
		{name: "NO_PROXY prefix", all: "socks5://" + dead, noProxy: "10.0.0.0/8, 127.0.0.0/8", wantRoute: "directly"},
		{name: "NO_PROXY star", all: "socks5://" + dead, noProxy: "*", wantRoute: "directly"},
		{name: "NO_PROXY name", all: "socks5://" + dead, noProxy: "localhost", host: "localhost", wantRoute: "directly"},
		{name: "NO_PROXY port", all: "socks5://" + dead, noProxy: "127.0.0.1:" + port, wantRoute: "directly"},
		{name: "NO_PROXY other port", all: "socks5://" + dead, noProxy: "127.0.0.1:1", wantFailure: "cannot connect to the proxy"},
		{name: "NO_PROXY domain does not name loopback", all: "socks5://" + dead, noProxy: ".example.com", wantFailure: "cannot connect to the proxy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range []string{"all_proxy", "https_proxy", "no_proxy"} {
				t.Setenv(v, "")
			}
			t.Setenv("ALL_PROXY", tc.all)
			t.Setenv("HTTPS_PROXY", tc.https)
			t.Setenv("NO_PROXY", tc.noProxy)
			host := tc.host
			if host == "" {
				host = "127.0.0.1"
			}
			code, out, errs := run(t, "env\n", "connect", "-v", "--no-shutdown", "--proxy", "env", host, port)
			if tc.wantFailure != "" {
				oneErrorLine(t, code, errs, tc.wantFailure)
				return
			}
			if code != 0 || out != "hello env\n" || !strings.Contains(errs, tc.wantRoute) {
				t.Errorf("exit %d, stdout %q, stderr %q; want hello env, %q", code, out, errs, tc.wantRoute)
			}
		})
	}
}

// TestProxyUsage: bad proxy URLs and flags are usage errors (exit 2) with
// one clear line.
func TestProxyUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"connect", "--proxy", "ftp://127.0.0.1:21", "127.0.0.1", "80"}, `unknown scheme "ftp"`},
		{[]string{"connect", "--proxy", "socks5://", "127.0.0.1", "80"}, "has no host"},
		{[]string{"connect", "--proxy", "socks5://127.0.0.1:99999", "127.0.0.1", "80"}, "not a number from 1 to 65535"},
		{[]string{"connect", "--proxy", "socks5://127.0.0.1:", "127.0.0.1", "80"}, "empty port"},
		{[]string{"connect", "--proxy", "https://127.0.0.1:3128", "127.0.0.1", "80"}, "https://"},
		{[]string{"connect", "--proxy", "socks5://127.0.0.1/path", "127.0.0.1", "80"}, "nothing after"},
		{[]string{"connect", "--proxy", "socks4://u:p@127.0.0.1", "127.0.0.1", "80"}, "no password"},
		{[]string{"connect", "--proxy", "http://a%zz@127.0.0.1", "127.0.0.1", "80"}, "bad proxy URL"},
		{[]string{"connect", "-u", "--proxy", "socks5://127.0.0.1", "127.0.0.1", "80"}, "TCP connections only"},
		{[]string{"-l", "--proxy", "socks5://127.0.0.1", "4444"}, "for connecting"},
		{[]string{"relay", "--proxy", "socks5://127.0.0.1", "tcp-listen:1", "-"}, "neither address is one"},
		{[]string{"relay", "--proxy", "gopher://127.0.0.1", "tcp-listen:1", "tcp:127.0.0.1:2"}, `unknown scheme "gopher"`},
		{[]string{"relay", "-w", "0", "tcp-listen:1", "tcp:127.0.0.1:2"}, "-w must be more than 0"},
	} {
		code, _, errs := run(t, "", tc.args...)
		first, _, _ := strings.Cut(errs, "\n")
		if code != 2 || !strings.Contains(first, tc.want) || strings.Count(errs, "\n") != 2 {
			t.Errorf("sock %v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, errs, tc.want)
		}
	}
}
