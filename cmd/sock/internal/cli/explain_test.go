//go:build linux

package cli_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/socketkit/socketkit/cmd/sock/internal/cli"
)

// libraryErrnos derives the errnos the library can return by reading its
// source: every unix.E* and syscall.E* name in the non-test Go files of
// socket, socketserver, eventloop and internal (EPOLL* are epoll event
// bits, not errnos). The library passes the kernel's errnos through, so
// manPageErrnos adds those that the calls it makes list in their man pages.
func libraryErrnos(t *testing.T) map[string]bool {
	t.Helper()
	root := filepath.Join("..", "..", "..", "..")
	re := regexp.MustCompile(`\b(?:unix|syscall)\.(E[A-Z0-9]+)\b`)
	names := map[string]bool{}
	for _, dir := range []string{"socket", "socketserver", "eventloop", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				if !strings.HasPrefix(m[1], "EPOLL") {
					names[m[1]] = true
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("reading the library's source: %v", err)
		}
	}
	if len(names) < 20 {
		t.Fatalf("found only %d errno names in the library; is the source tree there?", len(names))
	}
	return names
}

// manPageErrnos are the ERRORS of socket(2), bind(2), listen(2), accept(2),
// connect(2), send(2), recv(2), getsockopt(2), shutdown(2), sendfile(2),
// splice(2) and epoll_ctl(2) on Linux, plus the network errors the kernel
// reports through them (ip(7), tcp(7), udp(7), unix(7)).
var manPageErrnos = []string{
	"EACCES", "EADDRINUSE", "EADDRNOTAVAIL", "EAFNOSUPPORT", "EAGAIN", "EALREADY", "EBADF", "ECONNABORTED",
	"ECONNREFUSED", "ECONNRESET", "EDESTADDRREQ", "EEXIST", "EFAULT", "EHOSTDOWN", "EHOSTUNREACH", "EINPROGRESS", "EINTR",
	"EINVAL", "EIO", "EISCONN", "ELOOP", "EMFILE", "EMSGSIZE", "ENAMETOOLONG", "ENETDOWN", "ENETUNREACH", "ENFILE",
	"ENOBUFS", "ENODEV", "ENOENT", "ENOMEM", "ENOPROTOOPT", "ENOSYS", "ENOTCONN", "ENOTDIR", "ENOTSOCK", "EOPNOTSUPP",
	"EPERM", "EPIPE", "EPROTO", "EPROTONOSUPPORT", "EPROTOTYPE", "EROFS", "ESHUTDOWN", "ESOCKTNOSUPPORT", "ESPIPE",
	"ETIMEDOUT", "ETOOMANYREFS", "EXDEV", "ECANCELED",
}

func errnoValue(t *testing.T, name string) syscall.Errno {
	t.Helper()
	for i := 1; i < 256; i++ {
		if cli.ErrnoCName(syscall.Errno(i)) == name {
			return syscall.Errno(i)
		}
	}
	switch name {
	case "EWOULDBLOCK":
		return syscall.EAGAIN
	case "ENOTSUP":
		return syscall.EOPNOTSUPP
	}
	t.Fatalf("%s is not an errno name on Linux", name)
	return 0
}

// TestExplainCoversLibraryErrnos: every errno the library names, and every
// errno its system calls document, is explained, by name and by number.
func TestExplainCoversLibraryErrnos(t *testing.T) {
	names := libraryErrnos(t)
	var fromSource []string
	for n := range names {
		fromSource = append(fromSource, n)
	}
	sort.Strings(fromSource)
	for _, n := range manPageErrnos {
		names[n] = true
	}
	t.Logf("errnos named in the library source (%d): %s", len(fromSource), strings.Join(fromSource, " "))
	t.Logf("with the man pages' errnos: %d to cover", len(names))
	for name := range names {
		en := errnoValue(t, name)
		canonical := cli.ErrnoCName(en)
		for _, arg := range []string{name, fmt.Sprint(int(en))} {
			code, out, errs := run(t, "", "explain", arg)
			if code != 0 {
				t.Errorf("sock explain %s: exit %d %s", arg, code, errs)
				continue
			}
			first := strings.SplitN(out, "\n", 2)[0]
			if !strings.HasPrefix(first, fmt.Sprintf("%s (errno %d on Linux): %s", canonical, int(en), en.Error())) {
				t.Errorf("sock explain %s: first line %q", arg, first)
			}
			for _, part := range []string{"What the call was trying to do:", "Usual causes on Linux:", "Fix:", "Python: ",
				"Go:     errors.Is(err, syscall." + canonical + ")"} {
				if !strings.Contains(out, part) {
					t.Errorf("sock explain %s lacks %q", arg, part)
				}
			}
		}
	}
	code, out, _ := run(t, "", "explain", "--list")
	if code != 0 {
		t.Fatalf("explain --list: exit %d", code)
	}
	t.Logf("sock explain --list: %d entries", strings.Count(out, "\n")-1)
}

func TestExplainLookup(t *testing.T) {
	cases := []struct{ query, first, note string }{
		{"ECONNREFUSED", "ECONNREFUSED (errno 111", ""},
		{"econnrefused", "ECONNREFUSED (errno 111", ""},
		{"CONNREFUSED", "ECONNREFUSED (errno 111", ""},
		{"111", "ECONNREFUSED (errno 111", ""},
		{"10061", "ECONNREFUSED (errno 111", "10061 is a Windows (Winsock) number"},
		{"WSAECONNREFUSED", "ECONNREFUSED (errno 111", "Windows' name"},
		{"address already in use", "EADDRINUSE (errno 98", ""},
		{"OSError: [Errno 98] Address already in use", "EADDRINUSE (errno 98", ""},
		{"ConnectionResetError: [Errno 104] Connection reset by peer", "ECONNRESET (errno 104", ""},
		{"BrokenPipeError", "EPIPE (errno 32", ""},
		{"read tcp 127.0.0.1:1->127.0.0.1:2: i/o timeout", "timeout", ""},
		{"socket.timeout: timed out", "timeout", ""},
		{"dial tcp: lookup no-such-host.invalid: no such host", "EAI_NONAME", ""},
		{"-2", "EAI_NONAME", "getaddrinfo"}, // sock explain -- -2
		{"EWOULDBLOCK", "EAGAIN (errno 11", "another name for EAGAIN"},
		{"ENOTSUP", "EOPNOTSUPP (errno 95", "another name"},
		{"sock: connect tcp 127.0.0.1:1: connect: connection refused (sock explain ECONNREFUSED)", "ECONNREFUSED (errno 111", ""},
		{"network is unreachable", "ENETUNREACH (errno 101", ""},
	}
	for _, tc := range cases {
		code, out, errs := run(t, "", "explain", "--", tc.query)
		if code != 0 || !strings.HasPrefix(out, tc.first) || !strings.Contains(out, tc.note) {
			t.Errorf("sock explain %q: exit %d %s\n%s\nwant first line %q and note %q", tc.query, code, errs, out, tc.first, tc.note)
		}
	}
	// JSON for scripts.
	code, out, _ := run(t, "", "explain", "--json", "EPIPE")
	if code != 0 || !strings.Contains(out, `"name": "EPIPE"`) || !strings.Contains(out, `"errno": 32`) {
		t.Errorf("explain --json EPIPE: %d\n%s", code, out)
	}
	// Bad input: one clear line.
	for _, args := range [][]string{{"explain"}, {"explain", "no-such-thing"}, {"explain", "99999"}, {"explain", "--list", "x"}} {
		code, out, errs := run(t, "", args...)
		if code == 0 || out != "" || strings.Count(strings.TrimSpace(errs), "\n") > 1 || strings.Contains(errs, "panic") {
			t.Errorf("sock %v: exit %d stdout %q stderr %q", args, code, out, errs)
		}
	}
}

// TestErrorLinesHintExplain: the CLI's own error lines end with the sock
// explain command that applies, and only where one applies.
func TestErrorLinesHintExplain(t *testing.T) {
	refused := fmt.Sprint(freePort(t))
	code, _, errs := run(t, "", "connect", "127.0.0.1", refused)
	if code != cli.ExitError || !strings.HasSuffix(strings.TrimSpace(errs), "connection refused (sock explain ECONNREFUSED)") {
		t.Errorf("connect to a closed port: %q", errs)
	}
	code, _, errs = run(t, "", "connect", "127.0.0.1", "70000")
	if code != cli.ExitUsage || strings.Contains(errs, "sock explain") {
		t.Errorf("a usage error with no errno got a hint: %q", errs)
	}
	// The hint it gives is an explanation that exists.
	code, out, _ := run(t, "", "explain", "ECONNREFUSED")
	if code != 0 || !strings.Contains(out, "nothing listens") {
		t.Errorf("the hinted explanation: %d %q", code, out)
	}
}

func TestLearnCommandsHelp(t *testing.T) {
	for _, c := range []string{"ss", "doctor", "explain", "demo"} {
		code, out, _ := run(t, "", c, "--help")
		if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "Usage:") {
			t.Errorf("sock %s --help: exit %d\n%s", c, code, out)
		}
	}
}
