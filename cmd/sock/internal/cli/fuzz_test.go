//go:build linux

package cli_test

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/socketkit/socketkit/cmd/sock/internal/cli"
)

var (
	ipv4ish = regexp.MustCompile(`\d+\.\d+`)
	// Arguments that would run programs, touch files outside the
	// fuzzer's directory or go through a proxy the environment names.
	risky = regexp.MustCompile(`(?i)exec|system|sh-?c|^-[a-z]*[ec]|/|\.\.|~|^env$`)
)

// safeArgs reports whether args can run here: no destination but
// loopback (names resolve offline), no command execution, no path
// outside the current (temporary) directory.
func safeArgs(args []string) bool {
	for _, a := range args {
		if risky.MatchString(a) {
			return false
		}
		for _, ip := range ipv4ish.FindAllString(a, -1) {
			if !strings.HasPrefix(ip, "127.") {
				return false
			}
		}
		if strings.Contains(a, "::") && !strings.Contains(a, "::1") {
			return false
		}
		if strings.Count(a, ":") >= 2 && !strings.Contains(a, "::1") {
			return false // an IPv6 address without ::, or a socat address
		}
	}
	return true
}

// FuzzCLIArgs runs the command line in-process on arbitrary arguments
// (split on spaces): it never panics, always ends (within the context's
// time), and exits with 0, 1 or 2.
func FuzzCLIArgs(f *testing.F) {
	for _, seed := range []string{
		"", "--help", "demo --help", "serve echo --addr 127.0.0.1:0", "serve nope",
		"connect 127.0.0.1 1", "-z 127.0.0.1 1-3", "resolve localhost", "info",
		"scan 127.0.0.1 1-5", "serve echo --proto udp --addr 127.0.0.1:0",
		"-l -p 0", "connect", "serve echo --workers -1", "bench --conns 0",
		"ping 127.0.0.1 -c 1", "serve echo --idle-timeout xyz", "-u 127.0.0.1 65536",
		"send", "recv --out", "relay", "serve echo --engine loop --loops 0 --addr 127.0.0.1:0",
	} {
		f.Add(seed)
	}
	dir := f.TempDir()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { os.Chdir(wd) })
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Fields(line)
		if len(args) > 12 || !safeArgs(args) {
			t.Skip()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		var stdout, stderr bytes.Buffer
		done := make(chan int, 1)
		go func() { done <- cli.RunContext(ctx, args, strings.NewReader(""), &stdout, &stderr) }()
		select {
		case code := <-done:
			if code < 0 || code > 2 {
				t.Fatalf("sock %q exited %d", line, code)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("sock %q did not end 10s after its context", line)
		}
		if strings.Contains(stderr.String(), "internal error") {
			t.Fatalf("sock %q panicked: %s", line, stderr.String())
		}
	})
}
