//go:build linux

package cli_test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
)

// proc is a running program with its stdin open and its output captured.
type proc struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *syncBuffer
	errb  *syncBuffer
	done  chan error
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	if name == "sock" {
		bin, err := sockBinary()
		if err != nil {
			t.Fatal(err)
		}
		name = bin
	} else if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing; .ci/run installs it", name)
		}
		t.Skipf("%s not installed", name)
	}
	p := &proc{t: t, name: name, cmd: exec.Command(name, args...), out: &syncBuffer{}, errb: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.errb
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *proc) send(s string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, s); err != nil {
		p.t.Fatalf("%s: writing stdin: %v (stderr: %s)", p.name, err, p.errb.String())
	}
}

// expect waits until the program's stdout holds want.
func (p *proc) expect(want string) {
	p.t.Helper()
	for i := 0; i < 1000; i++ {
		if strings.Contains(p.out.String(), want) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.t.Fatalf("%s never printed %q; stdout %q, stderr %q", p.name, want, p.out.String(), p.errb.String())
}

// exits waits for the program to end and returns its exit code.
func (p *proc) exits(within time.Duration) int {
	p.t.Helper()
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			p.t.Fatal(err)
		}
		return 0
	case <-time.After(within):
		p.t.Fatalf("%s did not exit within %v; stderr %q", p.name, within, p.errb.String())
		return -1
	}
}

// waitListen waits until something listens on a TCP/UDP port or a path.
func waitListen(t *testing.T, proto, addr string) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if listening(proto, addr) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s %s", proto, addr)
}

// listening checks /proc/net for a TCP listener or a bound UDP port, or
// the socket file for Unix.
func listening(proto, addr string) bool {
	if strings.HasPrefix(addr, "/") {
		_, err := os.Stat(addr)
		return err == nil
	}
	_, port, _ := strings.Cut(addr, ":")
	var p int
	fmt.Sscan(port, &p)
	hexPort := fmt.Sprintf(":%04X ", p)
	files := []string{"/proc/net/tcp", "/proc/net/tcp6"}
	state := " 0A "
	if proto == "udp" {
		files, state = []string{"/proc/net/udp", "/proc/net/udp6"}, " 07 "
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(b), "\n") {
			fields := strings.Fields(line)
			if len(fields) > 3 && strings.HasSuffix(fields[1], hexPort[:len(hexPort)-1]) && strings.Contains(" "+fields[3]+" ", state) {
				return true
			}
		}
	}
	return false
}

type peerTransport struct {
	name      string
	proto     string // tcp, udp, unix
	sockFlags []string
	peerFlags []string
}

func peerTransports(t *testing.T) []peerTransport {
	return []peerTransport{
		{"tcp", "tcp", nil, nil},
		{"udp", "udp", []string{"-u"}, []string{"-u"}},
		{"unix", "unix", []string{"-U"}, []string{"-U"}},
	}
}

// endpointArgs gives the address arguments for a transport.
func endpointArgs(t *testing.T, tr peerTransport) (args []string, addr string) {
	if tr.proto == "unix" {
		p := sockettest.UnixPath(t, "peer.sock")
		return []string{p}, p
	}
	port := fmt.Sprint(freePort(t))
	return []string{"127.0.0.1", port}, "127.0.0.1:" + port
}

// TestSockListenNcat: ncat connects to sock listen; both send.
func TestSockListenNcat(t *testing.T) {
	for _, tr := range peerTransports(t) {
		t.Run(tr.name, func(t *testing.T) {
			args, addr := endpointArgs(t, tr)
			l := start(t, "sock", append(append([]string{"listen"}, tr.sockFlags...), args...)...)
			waitListen(t, tr.proto, addr)
			c := start(t, "ncat", append(append([]string{}, tr.peerFlags...), args...)...)
			c.send("from ncat\n")
			l.expect("from ncat\n")
			l.send("from sock\n")
			c.expect("from sock\n")
			if tr.proto != "udp" {
				c.stdin.Close() // ncat shuts down its side; sock sees EOF and exits
				if code := l.exits(10 * time.Second); code != 0 {
					t.Fatalf("sock listen exited %d: %s", code, l.errb.String())
				}
			}
		})
	}
}

// TestNcatListenSockConnect: sock connect to ncat -l; both send.
func TestNcatListenSockConnect(t *testing.T) {
	for _, tr := range peerTransports(t) {
		t.Run(tr.name, func(t *testing.T) {
			args, addr := endpointArgs(t, tr)
			l := start(t, "ncat", append(append([]string{"-l"}, tr.peerFlags...), args...)...)
			waitListen(t, tr.proto, addr)
			c := start(t, "sock", append(append([]string{"connect"}, tr.sockFlags...), args...)...)
			c.send("from sock\n")
			l.expect("from sock\n")
			l.send("from ncat\n")
			c.expect("from ncat\n")
			if tr.proto != "udp" {
				l.stdin.Close()
				if code := c.exits(10 * time.Second); code != 0 {
					t.Fatalf("sock connect exited %d: %s", code, c.errb.String())
				}
			}
		})
	}
}

// TestSocatSockRelay: socat client -> sock relay -> socat server (which
// upper-cases), over tcp, udp and unix.
func TestSocatSockRelay(t *testing.T) {
	cases := []struct {
		name                      string
		server, relayIn, relayOut string
		client                    string
		waitProto, waitAddr       string
	}{}
	{
		p1, p2 := freePort(t), freePort(t)
		cases = append(cases, struct {
			name                      string
			server, relayIn, relayOut string
			client                    string
			waitProto, waitAddr       string
		}{"tcp", fmt.Sprintf("TCP-LISTEN:%d,reuseaddr,bind=127.0.0.1", p1), fmt.Sprintf("tcp-listen:127.0.0.1:%d", p2),
			fmt.Sprintf("tcp:127.0.0.1:%d", p1), fmt.Sprintf("TCP:127.0.0.1:%d", p2), "tcp", fmt.Sprintf("127.0.0.1:%d", p2)})
		u1, u2 := freePort(t), freePort(t)
		cases = append(cases, struct {
			name                      string
			server, relayIn, relayOut string
			client                    string
			waitProto, waitAddr       string
		}{"udp", fmt.Sprintf("UDP-LISTEN:%d,bind=127.0.0.1", u1), fmt.Sprintf("udp-listen:127.0.0.1:%d", u2),
			fmt.Sprintf("udp:127.0.0.1:%d", u1), fmt.Sprintf("UDP:127.0.0.1:%d", u2), "udp", fmt.Sprintf("127.0.0.1:%d", u2)})
		x1, x2 := sockettest.UnixPath(t, "socat.sock"), sockettest.UnixPath(t, "relay.sock")
		cases = append(cases, struct {
			name                      string
			server, relayIn, relayOut string
			client                    string
			waitProto, waitAddr       string
		}{"unix", "UNIX-LISTEN:" + x1, "unix-listen:" + x2, "unix:" + x1, "UNIX-CONNECT:" + x2, "unix", x2})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := start(t, "socat", tc.server, "SYSTEM:'exec stdbuf -o0 tr a-z A-Z'") // unbuffered, so each line comes back at once
			if tc.name == "unix" {
				waitListen(t, "unix", strings.TrimPrefix(tc.server, "UNIX-LISTEN:"))
			} else {
				waitListen(t, tc.name, "127.0.0.1:"+strings.Split(strings.Split(tc.server, ":")[1], ",")[0])
			}
			relay := start(t, "sock", "relay", tc.relayIn, tc.relayOut)
			waitListen(t, tc.waitProto, tc.waitAddr)
			cl := start(t, "socat", "-", tc.client)
			cl.send("through the relay\n")
			cl.expect("THROUGH THE RELAY\n")
			cl.send("and back again\n")
			cl.expect("AND BACK AGAIN\n")
			if tc.name != "udp" {
				cl.stdin.Close()
				if code := relay.exits(10 * time.Second); code != 0 {
					t.Fatalf("sock relay exited %d: %s", code, relay.errb.String())
				}
			}
			_ = srv
		})
	}
}

// TestOpenBSDNcUnix: OpenBSD nc -U talks to sock listen -U, stream and
// datagram.
func TestOpenBSDNcUnix(t *testing.T) {
	nc := "nc.openbsd"
	if _, err := exec.LookPath(nc); err != nil {
		nc = "nc"
	}
	t.Run("stream", func(t *testing.T) {
		path := sockettest.UnixPath(t, "nc.sock")
		l := start(t, "sock", "listen", "-U", path)
		waitListen(t, "unix", path)
		c := start(t, nc, "-U", path)
		c.send("from openbsd nc\n")
		l.expect("from openbsd nc\n")
		l.send("from sock\n")
		c.expect("from sock\n")
		l.stdin.Close() // sock shuts down its side; nc (-N not needed) sees EOF
		c.stdin.Close()
		if code := l.exits(10 * time.Second); code != 0 {
			t.Fatalf("sock listen -U exited %d: %s", code, l.errb.String())
		}
	})
	t.Run("dgram", func(t *testing.T) {
		path := sockettest.UnixPath(t, "ncd.sock")
		l := start(t, "sock", "listen", "-uU", path)
		waitListen(t, "unix", path)
		c := start(t, nc, "-uU", path)
		c.send("datagram from nc\n")
		l.expect("datagram from nc\n")
		l.send("datagram from sock\n")
		c.expect("datagram from sock\n")
	})
}

// TestPythonAndSock: python3 sockets on the other side of sock listen and
// sock connect, tcp, udp and unix.
func TestPythonAndSock(t *testing.T) {
	py := python(t)
	for _, tr := range peerTransports(t) {
		t.Run(tr.name+"/python-client", func(t *testing.T) {
			args, addr := endpointArgs(t, tr)
			l := start(t, "sock", append(append([]string{"listen"}, tr.sockFlags...), args...)...)
			waitListen(t, tr.proto, addr)
			fam, typ, target, bind := "AF_INET", "SOCK_STREAM", fmt.Sprintf("(%q, %s)", args[0], args[len(args)-1]), ""
			if tr.proto == "unix" {
				fam, target = "AF_UNIX", fmt.Sprintf("%q", args[0])
			}
			if tr.proto == "udp" {
				typ = "SOCK_DGRAM"
			}
			script := fmt.Sprintf(`
import socket, sys
s = socket.socket(socket.%s, socket.%s); s.settimeout(10)
%s
s.connect(%s)
s.send(b"from python\n")
print(s.recv(100).decode(), end="", flush=True)
`, fam, typ, bind, target)
			c := start(t, py, "-c", script)
			l.expect("from python\n")
			l.send("to python\n")
			c.expect("to python\n")
		})
		t.Run(tr.name+"/python-server", func(t *testing.T) {
			args, addr := endpointArgs(t, tr)
			fam, typ := "AF_INET", "SOCK_STREAM"
			bindTo := fmt.Sprintf("(%q, %s)", args[0], args[len(args)-1])
			if tr.proto == "unix" {
				fam, bindTo = "AF_UNIX", fmt.Sprintf("%q", args[0])
			}
			serve := `s.listen(1); c, a = s.accept(); data = c.recv(100); print(data.decode(), end="", flush=True); c.sendall(b"to sock\n"); c.recv(100)`
			if tr.proto == "udp" {
				typ = "SOCK_DGRAM"
				serve = `data, a = s.recvfrom(100); print(data.decode(), end="", flush=True); s.sendto(b"to sock\n", a)`
			}
			script := fmt.Sprintf("import socket\ns = socket.socket(socket.%s, socket.%s)\ns.bind(%s)\n%s\n", fam, typ, bindTo, serve)
			srv := start(t, py, "-c", script)
			waitListen(t, tr.proto, addr)
			c := start(t, "sock", append(append([]string{"connect"}, tr.sockFlags...), args...)...)
			c.send("from sock\n")
			srv.expect("from sock\n")
			c.expect("to sock\n")
		})
	}
}
