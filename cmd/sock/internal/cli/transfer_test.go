//go:build linux

package cli_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/socketkit/socketkit/socket"
)

// TestRecvFailureLeavesNoFile: when a transfer fails (the sender dies
// halfway, or the data does not hash to the sender's sum), sock recv exits
// 1 and leaves nothing under the final name, nor a partial file beside it.
func TestRecvFailureLeavesNoFile(t *testing.T) {
	const size = 8 << 20
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	for _, tc := range []struct {
		name string
		send func(t *testing.T, c *socket.Socket)
	}{
		{"sender closes halfway", func(t *testing.T, c *socket.Socket) {
			c.Sendall(data[:size/2], 0)
			c.Close()
		}},
		{"sender resets halfway", func(t *testing.T, c *socket.Socket) {
			c.Sendall(data[:size/2], 0)
			c.SetLinger(true, 0)
			c.Close()
		}},
		{"wrong checksum", func(t *testing.T, c *socket.Socket) {
			c.Sendall(data, 0)
			c.Sendall(make([]byte, sha256.Size), 0)
			c.CloseWrite()
			buf := make([]byte, 100)
			c.Recv(buf, 0) // the receiver's BAD line
			c.Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			dst := filepath.Join(dir, "got.bin")
			port := freePort(t)
			recv := start(t, "sock", "recv", "127.0.0.1", fmt.Sprint(port), "-o", dst)
			waitListen(t, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
			c := dialTCP(t, fmt.Sprint(port))
			c.Sendall([]byte(fmt.Sprintf("SOCK1 %d got.bin\n", size)), 0)
			tc.send(t, c)
			if code := recv.exits(30 * time.Second); code != 1 {
				t.Fatalf("recv exited %d, want 1: %s", code, recv.errb.String())
			}
			if _, err := os.Stat(dst); !os.IsNotExist(err) {
				t.Errorf("a failed transfer left %s (%v)", dst, err)
			}
			if left, _ := os.ReadDir(dir); len(left) > 0 {
				t.Errorf("a failed transfer left files behind: %v", left)
			}
			if !strings.Contains(recv.errb.String(), "sock:") {
				t.Errorf("no error said: %q", recv.errb.String())
			}
		})
	}
}

// TestRecvInterrupted: Ctrl-C during a transfer removes the partial file.
func TestRecvInterrupted(t *testing.T) {
	dir := t.TempDir()
	dst := filepath.Join(dir, "got.bin")
	port := freePort(t)
	recv := start(t, "sock", "recv", "127.0.0.1", fmt.Sprint(port), "-o", dst)
	waitListen(t, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
	c := dialTCP(t, fmt.Sprint(port))
	c.Sendall([]byte("SOCK1 1000000 got.bin\nsome of it"), 0)
	// The partial file is there, with the bytes so far.
	for i := 0; ; i++ {
		left, _ := os.ReadDir(dir)
		if len(left) == 1 && strings.Contains(left[0].Name(), "partial") {
			if fi, err := left[0].Info(); err == nil && fi.Size() == int64(len("some of it")) {
				break
			}
		}
		if i == 1000 {
			t.Fatalf("no partial file with the data so far: %v", left)
		}
		time.Sleep(10 * time.Millisecond)
	}
	recv.cmd.Process.Signal(os.Interrupt)
	if code := recv.exits(10 * time.Second); code != 1 || !strings.Contains(recv.errb.String(), "interrupted") {
		t.Fatalf("recv exited %d: %s", code, recv.errb.String())
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("an interrupted transfer left files behind: %v", left)
	}
}

// inPty runs a command with its stdout and stderr on a terminal (a pty) and
// prints what it wrote.
const inPty = `
import os, pty, subprocess, sys
m, s = pty.openpty()
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=s, stderr=s)
os.close(s)
out = b""
while True:
    try:
        b = os.read(m, 65536)
    except OSError:
        break
    if not b:
        break
    out += b
sys.stdout.buffer.write(out)
sys.exit(p.wait())
`

// TestTransferProgressRates: on a terminal, send and recv draw progress
// bars whose rates are real: never the terabytes per second of a first tick
// measured over no time at all.
func TestTransferProgressRates(t *testing.T) {
	bin, err := sockBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "big.bin")
	if err := os.WriteFile(src, bytes.Repeat([]byte("progress"), 64<<20/8), 0o644); err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(freePort(t))
	recv := start(t, "python3", "-c", inPty, bin, "recv", "127.0.0.1", port, "-o", filepath.Join(dir, "got.bin"))
	waitListen(t, "tcp", "127.0.0.1:"+port)
	send := start(t, "python3", "-c", inPty, bin, "send", src, "127.0.0.1", port)
	for _, p := range []*proc{send, recv} {
		if code := p.exits(60 * time.Second); code != 0 {
			t.Fatalf("exit %d: %s%s", code, p.out.String(), p.errb.String())
		}
		out := p.out.String()
		rates := regexp.MustCompile(`([0-9.]+) ([kMGTP]?)B/s\)`).FindAllStringSubmatch(out, -1)
		if len(rates) == 0 {
			t.Fatalf("no progress bar on a terminal:\n%q", out)
		}
		for _, r := range rates {
			v, _ := strconv.ParseFloat(r[1], 64)
			v *= map[string]float64{"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}[r[2]]
			if v > 100e9 {
				t.Errorf("the bar shows %s %sB/s, beyond any loopback:\n%q", r[1], r[2], out)
			}
		}
	}
}
