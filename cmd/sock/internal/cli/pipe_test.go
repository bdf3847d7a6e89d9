//go:build linux

package cli_test

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The pipe tests run the built sock binary inside sh, in the pipelines
// people type: its stdout (or stdin) is then a pipe in blocking mode that
// sh made and sock inherited, which the Go runtime's poller cannot wait for
// (an os.Pipe would be non-blocking and pollable, and would hide the fault
// of issue 9: "waiting for unsupported file type" after 65536 bytes). The
// reader starts late, as "| (sleep 0.3; ...)" does, so the pipe fills up.

const pipeSize = 3_000_000

type pipeRun struct {
	t                *testing.T
	dir, in, out, rc string
	want             [32]byte
	env              []string
}

func newPipeRun(t *testing.T) *pipeRun {
	bin, err := sockBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	data := make([]byte, pipeSize)
	rand.Read(data)
	r := &pipeRun{t: t, dir: dir, in: filepath.Join(dir, "rand.bin"), out: filepath.Join(dir, "got.bin"),
		rc: filepath.Join(dir, "rc"), want: sha256.Sum256(data)}
	if err := os.WriteFile(r.in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	r.env = append(os.Environ(), "SOCK="+bin, "IN="+r.in, "OUT="+r.out, "RC="+r.rc)
	return r
}

// sh runs script with sh -c and fails the test if it fails.
func (r *pipeRun) sh(script string, env ...string) {
	r.t.Helper()
	if err := r.run(script, env...); err != nil {
		r.t.Fatal(err)
	}
}

// run runs script with sh -c in its own process group, killed (group and
// all) if it has not ended within a minute. It may be called from any
// goroutine.
func (r *pipeRun) run(script string, env ...string) error {
	cmd := exec.Command("sh", "-c", script)
	cmd.Env = append(r.env, env...)
	cmd.Dir = r.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("sh -c %q: %v; stderr: %s", script, err, stderr.String())
		}
	case <-time.After(time.Minute):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("sh -c %q hung; stderr: %s", script, stderr.String())
	}
	if s := stderr.String(); strings.Contains(s, "unsupported file type") {
		return fmt.Errorf("sh -c %q: stderr: %s", script, s)
	} else if s != "" {
		r.t.Logf("stderr: %s", s)
	}
	return nil
}

// check: sock exited 0 (the status the script wrote to $RC) and all the
// bytes arrived in $OUT, unchanged.
func (r *pipeRun) check() {
	r.t.Helper()
	rc, _ := os.ReadFile(r.rc)
	got, err := os.ReadFile(r.out)
	if err != nil {
		r.t.Fatal(err)
	}
	if strings.TrimSpace(string(rc)) != "0" || len(got) != pipeSize || sha256.Sum256(got) != r.want {
		r.t.Fatalf("sock exited %q; %d of %d bytes arrived, sha256 equal: %v",
			strings.TrimSpace(string(rc)), len(got), pipeSize, sha256.Sum256(got) == r.want)
	}
}

// lateReader is the end of a pipeline whose reader starts late.
const lateReader = `| (sleep 0.3; cat > "$OUT")`

// TestConnectIntoLateReader: sock connect to an echo server, its stdout a
// blocking pipe whose reader starts late, and the variants of its stdin
// and stdout that a shell makes (issue 9, part 1).
func TestConnectIntoLateReader(t *testing.T) {
	_, addr, _ := startSock(t, "serve", "echo", "--addr", "127.0.0.1:0")
	host, port, _ := net.SplitHostPort(addr)
	connect := `"$SOCK" connect "$HOST" "$PORT"`
	for _, tc := range []struct{ name, script string }{
		{"stdin a file, stdout a late pipe", `{ ` + connect + ` < "$IN"; echo $? > "$RC"; } ` + lateReader},
		{"stdin a late pipe, stdout a late pipe", `(sleep 0.3; cat "$IN") | { ` + connect + `; echo $? > "$RC"; } ` + lateReader},
		{"stdin a late pipe, stdout a file", `(sleep 0.3; cat "$IN") | { ` + connect + ` > "$OUT"; echo $? > "$RC"; }`},
		{"stdout a file opened for append (>>)", `: > "$OUT"; ` + connect + ` < "$IN" >> "$OUT"; echo $? > "$RC"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newPipeRun(t)
			r.sh(tc.script, "HOST="+host, "PORT="+port)
			r.check()
		})
	}
}

// TestConnectReaderGone: when the reader of sock's stdout exits early
// (| head -c 1000), sock ends at once, as cat does (SIGPIPE, or an error
// exit), and does not hang.
func TestConnectReaderGone(t *testing.T) {
	_, addr, _ := startSock(t, "serve", "echo", "--addr", "127.0.0.1:0")
	host, port, _ := net.SplitHostPort(addr)
	r := newPipeRun(t)
	r.sh(`{ "$SOCK" connect "$HOST" "$PORT" < "$IN"; echo $? > "$RC"; } | head -c 1000 > "$OUT"`, "HOST="+host, "PORT="+port)
	rc, _ := os.ReadFile(r.rc)
	got, _ := os.ReadFile(r.out)
	if code := strings.TrimSpace(string(rc)); code == "0" || code == "" || len(got) != 1000 {
		t.Fatalf("sock exited %q after its reader left; the reader got %d bytes", code, len(got))
	}
}

// TestRelayStdioIntoLateReader: sock relay - tcp:HOST:PORT, its stdout a
// blocking pipe whose reader starts late.
func TestRelayStdioIntoLateReader(t *testing.T) {
	_, addr, _ := startSock(t, "serve", "echo", "--addr", "127.0.0.1:0")
	r := newPipeRun(t)
	r.sh(`{ "$SOCK" relay - "tcp:$ADDR" < "$IN"; echo $? > "$RC"; } `+lateReader, "ADDR="+addr)
	r.check()
}

// sendTo connects to addr once something listens there and sends the file
// in, then half-closes and waits for the other side to close.
func sendTo(t *testing.T, addr, in string) {
	t.Helper()
	waitListen(t, "tcp", addr)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(c, f); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(time.Minute))
	io.Copy(io.Discard, c)
}

// TestListenIntoLateReader: sock listen, its stdout a blocking pipe whose
// reader starts late, receives a client's 3,000,000 bytes.
func TestListenIntoLateReader(t *testing.T) {
	r := newPipeRun(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	host, port, _ := net.SplitHostPort(addr)
	done := make(chan error, 1)
	go func() {
		done <- r.run(`{ "$SOCK" listen "$HOST" "$PORT" < /dev/null; echo $? > "$RC"; } `+lateReader, "HOST="+host, "PORT="+port)
	}()
	sendTo(t, addr, r.in)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r.check()
}

// TestRecvIntoLateReader: sock recv -o -, its stdout a blocking pipe whose
// reader starts late, from sock send (verified) and from a raw sender.
func TestRecvIntoLateReader(t *testing.T) {
	for _, sender := range []string{"sock send", "raw"} {
		t.Run(sender, func(t *testing.T) {
			r := newPipeRun(t)
			addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			host, port, _ := net.SplitHostPort(addr)
			done := make(chan error, 1)
			go func() {
				done <- r.run(`{ "$SOCK" recv -q "$HOST" "$PORT" -o -; echo $? > "$RC"; } `+lateReader, "HOST="+host, "PORT="+port)
			}()
			if sender == "raw" {
				sendTo(t, addr, r.in)
			} else {
				waitListen(t, "tcp", addr)
				bin, _ := sockBinary()
				if out, err := exec.Command(bin, "send", "-q", r.in, host, port).CombinedOutput(); err != nil {
					t.Errorf("sock send: %v: %s", err, out)
				}
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			r.check()
		})
	}
}
