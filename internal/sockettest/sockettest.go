// Package sockettest holds helpers for the project's tests: leak checks on
// socket descriptors and goroutines, short Unix socket paths, root gating,
// and re-running a test as an unprivileged user.
package sockettest

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SocketFds returns the descriptors of this process that are sockets or
// pipes, with what they point to.
func SocketFds() map[int]string {
	m := map[int]string{}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return m
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue
		}
		if strings.HasPrefix(target, "socket:") || strings.HasPrefix(target, "pipe:") {
			m[fd] = target
		}
	}
	return m
}

// settle runs the garbage collector and polls until check passes or the
// time is up: finalizers and the runtime's splice pipe pool release
// descriptors only after a collection.
func settle(d time.Duration, check func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if check() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// newFds returns the socket and pipe descriptors open now that were not in
// before (or that now point to something else).
func newFds(before map[int]string) []string {
	var out []string
	for fd, target := range SocketFds() {
		if before[fd] != target {
			out = append(out, strconv.Itoa(fd)+"->"+target)
		}
	}
	sort.Strings(out)
	return out
}

// LeakCheck records the socket descriptors open now and, when the test
// ends, fails it if new ones are still open after the runtime has had
// 10 s to release them (it returns as soon as they are released: the time
// is for a loaded machine, where finalizers and closing goroutines run
// late). Do not use it in parallel tests.
func LeakCheck(t testing.TB) {
	t.Helper()
	before := SocketFds()
	t.Cleanup(func() {
		var leaked []string
		if !settle(10*time.Second, func() bool { leaked = newFds(before); return len(leaked) == 0 }) {
			t.Errorf("leaked %d socket descriptors: %v", len(leaked), leaked)
		}
	})
}

// VerifyTestMain runs the tests of a package with the offline resolver
// (UseOfflineResolver), then fails the run if socket descriptors or
// goroutines are left over. A goroutine whose stack contains one of the
// ignore strings (a third-party package's path) is not counted: only for
// a peer the tests run in process and cannot stop fully.
func VerifyTestMain(m *testing.M, ignore ...string) {
	VerifyRun(m.Run, ignore...)
}

// VerifyRun is VerifyTestMain for a package whose TestMain runs its tests
// more than once (run calls m.Run for each configuration) and returns the
// exit code.
func VerifyRun(run func() int, ignore ...string) {
	UseOfflineResolver()
	before := SocketFds()
	beforeG := GoroutineIDs()
	code := run()
	if pki.dir != "" {
		os.RemoveAll(pki.dir) // TLSCerts's files
	}
	if code == 0 {
		var leaked []string
		if !settle(10*time.Second, func() bool { leaked = newFds(before); return len(leaked) == 0 }) {
			fmt.Fprintf(os.Stderr, "sockettest: %d socket descriptors leaked: %v\n", len(leaked), leaked)
			code = 1
		}
		var stacks []string
		if !settle(10*time.Second, func() bool { stacks = LeakedGoroutines(beforeG, ignore...); return len(stacks) == 0 }) {
			fmt.Fprintf(os.Stderr, "sockettest: %d goroutines leaked:\n\n%s\n", len(stacks), strings.Join(stacks, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// UnixPath returns a path for a Unix socket in a short temporary directory
// that is removed after the test. t.TempDir can be too long for sun_path
// (108 bytes).
func UnixPath(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sk")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, name)
}

// IsRoot reports whether the process runs as root.
func IsRoot() bool { return os.Geteuid() == 0 }

// RequireRoot skips the test, saying why, unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if !IsRoot() {
		t.Skipf("skipping %s: needs root (run as root, as CI does, to cover it)", t.Name())
	}
}

// ChildEnv is set in the environment of a test re-run by RunUnprivileged.
const ChildEnv = "SOCKETKIT_UNPRIVILEGED_CHILD"

// InUnprivilegedChild reports whether this process is the child started by
// RunUnprivileged.
func InUnprivilegedChild() bool { return os.Getenv(ChildEnv) != "" }

// RunUnprivileged makes the test run its body without privilege. As a
// normal user it returns true and the caller runs the body itself. As root
// it copies the test binary somewhere the user nobody can read, re-runs
// just this test there as nobody, reports the child's output, and returns
// false: the caller must return at once.
func RunUnprivileged(t *testing.T) (runHere bool) {
	t.Helper()
	if !IsRoot() || InUnprivilegedChild() {
		return true
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "sk-unpriv")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyTo := filepath.Join(dir, "test.bin")
	if err := copyFile(exe, copyTo); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(copyTo, "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), ChildEnv+"=1", "HOME="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	t.Logf("re-ran %s as user nobody (uid 65534):\n%s", t.Name(), out)
	if err != nil {
		t.Fatalf("unprivileged run failed: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("unprivileged run did not pass")
	}
	return false
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Threads returns the number of OS threads of this process.
func Threads() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return -1
}
