//go:build linux

package cli_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

// ssRows parses rows of ss -H (or of sock ss, header dropped): the fields
// from State on, keyed by local address (an AF_UNIX row's key is "path
// inode").
func ssRows(out string, withNetid, unixRows bool) map[string][]string {
	rows := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] == "Netid" || f[0] == "State" {
			continue
		}
		if withNetid {
			f = f[1:]
		}
		// State Recv-Q Send-Q Local [inode] Peer [inode] [Process]
		var key string
		var rest []string
		if unixRows {
			if len(f) < 7 {
				continue
			}
			key = f[3] + " " + f[4]
			rest = append([]string{f[0], f[1], f[2], key, f[5] + " " + f[6]}, f[7:]...)
		} else {
			if len(f) < 5 {
				continue
			}
			key = f[3] + " " + f[4] // local and peer: a listener's children share its local address
			rest = f
		}
		rows[key] = rest
	}
	return rows
}

func runSS(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ss", args...).Output()
	if err != nil {
		t.Fatalf("ss %v: %v", args, err)
	}
	return string(out)
}

// TestSSAgreesWithIproute2: for sockets this test opens in known states and
// with known queues, sock ss prints the rows iproute2's ss prints.
func TestSSAgreesWithIproute2(t *testing.T) {
	sockettest.LeakCheck(t)
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("iproute2's ss is not installed (Debian package iproute2)")
	}
	// TCP: a listener (backlog 3) with two connections it has not accepted,
	// one accepted connection with 5 unread bytes, and one TIME_WAIT.
	l, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Bind(&socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}})
	if err := l.Listen(3); err != nil {
		t.Fatal(err)
	}
	laddr, _ := l.Getsockname()
	port := laddr.(*socket.Inet4Addr).Port
	dial := func() *socket.Socket {
		c, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		c.SetTimeout(5 * time.Second)
		if err := c.Connect(laddr); err != nil {
			t.Fatal(err)
		}
		return c
	}
	c1 := dial()
	defer c1.Close()
	l.SetTimeout(5 * time.Second)
	s1, _, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	c1.Sendall([]byte("hello"), 0)
	// TIME_WAIT: the server side closes first.
	c2 := dial()
	s2, _, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	c2.Recv(make([]byte, 1), 0)
	c2.Close()
	c3, c4 := dial(), dial() // queued, never accepted
	defer c3.Close()
	defer c4.Close()

	// UDP: a bound socket with one unread datagram.
	u, err := socket.New(socket.AF_INET, socket.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.Bind(&socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}})
	uaddr, _ := u.Getsockname()
	uport := uaddr.(*socket.Inet4Addr).Port
	u2, _ := socket.New(socket.AF_INET, socket.SOCK_DGRAM, 0)
	defer u2.Close()
	u2.Sendto(make([]byte, 100), 0, uaddr)

	// Unix: a listener with one accepted connection holding 3 unread bytes.
	dir := t.TempDir()
	path := filepath.Join(dir, "ss.sock")
	ul, err := socket.New(socket.AF_UNIX, socket.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	if err := ul.Bind(&socket.UnixAddr{Path: path}); err != nil {
		t.Fatal(err)
	}
	ul.Listen(4)
	uc, _ := socket.New(socket.AF_UNIX, socket.SOCK_STREAM, 0)
	defer uc.Close()
	if err := uc.Connect(&socket.UnixAddr{Path: path}); err != nil {
		t.Fatal(err)
	}
	us, _, err := ul.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer us.Close()
	uc.Sendall([]byte("abc"), 0)

	// Wait until the kernel has settled: 5 bytes queued at s1 and the
	// TIME_WAIT in place, as ss sees it.
	tw := fmt.Sprintf("sport = :%d or dport = :%d", port, port)
	deadline := time.Now().Add(5 * time.Second)
	settled := regexp.MustCompile(`(?m)^ESTAB\s+5\s`)
	for !strings.Contains(runSS(t, "-Htan", tw), "TIME-WAIT") || !settled.MatchString(runSS(t, "-Htan", tw)) {
		if time.Now().After(deadline) {
			t.Fatalf("the sockets did not settle:\n%s", runSS(t, "-tan", tw))
		}
		time.Sleep(10 * time.Millisecond)
	}

	compare := func(what string, sockArgs, ssArgs []string, unixRows bool, keep func(key string) bool, wantRows int) {
		t.Helper()
		code, out, errs := run(t, "", append([]string{"ss"}, sockArgs...)...)
		if code != 0 {
			t.Fatalf("sock ss %v: %d %s", sockArgs, code, errs)
		}
		ours := ssRows(out, true, unixRows)
		theirs := ssRows(runSS(t, ssArgs...), unixRows, unixRows)
		n := 0
		for key, want := range theirs {
			if !keep(key) {
				continue
			}
			n++
			got, ok := ours[key]
			if !ok {
				t.Errorf("%s: ss has %q, sock ss does not:\n%s", what, strings.Join(want, " "), out)
				continue
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("%s: row %s\n sock ss: %s\n      ss: %s", what, key, strings.Join(got, " "), strings.Join(want, " "))
			}
		}
		if n != wantRows {
			t.Errorf("%s: ss shows %d of the test's sockets, want %d", what, n, wantRows)
		}
	}
	portStr := fmt.Sprintf(":%d ", port)
	// 1 LISTEN, 3 client ESTABs, 1 accepted ESTAB, 2 unaccepted children, 1 TIME-WAIT.
	// With iproute2's own flags: -a, -n and -p are what sock ss always does.
	compare("TCP", []string{"-tanp", "--port", fmt.Sprint(port)}, []string{"-Htanp"}, false,
		func(k string) bool { return strings.Contains(k+" ", portStr) }, 8)
	compare("TCP listening", []string{"-tlnp", "--port", fmt.Sprint(port)}, []string{"-Htlnp"}, false,
		func(k string) bool { return strings.Contains(k+" ", portStr) }, 1)
	compare("UDP", []string{"-uanp", "--port", fmt.Sprint(uport)}, []string{"-Huanp"}, false,
		func(k string) bool { return strings.Contains(k+" ", fmt.Sprintf(":%d ", uport)) }, 1)
	// The Unix listener and the accepted socket carry the path; the client
	// is unnamed: compare it by its inode, which ss prints after "*".
	ucIno := inodeOfSocket(t, uc)
	compare("Unix", []string{"-x"}, []string{"-Hxap"}, true,
		func(k string) bool { return strings.HasPrefix(k, path+" ") || k == fmt.Sprintf("* %d", ucIno) }, 3)

	// The filters.
	code, out, _ := run(t, "", "ss", "-t", "--port", fmt.Sprint(port), "--state", "time-wait")
	if code != 0 || strings.Count(out, "TIME-WAIT") != 1 || strings.Contains(out, "ESTAB") {
		t.Errorf("--state time-wait:\n%s", out)
	}
	code, out, _ = run(t, "", "ss", "-t", "--port", fmt.Sprint(port), "--pid", fmt.Sprint(os.Getpid()))
	if code != 0 || strings.Count(out, fmt.Sprintf("pid=%d,", os.Getpid())) != 5 {
		t.Errorf("--pid: want the listener, 3 clients and 1 accepted socket of this process:\n%s", out)
	}
	code, out, _ = run(t, "", "ss", "-t", "-l", "--port", fmt.Sprint(port), "--json")
	if code != 0 || !strings.Contains(out, `"state": "LISTEN"`) || !strings.Contains(out, `"recv_q": 2`) || !strings.Contains(out, `"send_q": 3`) {
		t.Errorf("--json of the listener (2 waiting of 3):\n%s", out)
	}
	for _, bad := range [][]string{{"ss", "--state", "sleepy"}, {"ss", "--port", "70000"}, {"ss", "-4", "-6"}, {"ss", "extra"}} {
		if code, _, errs := run(t, "", bad...); code != 2 || strings.Count(strings.TrimSpace(errs), "\n") > 1 {
			t.Errorf("sock %v: exit %d %q", bad, code, errs)
		}
	}
}

func inodeOfSocket(t *testing.T, s *socket.Socket) uint64 {
	t.Helper()
	link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", s.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	var ino uint64
	if _, err := fmt.Sscanf(link, "socket:[%d]", &ino); err != nil {
		t.Fatalf("%s: %v", link, err)
	}
	return ino
}
