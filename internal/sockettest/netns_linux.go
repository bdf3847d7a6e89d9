package sockettest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// netnsStageEnv tells a test re-run by RunUnprivilegedInNetns which stage
// it is: "root" in the new network namespace, "nobody" for the body.
const netnsStageEnv = "SOCKETKIT_NETNS_STAGE"

// RunUnprivilegedInNetns runs the test's body as the user nobody in a
// network namespace of its own, whose sysctls (paths under /proc/sys, such
// as "net/ipv4/ip_unprivileged_port_start") are first set as given, as
// root: for tests of what a normal user meets under a configuration that
// must not be changed for the whole machine. As root it re-runs just this
// test so, reports the output and returns false: the caller must return at
// once. In the re-run it returns true and the caller runs the body. Not as
// root, it skips the test.
func RunUnprivilegedInNetns(t *testing.T, sysctls map[string]string) (runHere bool) {
	t.Helper()
	switch os.Getenv(netnsStageEnv) {
	case "nobody":
		return true
	case "root":
		for path, value := range sysctls {
			if err := os.WriteFile(filepath.Join("/proc/sys", path), []byte(value), 0); err != nil {
				t.Fatalf("setting %s in the test's network namespace: %v", path, err)
			}
		}
		rerun(t, os.Args[0], "nobody", &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}})
		return false
	}
	if !IsRoot() {
		t.Skip("needs root to make a network namespace and set its sysctls")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "sk-netns")
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
	rerun(t, copyTo, "root", &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET})
	return false
}

// rerun runs just this test from bin at the given stage and checks that it
// passed.
func rerun(t *testing.T, bin, stage string, attr *syscall.SysProcAttr) {
	t.Helper()
	cmd := exec.Command(bin, "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = append(os.Environ(), netnsStageEnv+"="+stage, "HOME="+cmd.Dir)
	cmd.SysProcAttr = attr
	out, err := cmd.CombinedOutput()
	t.Logf("re-ran %s (%s, in a network namespace of its own):\n%s", t.Name(), stage, out)
	if err != nil {
		t.Fatalf("the re-run failed: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("the re-run did not pass")
	}
}
