//go:build linux

package socketserver_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
	ss "github.com/socketkit/socketkit/socketserver"
)

// TestPreforkHelper is the server process of TestPrefork; its children
// are re-runs of the same test that adopt the listening socket.
func TestPreforkHelper(t *testing.T) {
	if os.Getenv(helperEnv) != "TestPreforkHelper" {
		t.Skip("helper process for TestPrefork")
	}
	pidEcho := ss.HandlerFunc(func(ctx context.Context, r *ss.Request) error {
		buf := make([]byte, 256)
		n, err := r.Conn.Read(buf)
		if err != nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond) // a child is busy: others must take new connections
		fmt.Fprintf(r.Conn, "pid=%d %s", os.Getpid(), buf[:n])
		return nil
	})
	pf := &ss.Prefork{Children: 3, RestartDelay: 10 * time.Millisecond}
	srv, err := ss.NewTCPServer("127.0.0.1:0", pidEcho, ss.WithDispatcher(pf))
	if err != nil {
		t.Fatal(err)
	}
	if ss.IsPreforkChild() {
		srv.ServeForever() // serves until the parent's SIGTERM, then exits
		t.Fatal("unreachable: a prefork child exits in Serve")
	}
	fmt.Printf("ADDR %v\n", srv.Address())
	go func() {
		// Commands from the test on stdin: "pids", "shutdown".
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			switch in.Text() {
			case "pids":
				fmt.Printf("PIDS %v restarts=%d\n", pf.PIDs(), pf.Restarts())
			case "shutdown":
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := srv.Shutdown(ctx)
				cancel()
				fmt.Printf("SHUTDOWN err=%v children=%d\n", err, pf.ActiveChildren())
			}
		}
	}()
	served := make(chan error, 1)
	go func() { served <- srv.ServeForever() }()
	for pf.ActiveChildren() < 3 {
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Println("READY")
	fmt.Printf("SERVE %v\n", <-served)
}

func TestPrefork(t *testing.T) {
	if ss.IsPreforkChild() || os.Getenv(helperEnv) != "" {
		t.Skip("in a helper")
	}
	cmd, out, in := helper(t, "TestPreforkHelper")
	addr := readLine(t, out, "ADDR ")
	readLine(t, out, "READY")
	sa, err := socket.ParseAddr(socket.AF_INET, addr)
	if err != nil {
		t.Fatal(err)
	}
	// Hold several connections open at once: each child serves one at a
	// time, so they spread over the children.
	pidsServing := func() map[int]bool {
		seen := map[int]bool{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := 0; i < 12; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
				if err != nil {
					return
				}
				defer c.Close()
				c.SetTimeout(10 * time.Second)
				if c.Connect(sa) != nil {
					return
				}
				c.Sendall([]byte(fmt.Sprint("hello ", i)), 0)
				c.CloseWrite()
				resp, _ := io.ReadAll(c)
				var pid int
				if _, err := fmt.Sscanf(string(resp), "pid=%d", &pid); err == nil {
					mu.Lock()
					seen[pid] = true
					mu.Unlock()
				} else {
					t.Errorf("bad response %q", resp)
				}
			}()
		}
		wg.Wait()
		return seen
	}
	seen := pidsServing()
	t.Logf("served by pids %v (server pid %d)", keys(seen), cmd.Process.Pid)
	if len(seen) < 2 || seen[cmd.Process.Pid] {
		t.Fatalf("served by %v: want several child processes, not the parent %d", keys(seen), cmd.Process.Pid)
	}
	fmt.Fprintln(in, "pids")
	pids := parsePids(readLine(t, out, "PIDS "))
	if len(pids) != 3 {
		t.Fatalf("children %v", pids)
	}
	// kill -9 one child: it is reaped and replaced, and serving goes on.
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var now []int
	var line string
	for time.Now().Before(deadline) {
		fmt.Fprintln(in, "pids")
		line = readLine(t, out, "PIDS ")
		now = parsePids(line)
		if len(now) == 3 && !contains(now, pids[0]) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(now) != 3 || contains(now, pids[0]) || !strings.Contains(line, "restarts=1") {
		t.Fatalf("after kill -9 of %d: children %s", pids[0], line)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pids[0])); err == nil {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pids[0])); strings.Contains(string(b), ") Z ") {
			t.Fatalf("child %d was not reaped (zombie)", pids[0])
		}
	}
	if seen := pidsServing(); len(seen) == 0 {
		t.Fatal("nothing served after the crash")
	}
	// Shutdown reaches every child.
	fmt.Fprintln(in, "shutdown")
	// Serve and Shutdown return together: their lines come in either order.
	got := map[string]string{}
	for len(got) < 2 {
		line, err := out.ReadString('\n')
		if err != nil {
			t.Fatalf("helper output ended: %v (got %v)", err, got)
		}
		if k, v, ok := strings.Cut(strings.TrimSpace(line), " "); ok && (k == "SHUTDOWN" || k == "SERVE") {
			got[k] = v
		}
	}
	if got["SHUTDOWN"] != "err=<nil> children=0" || got["SERVE"] != ss.ErrServerClosed.Error() {
		t.Fatalf("shutdown: %v", got)
	}
	for _, pid := range now {
		if syscall.Kill(pid, 0) == nil {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); !strings.Contains(string(b), ") Z ") {
				t.Fatalf("child %d still running after Shutdown", pid)
			}
		}
	}
	in.Close()
}

func parsePids(s string) []int {
	s = strings.TrimPrefix(s, "[")
	s, _, _ = strings.Cut(s, "]")
	var out []int
	for _, f := range strings.Fields(s) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func keys(m map[int]bool) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestPreforkEchoHelper serves echo with Prefork on the network and
// address given in the environment; TestEchoMatrixPrefork drives it.
func TestPreforkEchoHelper(t *testing.T) {
	if os.Getenv(helperEnv) != "TestPreforkEchoHelper" {
		t.Skip("helper process for TestEchoMatrixPrefork")
	}
	pf := &ss.Prefork{Children: 2}
	srv, err := ss.New(os.Getenv("PREFORK_NETWORK"), os.Getenv("PREFORK_ADDR"), echoHandler, ss.WithDispatcher(pf))
	if err != nil {
		t.Fatal(err)
	}
	if ss.IsPreforkChild() {
		srv.ServeForever()
		t.Fatal("unreachable: a prefork child exits in Serve")
	}
	served := make(chan error, 1)
	go func() { served <- srv.ServeForever() }()
	for pf.ActiveChildren() < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Printf("ADDR %v\n", srv.Address())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "shutdown" {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := srv.Shutdown(ctx)
			cancel()
			fmt.Printf("SHUTDOWN %v %d\n", err, pf.ActiveChildren())
			<-served
			return
		}
	}
}

// TestEchoMatrixPrefork is the Prefork column of the echo matrix: every
// transport, served from child processes.
func TestEchoMatrixPrefork(t *testing.T) {
	if os.Getenv(helperEnv) != "" || ss.IsPreforkChild() {
		t.Skip("in a helper")
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			_, out, in := helper(t, "TestPreforkEchoHelper", "PREFORK_NETWORK="+tr.network, "PREFORK_ADDR="+tr.addr(t))
			addr := readLine(t, out, "ADDR ")
			fam := socket.AF_INET
			switch {
			case strings.HasPrefix(addr, "["):
				fam = socket.AF_INET6
			case strings.HasPrefix(addr, "/"):
				fam = socket.AF_UNIX
			}
			sa, err := socket.ParseAddr(fam, addr)
			if err != nil {
				t.Fatal(err)
			}
			typ := socket.SOCK_STREAM
			switch tr.network {
			case "udp", "unixgram":
				typ = socket.SOCK_DGRAM
			case "unixpacket":
				typ = socket.SOCK_SEQPACKET
			}
			for i := 0; i < 4; i++ {
				c, err := socket.New(fam, typ, 0)
				if err != nil {
					t.Fatal(err)
				}
				if typ == socket.SOCK_DGRAM {
					switch fam {
					case socket.AF_UNIX:
						c.Bind(&socket.UnixAddr{Path: sockettest.UnixPath(t, "c.sock")})
					case socket.AF_INET:
						c.Bind(&socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}})
					default:
						c.Bind(&socket.Inet6Addr{Addr: [16]byte{15: 1}})
					}
				}
				c.SetTimeout(10 * time.Second)
				if err := c.Connect(sa); err != nil {
					t.Fatal(err)
				}
				if err := exchange(c, []byte(fmt.Sprintf("prefork %s %d", tr.name, i))); err != nil {
					t.Fatal(err)
				}
				c.Close()
			}
			fmt.Fprintln(in, "shutdown")
			if got := readLine(t, out, "SHUTDOWN "); got != "<nil> 0" {
				t.Fatalf("shutdown: %s", got)
			}
		})
	}
}
