//go:build linux

package cli_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketkit/socketkit/cmd/sock/internal/cli"
	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/internal/sockettest"
)

// serveVerbose runs "sock serve ARGS..." until the test ends and returns
// the address it serves on and its stderr so far.
func serveVerbose(t *testing.T, args ...string) (addr string, stderr func() string) {
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
	for i := 0; i < 1000; i++ {
		if m := re.FindStringSubmatch(errb.String()); m != nil {
			return m[1], errb.String
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("sock serve %v did not start: %s", args, errb.String())
	return "", nil
}

func echoThrough(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("hello, backend"))
	got := make([]byte, 14)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "hello, backend" {
		t.Fatalf("echo: %q, %v", got, err)
	}
}

// TestServeEngineBackends: sock serve --engine loop, uring and auto serve
// echo, and -v says which backend the loops run on. Where io_uring cannot
// run, uring is skipped with the probe's sentence (REQUIRE_URING=1 makes
// that a failure) and auto must name epoll and the sentence.
func TestServeEngineBackends(t *testing.T) {
	probe := eventloop.ProbeIOUring()
	if probe != nil && os.Getenv("REQUIRE_URING") == "1" {
		t.Fatalf("REQUIRE_URING=1 and io_uring cannot run: %v", probe)
	}
	for _, tc := range []struct{ engine, want string }{
		{"loop", "the loops run on epoll: as --engine loop asks"},
		{"uring", "the loops run on io_uring: as --engine uring asks"},
		{"auto", "the loops run on io_uring: io_uring works here"},
	} {
		t.Run(tc.engine, func(t *testing.T) {
			want := tc.want
			if probe != nil {
				switch tc.engine {
				case "uring":
					t.Skipf("io_uring cannot run here: %v", probe)
				case "auto":
					want = "the loops run on epoll: epoll, because " + probe.Error()
				}
			}
			addr, stderr := serveVerbose(t, "echo", "--engine", tc.engine, "-v", "--loops", "1", "--addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
			echoThrough(t, addr)
			if !strings.Contains(stderr(), want) {
				t.Errorf("stderr %q does not say %q", stderr(), want)
			}
		})
	}
}

// TestEngineFallbackUnderSeccomp: where a seccomp filter refuses io_uring
// (as Docker's default profile does), sock info says io_uring is unusable
// and why, sock serve --engine auto -v serves on epoll and says why in
// the same sentence, and --engine uring fails saying it. The filter
// cannot be undone: the test runs itself again in a child that installs
// it.
func TestEngineFallbackUnderSeccomp(t *testing.T) {
	if os.Getenv("SOCKETKIT_DENY_IOURING") == "1" {
		if err := sockettest.DenyIOUring(); err != nil {
			t.Fatal(err)
		}
		why := "io_uring_setup(2) is refused with EPERM, as a seccomp filter refuses it (Docker's default profile blocks io_uring)"
		code, out, errs := run(t, "", "info")
		if code != 0 || !strings.Contains(out, "unusable, so --engine auto runs on epoll: "+why) {
			t.Errorf("sock info under seccomp: exit %d\n%s%s", code, out, errs)
		}
		addr, stderr := serveVerbose(t, "echo", "--engine", "auto", "-v", "--addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
		echoThrough(t, addr)
		if !strings.Contains(stderr(), "the loops run on epoll: epoll, because "+why) {
			t.Errorf("sock serve --engine auto -v under seccomp: %q", stderr())
		}
		code, _, errs = run(t, "", "serve", "echo", "--engine", "uring", "--addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
		if code != cli.ExitError || !strings.Contains(errs, why) {
			t.Errorf("sock serve --engine uring under seccomp: exit %d, %q", code, errs)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestEngineFallbackUnderSeccomp$", "-test.v")
	cmd.Env = append(os.Environ(), "SOCKETKIT_DENY_IOURING=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestEngineFallbackUnderSeccomp") {
		t.Fatalf("the child under seccomp: %v\n%s", err, out)
	}
}

// TestServeSpareP: sock serve on the engine with as many loops as
// GOMAXPROCS raises GOMAXPROCS by one for the Go runtime (-v says so),
// serves, and puts it back when it returns; with a loop fewer it leaves
// it alone.
func TestServeSpareP(t *testing.T) {
	if os.Getenv("GOMAXPROCS") != "" {
		t.Skip("GOMAXPROCS is set in the environment, which sock serve leaves alone")
	}
	n := runtime.GOMAXPROCS(0)
	t.Run("as many loops as Ps", func(t *testing.T) {
		addr, stderr := serveVerbose(t, "echo", "--engine", "loop", "-v", "--loops", strconv.Itoa(n), "--addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
		echoThrough(t, addr)
		want := fmt.Sprintf("sock: GOMAXPROCS %d -> %d: one P more than the %d loop", n, n+1, n)
		if !strings.Contains(stderr(), want) {
			t.Errorf("stderr %q does not say %q", stderr(), want)
		}
		if got := runtime.GOMAXPROCS(0); got != n+1 {
			t.Errorf("GOMAXPROCS while serving: %d, want %d", got, n+1)
		}
	})
	if got := runtime.GOMAXPROCS(0); got != n {
		t.Errorf("GOMAXPROCS after serving: %d, want %d back", got, n)
	}
	t.Run("GOMAXPROCS from the environment", func(t *testing.T) {
		t.Setenv("GOMAXPROCS", strconv.Itoa(n))
		addr, stderr := serveVerbose(t, "echo", "--engine", "loop", "-v", "--loops", strconv.Itoa(n), "--addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
		echoThrough(t, addr)
		want := fmt.Sprintf("sock: GOMAXPROCS %d, from the environment, for %d loop", n, n)
		if !strings.Contains(stderr(), want) || !strings.Contains(stderr(), "no P left") || runtime.GOMAXPROCS(0) != n {
			t.Errorf("GOMAXPROCS %d (want %d); stderr %q does not say %q and no P left", runtime.GOMAXPROCS(0), n, stderr(), want)
		}
	})
	if n > 1 {
		t.Run("fewer loops", func(t *testing.T) {
			addr, stderr := serveVerbose(t, "echo", "--engine", "loop", "-v", "--loops", strconv.Itoa(n-1), "--addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
			echoThrough(t, addr)
			if strings.Contains(stderr(), "GOMAXPROCS") || runtime.GOMAXPROCS(0) != n {
				t.Errorf("with %d loops and GOMAXPROCS %d: GOMAXPROCS %d, stderr %q", n-1, n, runtime.GOMAXPROCS(0), stderr())
			}
		})
	}
}
