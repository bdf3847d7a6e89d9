//go:build linux

package cli_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketkit/socketkit/cmd/sock/internal/cli"
	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

// listeningPorts reads the TCP ports in LISTEN state on 127.0.0.1 or a
// wildcard address from /proc/net/tcp*.
func listeningPorts(max int) map[int]bool {
	out := map[int]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 4 || fs[3] != "0A" {
				continue
			}
			addr, port, _ := strings.Cut(fs[1], ":")
			p, _ := strconv.ParseUint(port, 16, 16)
			loopOrAny := addr == "0100007F" || strings.Trim(addr, "0") == "" || addr == "0000000000000000FFFF00000100007F"
			if loopOrAny && int(p) <= max {
				out[int(p)] = true
			}
		}
	}
	return out
}

// TestScanFindsOpenedPorts: sock scan 127.0.0.1 1-2000 finds exactly the
// ports this test opened, plus any that were already listening.
func TestScanFindsOpenedPorts(t *testing.T) {
	before := listeningPorts(2000)
	var opened []int
	for p := 1200 + rand.IntN(700); len(opened) < 5 && p <= 2000; p += 1 + rand.IntN(20) {
		s, err := socket.CreateServer(fmt.Sprintf("127.0.0.1:%d", p), nil)
		if err != nil {
			continue // in use, or privileged: try another
		}
		defer s.Close()
		opened = append(opened, p)
	}
	if len(opened) < 3 {
		t.Fatalf("could only open %v", opened)
	}
	code, out, errs := run(t, "", "scan", "127.0.0.1", "1-2000")
	if code != 0 {
		t.Fatalf("scan exited %d: %s", code, errs)
	}
	found := map[int]bool{}
	for _, m := range regexp.MustCompile(`(?m)^(\d+)/tcp\topen`).FindAllStringSubmatch(out, -1) {
		p, _ := strconv.Atoi(m[1])
		found[p] = true
	}
	want := map[int]bool{}
	for p := range before {
		want[p] = true
	}
	for _, p := range opened {
		want[p] = true
	}
	if fmt.Sprint(sorted(found)) != fmt.Sprint(sorted(want)) {
		t.Fatalf("scan found %v; want the opened %v plus the ones already listening %v", sorted(found), opened, sorted(before))
	}
	t.Logf("opened %v, found %v: %s", opened, sorted(found), strings.TrimSpace(errs))
	if code, _, errs := run(t, "", "scan", "192.0.2.1", "80"); code != cli.ExitUsage || !strings.Contains(errs, "--allow-remote") {
		t.Fatalf("scan of a remote address: %d %s", code, errs)
	}
	for _, bad := range []string{"0-10", "1-70000", "20-10", "x", "", "1,,2"} {
		if code, _, _ := run(t, "", "scan", "127.0.0.1", bad); code != cli.ExitUsage {
			t.Errorf("scan with ports %q: exit %d, want %d", bad, code, cli.ExitUsage)
		}
	}
}

func sorted(m map[int]bool) []int {
	var out []int
	for p := range m {
		out = append(out, p)
	}
	sort.Ints(out)
	return out
}

// TestPing: sock ping -c 3 127.0.0.1 gets three replies (as root, or where
// ping_group_range allows datagram ICMP).
func TestPing(t *testing.T) {
	code, out, errs := run(t, "", "ping", "-c", "3", "-i", "0.05", "127.0.0.1")
	if code != 0 {
		if !sockettest.IsRoot() && strings.Contains(errs, "cannot open an ICMP socket") {
			t.Skipf("skipping: this user may not open ICMP sockets here (run as root, as CI does): %s", errs)
		}
		t.Fatalf("ping exited %d: %s", code, errs)
	}
	t.Log("\n" + out)
	if n := len(regexp.MustCompile(`(?m)^64 bytes from 127\.0\.0\.1: icmp_seq=\d ttl=\d+ time=[\d.]+ ms$`).FindAllString(out, -1)); n != 3 {
		t.Fatalf("%d replies, want 3:\n%s", n, out)
	}
	if !strings.Contains(out, "3 packets transmitted, 3 received, 0% packet loss") || !strings.Contains(out, "rtt min/avg/max/mdev") {
		t.Fatalf("no iputils-style summary:\n%s", out)
	}
	if !strings.Contains(out, "using a raw ICMP socket") && !strings.Contains(out, "using an unprivileged ICMP datagram socket") {
		t.Fatal("ping does not say which socket it used")
	}
}

// TestPingUnprivileged: without privilege and without ping_group_range,
// ping fails with one clear line.
func TestPingUnprivileged(t *testing.T) {
	if !sockettest.RunUnprivileged(t) {
		return
	}
	b, _ := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	var lo, hi int
	fmt.Sscan(string(b), &lo, &hi)
	if gid := os.Getgid(); gid >= lo && gid <= hi {
		t.Skipf("skipping: ping_group_range %q lets gid %d open ICMP sockets", strings.TrimSpace(string(b)), gid)
	}
	code, _, errs := run(t, "", "ping", "-c", "1", "127.0.0.1")
	if code != cli.ExitError || strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.Contains(errs, "CAP_NET_RAW") || !strings.Contains(errs, "ping_group_range") {
		t.Fatalf("exit %d, stderr %q: want one line naming ping_group_range and CAP_NET_RAW", code, errs)
	}
}

// TestSendRecv: a file sent with sock send arrives with the same SHA-256.
// The full run moves 1 GiB; -short moves 8 MiB.
func TestSendRecv(t *testing.T) {
	size := int64(1 << 30)
	if testing.Short() {
		size = 8 << 20
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "big.bin")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	if _, err := io.CopyN(io.MultiWriter(f, h), rng, size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	want := fmt.Sprintf("%x", h.Sum(nil))
	port := freePort(t)
	dst := filepath.Join(dir, "got.bin")
	recv := start(t, "sock", "recv", "127.0.0.1", fmt.Sprint(port), "-o", dst)
	waitListen(t, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
	snd := start(t, "sock", "send", src, "127.0.0.1", fmt.Sprint(port))
	if code := snd.exits(120 * time.Second); code != 0 {
		t.Fatalf("send exited %d: %s", code, snd.errb.String())
	}
	if code := recv.exits(30 * time.Second); code != 0 {
		t.Fatalf("recv exited %d: %s", code, recv.errb.String())
	}
	got, err := os.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	h2 := sha256.New()
	n, _ := io.Copy(h2, got)
	got.Close()
	if n != size || fmt.Sprintf("%x", h2.Sum(nil)) != want {
		t.Fatalf("received %d bytes with sha256 %x; sent %d bytes with %s", n, h2.Sum(nil), size, want)
	}
	if !strings.Contains(snd.errb.String(), "verified by the receiver") || !strings.Contains(recv.errb.String(), want) {
		t.Fatalf("no end-to-end confirmation:\nsend: %s\nrecv: %s", snd.errb.String(), recv.errb.String())
	}
	if left, _ := os.ReadDir(dir); len(left) != 2 {
		t.Errorf("after the transfer the directory holds %v, want big.bin and got.bin", left)
	}
	t.Logf("%s%s", snd.errb.String(), recv.errb.String())
	// No progress bar when stderr is not a terminal.
	if strings.Contains(snd.errb.String(), "\r") || strings.Contains(snd.errb.String(), "█") {
		t.Fatal("a progress bar was drawn to a non-terminal stderr")
	}
}

// TestRecvRaw: data from plain nc (no sock header) is received unverified.
func TestRecvRaw(t *testing.T) {
	port := freePort(t)
	dst := filepath.Join(t.TempDir(), "raw.out")
	recv := start(t, "sock", "recv", "127.0.0.1", fmt.Sprint(port), "-o", dst)
	waitListen(t, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
	code, _, errs := run(t, "plain bytes from nc\n", "connect", "127.0.0.1", fmt.Sprint(port))
	if code != 0 {
		t.Fatal(errs)
	}
	if code := recv.exits(10 * time.Second); code != 0 {
		t.Fatal(recv.errb.String())
	}
	if b, _ := os.ReadFile(dst); string(b) != "plain bytes from nc\n" || !strings.Contains(recv.errb.String(), "not verified") {
		t.Fatalf("got %q, %s", b, recv.errb.String())
	}
}

// TestBench: sock bench against sock serve echo verifies bytes and prints
// JSON and a PNG.
func TestBench(t *testing.T) {
	addr := serveInProcess(t, "echo", "--addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	host, port, _ := strings.Cut(addr, ":")
	png := filepath.Join(t.TempDir(), "lat.png")
	code, out, errs := run(t, "", "bench", host, port, "-c", "4", "-d", "300ms", "--warmup", "0", "--json", "--png", png)
	if code != 0 {
		t.Fatalf("bench exited %d: %s", code, errs)
	}
	var res struct {
		Msgs     uint64  `json:"msgs"`
		MsgsPerS float64 `json:"msgs_per_s"`
		P99      float64 `json:"p99_us"`
		Verified int64   `json:"verified_bytes"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Msgs == 0 || res.Verified < int64(res.Msgs)*64 || res.P99 <= 0 {
		t.Fatalf("bench JSON %q: %+v %v", out, res, err)
	}
	if b, err := os.ReadFile(png); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Fatalf("no PNG written: %v", err)
	}
}

// TestBenchCounts: the text report counts messages and bytes alike: the
// measured messages, and all of them with the warm-up, whose bytes are the
// bytes verified.
func TestBenchCounts(t *testing.T) {
	addr := serveInProcess(t, "echo", "--addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	host, port, _ := strings.Cut(addr, ":")
	code, out, errs := run(t, "", "bench", host, port, "-c", "2", "-s", "100", "-d", "300ms", "--warmup", "200ms")
	if code != 0 {
		t.Fatalf("bench exited %d: %s", code, errs)
	}
	m := regexp.MustCompile(`(\d+) messages measured, (\d+) in all with the warm-up: (\d+) bytes verified`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no message and byte counts in:\n%s", out)
	}
	var measured, all, verified int64
	fmt.Sscan(m[1], &measured)
	fmt.Sscan(m[2], &all)
	fmt.Sscan(m[3], &verified)
	if measured == 0 || measured > all || verified != all*100 {
		t.Fatalf("inconsistent counts: %d measured, %d in all, %d bytes (want %d):\n%s", measured, all, verified, all*100, out)
	}
	if !strings.Contains(out, "2 connections x 100 B") {
		t.Errorf("no summary line:\n%s", out)
	}
}

// TestBenchServerStopsAnswering: a server that echoes for a while and
// then stops answering ends the run with an error, after the figures of
// what was measured until then.
func TestBenchServerStopsAnswering(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); close(done); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { // echo for 300 ms, then read nothing more
				defer wg.Done()
				defer c.Close()
				c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				io.Copy(struct{ io.Writer }{c}, struct{ io.Reader }{c})
				<-done
			}()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	code, out, errs := run(t, "", "bench", "127.0.0.1", port, "-c", "2", "-d", "1s", "--warmup", "0")
	if code != 1 || !strings.Contains(errs, "still in flight") {
		t.Errorf("exit %d, stderr %q; want exit 1 and the messages still in flight", code, errs)
	}
	t.Logf("stdout:\n%sstderr: %s", out, errs)
	if m := regexp.MustCompile(`  (\d+) msgs/s`).FindStringSubmatch(out); m == nil || m[1] == "0" || !strings.Contains(out, "messages measured") {
		t.Errorf("no figures of what was measured before the server stopped:\n%s", out)
	}
}

func TestResolveAndInfo(t *testing.T) {
	code, out, errs := run(t, "", "resolve", "localhost", "http", "--type", "stream", "-4")
	if code != 0 || !regexp.MustCompile(`AF_INET\s+SOCK_STREAM\s+IPPROTO_TCP\s+\S+\s+127\.0\.0\.1:80`).MatchString(out) {
		t.Fatalf("resolve: %d %q %q", code, out, errs)
	}
	code, out, errs = run(t, "", "info")
	if code != 0 || !regexp.MustCompile(`AF_UNIX\s+yes\s+yes\s+\S+\s+ESOCKTNOSUPPORT\s+yes`).MatchString(out) || !strings.Contains(out, "somaxconn") {
		t.Fatalf("info: %d %q %q", code, out, errs)
	}
}

// TestBadInput: each bad input gets one clear line and the right exit code.
func TestBadInput(t *testing.T) {
	refused := fmt.Sprint(freePort(t))
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown host", []string{"connect", "no-such-host.invalid", "80"}, cli.ExitError, "no-such-host.invalid"},
		{"refused port", []string{"connect", "127.0.0.1", refused}, cli.ExitError, "connection refused"},
		{"bad flag", []string{"connect", "--frobnicate", "127.0.0.1", "80"}, cli.ExitUsage, "unknown flag"},
		{"bad short flag", []string{"-lvkZ", "4444"}, cli.ExitUsage, "unknown shorthand flag"},
		{"missing file", []string{"send", "/no/such/file", "127.0.0.1", refused}, cli.ExitError, "no such file or directory"},
		{"unix path too long", []string{"connect", "-U", "/tmp/" + strings.Repeat("x", 200)}, cli.ExitUsage, "limit is 108"},
		{"listen path too long", []string{"listen", "-U", "/tmp/" + strings.Repeat("x", 200)}, cli.ExitUsage, "limit is 108"},
		{"port out of range", []string{"connect", "127.0.0.1", "65536"}, cli.ExitUsage, "port out of range"},
		{"negative port", []string{"listen", "-1"}, cli.ExitUsage, ""},
		{"port 0 to connect to", []string{"connect", "127.0.0.1", "0"}, cli.ExitUsage, "port 0"},
		{"IPv6 without brackets", []string{"serve", "echo", "--addr", "::1:80"}, cli.ExitUsage, "[addr]:port"},
		{"empty unix path", []string{"connect", "-U", ""}, cli.ExitUsage, "empty Unix socket path"},
		{"listen port out of range", []string{"listen", "70000"}, cli.ExitUsage, "port out of range"},
		{"source port out of range", []string{"connect", "-p", "70000", "127.0.0.1", "80"}, cli.ExitUsage, "out of range"},
		{"bad relay address", []string{"relay", "tcp:nowhere", "stdio"}, cli.ExitUsage, "tcp:HOST:PORT"},
		{"bad relay type", []string{"relay", "sctp:1", "stdio"}, cli.ExitUsage, "unknown address type"},
		{"bad timeout", []string{"connect", "-w", "soon", "127.0.0.1", "80"}, cli.ExitUsage, "bad time"},
		{"conflicting flags", []string{"connect", "-4", "-6", "127.0.0.1", "80"}, cli.ExitUsage, "exclude"},
		{"recv without -o", []string{"recv", refused}, cli.ExitUsage, "-o"},
		{"ping bad count", []string{"ping", "-c", "-1", "127.0.0.1"}, cli.ExitUsage, "range"},
		{"bench bad size", []string{"bench", "127.0.0.1", "80", "-s", "0"}, cli.ExitUsage, "positive"},
		{"typo of a command", []string{"serv", "echo"}, cli.ExitUsage, "did you mean serve"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, "", tc.args...)
			lines := strings.Split(strings.TrimSpace(errs), "\n")
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Fatalf("sock %v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errs, tc.code, tc.want)
			}
			if len(lines) > 2 || (len(lines) == 2 && !regexp.MustCompile(`^Run 'sock( \w+)? --help' for usage\.$`).MatchString(lines[1])) ||
				strings.Contains(errs, "goroutine") || strings.Contains(errs, "panic") || out != "" {
				t.Fatalf("sock %v: not one clear line: stdout %q stderr %q", tc.args, out, errs)
			}
		})
	}
}

// TestHelpEverywhere: every command has --help with examples.
func TestHelpEverywhere(t *testing.T) {
	for _, c := range []string{"demo", "serve", "connect", "listen", "relay", "send", "recv", "ping", "scan", "bench", "resolve", "info"} {
		code, out, _ := run(t, "", c, "--help")
		if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "Usage:") {
			t.Errorf("sock %s --help: exit %d\n%s", c, code, out)
		}
	}
}
