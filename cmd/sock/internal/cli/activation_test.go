//go:build linux

package cli_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// systemdSocketActivate finds systemd-socket-activate (Debian's systemd
// package, which .ci/run installs).
func systemdSocketActivate(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-socket-activate is missing; .ci/run installs systemd")
		}
		t.Skip("systemd-socket-activate not installed (Debian package systemd)")
	}
	return p
}

// activate runs the sock binary under systemd-socket-activate with its
// options (-l ADDR, -d, -a, --fdname...) and returns the running
// command; the sock it starts inherits the sockets as systemd passes them
// (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES, descriptors from 3 on).
func activate(t *testing.T, saArgs []string, sockArgs ...string) (*exec.Cmd, *syncBuffer, *syncBuffer) {
	t.Helper()
	sa := systemdSocketActivate(t)
	bin, err := sockBinary()
	if err != nil {
		t.Fatal(err)
	}
	args := append(append(saArgs, "--", bin), sockArgs...)
	cmd := exec.Command(sa, args...)
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	// systemd-socket-activate says so once it listens, before the first
	// client makes it start sock.
	waitFor(t, &errb, "Listening on", 10*time.Second)
	return cmd, &out, &errb
}

// waitFor waits until buf holds want.
func waitFor(t *testing.T, buf *syncBuffer, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(buf.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q within %v in:\n%s", want, within, buf.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// echoStream sends msg on a new stream connection and returns the answer
// up to the server's end of stream.
func echoStream(t *testing.T, network, addr, msg string) string {
	t.Helper()
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("%s %s: %v (got %q)", network, addr, err, got)
	}
	return string(got)
}

// echoDatagram sends msg as a datagram and returns the reply.
func echoDatagram(t *testing.T, addr, msg string) string {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1500)
	// The first datagram wakes systemd-socket-activate and waits in the
	// socket for sock; send again if the reply is slow, as a UDP client
	// does.
	for i := 0; i < 20; i++ {
		c.Write([]byte(msg))
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := c.Read(buf)
		if err == nil {
			return string(buf[:n])
		}
	}
	t.Fatalf("no reply from %s", addr)
	return ""
}

// TestSocketActivation: sock serve under the real systemd-socket-activate
// serves the sockets it is given, on each serving model, for TCP, UDP, a
// Unix socket and two named sockets, and says where they came from.
func TestSocketActivation(t *testing.T) {
	for _, model := range [][]string{nil, {"--dispatcher", "prefork", "--workers", "2"}, {"--engine", "loop", "--loops", "1"}} {
		name := "goroutines"
		if model != nil {
			name = model[1]
		}
		t.Run(name+"/tcp", func(t *testing.T) {
			addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			_, _, errb := activate(t, []string{"-l", addr}, append([]string{"serve", "echo"}, model...)...)
			if got := echoStream(t, "tcp", addr, "over tcp\n"); got != "over tcp\n" {
				t.Fatalf("echo %q", got)
			}
			waitFor(t, errb, "serving echo on "+addr+" (tcp, ", 5*time.Second)
			if !strings.Contains(errb.String(), "from systemd fd 3") {
				t.Errorf("no 'from systemd fd 3' in:\n%s", errb.String())
			}
		})
		t.Run(name+"/unix", func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "echo.sock")
			_, _, errb := activate(t, []string{"-l", path}, append([]string{"serve", "echo"}, model...)...)
			if got := echoStream(t, "unix", path, "over unix\n"); got != "over unix\n" {
				t.Fatalf("echo %q", got)
			}
			waitFor(t, errb, "serving echo on "+path+" (unix, ", 5*time.Second)
		})
		if name != "prefork" {
			t.Run(name+"/two named", func(t *testing.T) {
				a := fmt.Sprintf("127.0.0.1:%d", freePort(t))
				b := fmt.Sprintf("127.0.0.1:%d", freePort(t))
				_, _, errb := activate(t, []string{"-l", a, "-l", b, "--fdname=public:admin"}, append([]string{"serve", "echo"}, model...)...)
				if got := echoStream(t, "tcp", a, "to public\n"); got != "to public\n" {
					t.Fatalf("echo on %s: %q", a, got)
				}
				if got := echoStream(t, "tcp", b, "to admin\n"); got != "to admin\n" {
					t.Fatalf("echo on %s: %q", b, got)
				}
				waitFor(t, errb, "from systemd fd 3 (public)", 5*time.Second)
				waitFor(t, errb, "from systemd fd 4 (admin)", 5*time.Second)
			})
		}
	}
	for _, model := range [][]string{nil, {"--engine", "loop", "--loops", "1"}} {
		name := "goroutines"
		if model != nil {
			name = model[1]
		}
		t.Run(name+"/udp", func(t *testing.T) {
			addr := fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t))
			_, _, errb := activate(t, []string{"-d", "-l", addr}, append([]string{"serve", "echo"}, model...)...)
			if got := echoDatagram(t, addr, "a datagram"); got != "a datagram" {
				t.Fatalf("echo %q", got)
			}
			waitFor(t, errb, "serving echo on "+addr+" (udp, ", 5*time.Second)
		})
	}
}

// TestSocketActivationSelect: with several sockets, --addr NAME serves the
// one of that name only; an --addr that names none is not bound, and a
// note says so.
func TestSocketActivationSelect(t *testing.T) {
	a := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	b := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	_, _, errb := activate(t, []string{"-l", a, "-l", b, "--fdname=public:admin"}, "serve", "echo", "--addr", "admin")
	if got := echoStream(t, "tcp", b, "admin only\n"); got != "admin only\n" {
		t.Fatalf("echo %q", got)
	}
	waitFor(t, errb, "serving echo on "+b, 5*time.Second)
	if strings.Contains(errb.String(), "serving echo on "+a) {
		t.Errorf("serves the socket not selected:\n%s", errb.String())
	}
	// The other socket is closed: its clients are refused, not left to hang.
	if c, err := net.DialTimeout("tcp", a, 2*time.Second); err == nil {
		c.Close()
		t.Errorf("%s (not selected) still accepts", a)
	}

	c := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	_, _, errb = activate(t, []string{"-l", c}, "serve", "echo", "--addr", "127.0.0.1:1")
	if got := echoStream(t, "tcp", c, "note\n"); got != "note\n" {
		t.Fatalf("echo %q", got)
	}
	waitFor(t, errb, "--addr 127.0.0.1:1 is not bound", 5*time.Second)
}

// TestSocketActivationInetd: Accept=yes passes each connection to a sock
// of its own, on descriptor 3 (systemd-socket-activate -a) or on standard
// input (--inetd); sock serve --inetd serves it and exits.
func TestSocketActivationInetd(t *testing.T) {
	for _, tc := range []struct {
		name string
		sa   []string
	}{
		{"fd 3", []string{"-a"}},
		{"stdin", []string{"-a", "--inetd"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			activate(t, append(tc.sa, "-l", addr), "serve", "echo", "--inetd")
			for i := 0; i < 3; i++ {
				msg := fmt.Sprintf("connection %d\n", i)
				if got := echoStream(t, "tcp", addr, msg); got != msg {
					t.Fatalf("echo %q, want %q", got, msg)
				}
			}
		})
	}
	t.Run("daytime", func(t *testing.T) {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		activate(t, []string{"-a", "-l", addr}, "serve", "daytime", "--inetd")
		got := echoStream(t, "tcp", addr, "")
		if !strings.Contains(got, fmt.Sprint(time.Now().UTC().Year())) && !strings.Contains(got, fmt.Sprint(time.Now().Year())) {
			t.Fatalf("daytime %q", got)
		}
	})
}

// TestSocketActivationMismatch: sockets meant for another process, of the
// wrong type for what was asked, or a connection where a listener is
// expected, each give one clear error and exit 1.
func TestSocketActivationMismatch(t *testing.T) {
	bin, err := sockBinary()
	if err != nil {
		t.Fatal(err)
	}
	// LISTEN_PID of another process: sock refuses to take descriptor 3.
	f, err := os.CreateTemp(t.TempDir(), "fd3")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(bin, "serve", "echo", "--addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "LISTEN_PID=1", "LISTEN_FDS=1")
	cmd.ExtraFiles = []*os.File{f}
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), "LISTEN_PID=1 names another process") {
		t.Errorf("LISTEN_PID=1: exit %d (%v), output %q", code, err, out)
	}
	// A descriptor that is not a socket.
	script := `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" serve echo 3<"$1"`
	cmd = exec.Command("/bin/sh", "-c", script, bin, f.Name())
	out, _ = cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), "not a socket") {
		t.Errorf("a file at fd 3: exit %d, output %q", code, out)
	}

	sa := systemdSocketActivate(t)
	for _, tc := range []struct {
		name     string
		sa       []string
		sock     []string
		datagram bool
		want     string
	}{
		{"udp for --proto tcp", []string{"-d"}, []string{"serve", "echo", "--proto", "tcp"}, true, "is a udp socket"},
		{"tcp for --proto udp", nil, []string{"serve", "echo", "--proto", "udp"}, false, "is a tcp socket"},
		{"a connection without --inetd", []string{"-a"}, []string{"serve", "echo"}, false, "run sock serve --inetd"},
		{"a listener with --inetd", nil, []string{"serve", "echo", "--inetd"}, false, "drop --inetd"},
		{"udp for chat on the engine", []string{"-d"}, []string{"serve", "chat", "--engine", "loop"}, true, "--engine goroutines"},
		{"udp for sock listen", []string{"-d"}, []string{"listen"}, true, "no stream socket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var addr string
			if tc.datagram {
				addr = fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t))
			} else {
				addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
			}
			bin, _ := sockBinary()
			cmd := exec.Command(sa, append(append(append([]string{}, tc.sa...), "-l", addr, "--", bin), tc.sock...)...)
			var errb syncBuffer
			cmd.Stderr = &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			waitFor(t, &errb, "Listening on", 10*time.Second)
			network := "tcp"
			if tc.datagram {
				network = "udp"
			}
			c, err := net.Dial(network, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write([]byte("x"))
			if len(tc.sa) > 0 && tc.sa[0] == "-a" {
				// systemd-socket-activate -a outlives the sock it started
				// for the connection.
				waitFor(t, &errb, tc.want, 10*time.Second)
				return
			}
			if err := waitExit(t, cmd, 10*time.Second); err == nil {
				t.Fatalf("sock exited 0: %s", errb.String())
			}
			if !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("stderr %q; want %q", errb.String(), tc.want)
			}
		})
	}
}

// TestSocketActivationListenRelay: sock listen and sock relay listen on
// the socket systemd passes instead of binding theirs.
func TestSocketActivationListenRelay(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	_, out, _ := activate(t, []string{"-l", addr}, "listen")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "to sock listen\n")
	c.Close()
	waitFor(t, out, "to sock listen\n", 10*time.Second)

	// sock relay: the activated socket forwards to an echo server.
	echoAddr := serveInProcess(t, "echo", "--addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	relayAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	_, _, errb := activate(t, []string{"-l", relayAddr}, "relay", "-v", "tcp-listen:9,fork", "tcp:"+echoAddr)
	for i := 0; i < 2; i++ {
		msg := fmt.Sprintf("relayed %d\n", i)
		if got := echoStream(t, "tcp", relayAddr, msg); got != msg {
			t.Fatalf("through the relay: %q, want %q\n%s", got, msg, errb.String())
		}
	}
	waitFor(t, errb, "9 is not bound", 5*time.Second)
	sc := bufio.NewScanner(strings.NewReader(errb.String()))
	for sc.Scan() {
		t.Log(sc.Text())
	}
}

// freeUDPPort returns a UDP port nothing is bound to now.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
