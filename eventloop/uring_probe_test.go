//go:build linux

package eventloop_test

import (
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/internal/sockettest"
)

// TestProbeIOUring: the probe answers nil or one sentence that wraps
// errors.ErrUnsupported; CI (REQUIRE_URING=1), on a kernel that has
// io_uring, requires nil.
func TestProbeIOUring(t *testing.T) {
	err := eventloop.ProbeIOUring()
	if err == nil {
		if b, why := (&eventloop.Engine{Backend: eventloop.BackendAuto}).ResolvedBackend(); b != eventloop.BackendIOUring || why != "" {
			t.Fatalf("auto resolves to %q (%q) where io_uring works", b, why)
		}
		return
	}
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("%v does not wrap errors.ErrUnsupported", err)
	}
	if b, why := (&eventloop.Engine{Backend: eventloop.BackendAuto}).ResolvedBackend(); b != eventloop.BackendEpoll || why == "" {
		t.Errorf("auto resolves to %q (%q) where io_uring does not work", b, why)
	}
	if os.Getenv("REQUIRE_URING") == "1" {
		t.Fatalf("REQUIRE_URING=1 and io_uring is unusable: %v", err)
	}
	t.Skipf("io_uring is unusable here: %v", err)
}

// TestProbeUnderSeccomp: where a seccomp filter refuses io_uring with
// EPERM (Docker's default profile does), the probe says so in its
// sentence, an auto engine serves on epoll and gives that sentence as its
// reason, and an engine asked for io_uring refuses to serve with an error
// that wraps errors.ErrUnsupported. The filter cannot be undone, so the
// test runs itself again in a child process that installs it.
func TestProbeUnderSeccomp(t *testing.T) {
	if os.Getenv("SOCKETKIT_DENY_IOURING") == "1" {
		seccompChild(t)
		return
	}
	if eventloop.DefaultBackend() != eventloop.BackendEpoll {
		t.Skip("runs in the package's epoll run")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestProbeUnderSeccomp$", "-test.v", "-backend=epoll")
	cmd.Env = append(os.Environ(), "SOCKETKIT_DENY_IOURING=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestProbeUnderSeccomp") {
		t.Fatalf("the child under seccomp: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "fallback:") {
			t.Log(strings.TrimSpace(line))
		}
	}
}

func seccompChild(t *testing.T) {
	if err := sockettest.DenyIOUring(); err != nil {
		t.Fatal(err)
	}
	err := eventloop.ProbeIOUring()
	if err == nil || !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "EPERM") || !strings.Contains(err.Error(), "seccomp") {
		t.Fatalf("ProbeIOUring under a seccomp filter = %v; want a sentence naming EPERM and seccomp", err)
	}
	auto := &eventloop.Engine{Handler: echo{}, Loops: 1, Backend: eventloop.BackendAuto}
	addr, stop := start(t, auto, "tcp", "127.0.0.1:0")
	b, why := auto.ResolvedBackend()
	t.Logf("fallback: %s", why)
	if b != eventloop.BackendEpoll || !strings.Contains(why, err.Error()) {
		t.Errorf("auto under seccomp runs on %q because %q", b, why)
	}
	c, derr := net.Dial("tcp", addr)
	if derr != nil {
		t.Fatal(derr)
	}
	c.Write([]byte("ping"))
	got := make([]byte, 4)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "ping" {
		t.Fatalf("echo on the fallback: %q, %v", got, err)
	}
	c.Close()
	stop()
	forced := &eventloop.Engine{Handler: echo{}, Loops: 1, Backend: eventloop.BackendIOUring}
	if err := forced.ListenAndServe("tcp", "127.0.0.1:0"); !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "EPERM") {
		t.Errorf("Serve on io_uring under seccomp = %v; want an error wrapping errors.ErrUnsupported that says why", err)
	}
}
