//go:build linux

package cli_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/socketkit/socketkit/cmd/sock/internal/cli"
	"github.com/socketkit/socketkit/cmd/sock/internal/sockdiag"
	"github.com/socketkit/socketkit/internal/sockettest"
)

// runLesson runs one lesson in process and returns its facts and output.
func runLesson(t *testing.T, name string) (any, string) {
	t.Helper()
	var out bytes.Buffer
	start := time.Now()
	facts, err := cli.RunLesson(context.Background(), name, &out)
	t.Logf("lesson %s ran in %v\n%s", name, time.Since(start).Round(time.Millisecond), out.String())
	if err != nil {
		t.Fatalf("lesson %s: %v", name, err)
	}
	return facts, out.String()
}

// mustSay fails unless the lesson printed every one of wants.
func mustSay(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("the lesson does not print %q", w)
		}
	}
}

func errnoIs(err error, want syscall.Errno) bool { return errors.Is(err, want) }

func TestLessonBacklog(t *testing.T) {
	sockettest.LeakCheck(t)
	v, out := runLesson(t, "backlog")
	f := v.(*cli.BacklogFacts)
	if f.AcceptLimit != 5 || f.AcceptQueue != 6 {
		t.Errorf("listener Recv-Q/Send-Q = %d/%d; want 6 queued (backlog + 1) of limit 5", f.AcceptQueue, f.AcceptLimit)
	}
	for i, st := range f.State {
		want := sockdiag.ESTABLISHED
		if i >= 6 {
			want = sockdiag.SYN_SENT
		}
		if st != want {
			t.Errorf("client %d: state %v, want %v", i+1, st, want)
		}
	}
	for i, en := range f.ConnectErrno[:7] {
		if en != syscall.EINPROGRESS && en != 0 {
			t.Errorf("client %d: non-blocking connect_ex = %v", i+1, en)
		}
	}
	if f.ClientErrors != 0 {
		t.Errorf("%d clients saw an error; nobody is cut off", f.ClientErrors)
	}
	if f.Overflows < 2 {
		t.Errorf("ListenOverflows grew by %d, want at least the 2 dropped SYNs", f.Overflows)
	}
	if !errors.Is(f.TimeoutErr, os.ErrDeadlineExceeded) || f.TimeoutAfter < 1400*time.Millisecond {
		t.Errorf("the client with a 1.5 s timeout got %v after %v; want a timeout", f.TimeoutErr, f.TimeoutAfter)
	}
	if f.LateClient != 7 || len(f.LateRetries) == 0 {
		t.Errorf("after accept(): late client %d, SYN retries %v; want client 7 in after at least one retry", f.LateClient, f.LateRetries)
	}
	mustSay(t, out, "Recv-Q 6 ", "Send-Q 5 ", "client 7: c.connect_ex(addr) = ", "SYN_SENT", "timed out",
		fmt.Sprintf("TcpExtListenOverflows +%d", f.Overflows), "client 7: SYN retried at", "the kernel let 6 wait (backlog 5, + 1)")
	if sockettest.IsRoot() {
		a := f.Abort
		if a == nil {
			t.Fatalf("the tcp_abort_on_overflow part did not run as root: %s", f.AbortSkipped)
		}
		if a.SynSent != [2]int{2, 2} || a.SynReset != [2]int{0, 0} {
			t.Errorf("dropped SYNs: in SYN_SENT %v, reset %v; want 2 in SYN_SENT and no reset whatever the sysctl", a.SynSent, a.SynReset)
		}
		if a.LateQueued != [2]int{1, 1} || a.LateHalfOpen[0] != 2 || a.LateReset[0] != 0 || a.LateReset[1] != 2 || a.LateHalfOpen[1] != 0 {
			t.Errorf("late ACKs: queued %v half-open %v reset %v; want 1 queued, and 2 half-open with 0, 2 reset with 1",
				a.LateQueued, a.LateHalfOpen, a.LateReset)
		}
		if !errnoIs(a.LateResetErr, syscall.ECONNRESET) {
			t.Errorf("a reset client's recv got %v, want ECONNRESET", a.LateResetErr)
		}
		mustSay(t, out, "tcp_abort_on_overflow=1: clients 7-8 after a dropped SYN: 2 in SYN_SENT, 0 reset",
			"2 half-open (client ESTABLISHED, server SYN_RECV), 0 reset", "0 half-open (client ESTABLISHED, server SYN_RECV), 2 reset",
			"ECONNRESET (104")
	} else {
		if f.Abort != nil || f.AbortSkipped == "" {
			t.Error("the root part ran, or was skipped without a reason, as a normal user")
		}
		mustSay(t, out, "skipped: needs root")
	}
}

func TestLessonBoundaries(t *testing.T) {
	sockettest.LeakCheck(t)
	v, out := runLesson(t, "boundaries")
	f := v.(*cli.BoundariesFacts)
	if fmt.Sprint(f.TCPSends) != "[3 3 5]" || f.TCPQueued != 11 || fmt.Sprint(f.TCPRecvs) != "[11]" || f.TCPData != "onetwothree" {
		t.Errorf("TCP: sends %v, Recv-Q %d, recvs %v %q; want three sends read by one recv", f.TCPSends, f.TCPQueued, f.TCPRecvs, f.TCPData)
	}
	sum := 0
	for _, n := range f.BigRecvs {
		sum += n
		if n > 65536 {
			t.Errorf("recv(65536) returned %d", n)
		}
	}
	if sum != f.BigSend || len(f.BigRecvs) < 2 {
		t.Errorf("one send of %d read as %v", f.BigSend, f.BigRecvs)
	}
	if fmt.Sprint(f.UDPRecvs) != "[3 3 5]" {
		t.Errorf("UDP recvs %v, want one datagram each", f.UDPRecvs)
	}
	if f.TruncData != "thr" || !f.Trunc || f.AfterTrunc != "four" {
		t.Errorf("truncated datagram: %q trunc=%v next %q", f.TruncData, f.Trunc, f.AfterTrunc)
	}
	if f.SeqQueued != 11 || fmt.Sprint(f.SeqRecvs) != "[3 3 5]" {
		t.Errorf("SEQPACKET: Recv-Q %d recvs %v", f.SeqQueued, f.SeqRecvs)
	}
	if f.UStreamQueued != 11 || fmt.Sprint(f.UStreamRecvs) != "[11]" {
		t.Errorf("AF_UNIX stream: Recv-Q %d recvs %v", f.UStreamQueued, f.UStreamRecvs)
	}
	mustSay(t, out, "returned 3, 3, 5", "Recv-Q holds 11 bytes", `1 call: 11 bytes: "onetwothree"`,
		"recvfrom(1024) returned 3 calls: 3, 3, 5 bytes", `"thr", MSG_TRUNC true; the next recv gets "four"`,
		"SOCK_SEQPACKET: three send(); Recv-Q 11 bytes; recv(1024) returned 3 calls: 3, 3, 5 bytes",
		"c.sendall(100000 bytes), read with conn.recv(65536): "+fmt.Sprint(len(f.BigRecvs))+" calls")
}

func TestLessonPartialSend(t *testing.T) {
	sockettest.LeakCheck(t)
	v, out := runLesson(t, "partial-send")
	f := v.(*cli.PartialSendFacts)
	if f.FirstSend <= 0 || f.FirstSend >= f.Size {
		t.Errorf("send(%d) to a reader that does not read returned %d; want a partial send", f.Size, f.FirstSend)
	}
	if int(f.SendQ)+int(f.RecvQ) != f.FirstSend {
		t.Errorf("Send-Q %d + Recv-Q %d != %d sent", f.SendQ, f.RecvQ, f.FirstSend)
	}
	if f.SecondSend >= f.Size-f.FirstSend {
		t.Errorf("the second send took all the rest (%d)", f.SecondSend)
	}
	if f.FirstSend+f.SecondSend+f.LoopTotal != f.Size || f.LoopCalls < 1 {
		t.Errorf("first %d + second %d + loop %d (%d calls) != %d", f.FirstSend, f.SecondSend, f.LoopTotal, f.LoopCalls, f.Size)
	}
	if f.SendallN != f.Size || f.SendallErr != nil || f.ReaderBytes != 2*f.Size || !f.Intact {
		t.Errorf("sendall %d %v; reader got %d intact=%v", f.SendallN, f.SendallErr, f.ReaderBytes, f.Intact)
	}
	mustSay(t, out, "returned "+cli.Thousands(f.FirstSend)+":", fmt.Sprintf("it took %d send() calls", f.LoopCalls),
		"CRC-32 matches what was sent: true")
}

func TestLessonTimewait(t *testing.T) {
	sockettest.LeakCheck(t)
	v, out := runLesson(t, "timewait")
	f := v.(*cli.TimewaitFacts)
	c := f.ClientFirst
	if c.TimeWaitOnClientPort != 1 || c.TimeWaitOnServerPort != 0 || c.PlainErr != nil || c.ReuseErr != nil {
		t.Errorf("client closes first: %+v; want TIME_WAIT on the client's port and a free server port", c)
	}
	s := f.ServerFirst
	if s.TimeWaitOnServerPort != 1 || !errnoIs(s.PlainErr, syscall.EADDRINUSE) || !errnoIs(s.ReuseErr, syscall.EADDRINUSE) {
		t.Errorf("server closes first, no SO_REUSEADDR before: %+v; want TIME_WAIT on the server port and EADDRINUSE both times", s)
	}
	if s.Expires == 0 || s.Expires > 60000 {
		t.Errorf("TIME_WAIT expires in %d ms", s.Expires)
	}
	b := f.BothReuse
	if b.TimeWaitOnServerPort != 1 || !errnoIs(b.PlainErr, syscall.EADDRINUSE) || b.ReuseErr != nil || b.ReuseListenErr != nil {
		t.Errorf("both set SO_REUSEADDR: %+v; want EADDRINUSE without, success with", b)
	}
	if strings.Count(out, "EADDRINUSE (98, address already in use)") != 3 {
		t.Errorf("the lesson does not print EADDRINUSE exactly three times")
	}
	mustSay(t, out, fmt.Sprintf("TIME_WAIT 127.0.0.1:%d -> ", s.Port), "bind() = 0 (success), listen() = 0 (success)")
}

func TestLessonNonblocking(t *testing.T) {
	sockettest.LeakCheck(t)
	v, out := runLesson(t, "nonblocking")
	f := v.(*cli.NonblockingFacts)
	if f.AcceptErrno != syscall.EAGAIN || f.RecvErrno != syscall.EAGAIN || f.SendErrno != syscall.EAGAIN {
		t.Errorf("accept %v recv %v send %v; want EAGAIN each", f.AcceptErrno, f.RecvErrno, f.SendErrno)
	}
	if f.ConnectErrno != syscall.EINPROGRESS && f.ConnectErrno != 0 {
		t.Errorf("connect_ex = %v", f.ConnectErrno)
	}
	if !f.PollOut || f.SoError != 0 || f.StateAfter != sockdiag.ESTABLISHED || !f.AcceptAfter {
		t.Errorf("after the connect: writable %v SO_ERROR %v state %v accepted %v", f.PollOut, f.SoError, f.StateAfter, f.AcceptAfter)
	}
	if f.SendTotal <= 0 || int(f.SendQ)+int(f.RecvQ) != f.SendTotal {
		t.Errorf("sent %d, Send-Q %d + Recv-Q %d", f.SendTotal, f.SendQ, f.RecvQ)
	}
	mustSay(t, out, "sk.accept() with nobody connecting: EAGAIN (11,", "c.connect_ex(addr) = "+cli.ErrnoText(f.ConnectErrno),
		"SO_ERROR) = 0 (success); kernel: ESTABLISHED", "c.recv(1024) with nothing sent yet: EAGAIN (11,",
		fmt.Sprintf("%d calls took %s bytes, then EAGAIN", f.SendCalls, cli.Thousands(f.SendTotal)))
}

func TestLessonTimeout(t *testing.T) {
	sockettest.LeakCheck(t)
	v, out := runLesson(t, "timeout")
	f := v.(*cli.TimeoutFacts)
	if !errors.Is(f.AcceptErr, os.ErrDeadlineExceeded) || !errors.Is(f.RecvErr, os.ErrDeadlineExceeded) {
		t.Errorf("accept %v recv %v; want timeouts", f.AcceptErr, f.RecvErr)
	}
	if f.AcceptAfter < 450*time.Millisecond || f.RecvAfter < 450*time.Millisecond {
		t.Errorf("timed out after %v and %v; the timeout is 0.5 s", f.AcceptAfter, f.RecvAfter)
	}
	if f.StateAfter != sockdiag.ESTABLISHED || f.RecvNext != 2 || f.BlockingN != 4 || f.BlockingAfter < 250*time.Millisecond {
		t.Errorf("after the timeout: %v, recv %d; blocking recv %d after %v", f.StateAfter, f.RecvNext, f.BlockingN, f.BlockingAfter)
	}
	mustSay(t, out, "TimeoutError: timed out after", "still ESTABLISHED", "conn.recv(1024) = 2 bytes", "4 bytes after")
}

func TestLessonHalfclose(t *testing.T) {
	sockettest.LeakCheck(t)
	v, out := runLesson(t, "halfclose")
	f := v.(*cli.HalfcloseFacts)
	if fmt.Sprint(f.ServerRecvs) != "[7 0]" || f.ClientState != sockdiag.FIN_WAIT2 || f.ServerState != sockdiag.CLOSE_WAIT {
		t.Errorf("shutdown: server recvs %v, client %v, server %v", f.ServerRecvs, f.ClientState, f.ServerState)
	}
	if f.Reply != "reply" || f.ClientEOF != 0 || f.ClientFinal != sockdiag.TIME_WAIT {
		t.Errorf("shutdown: reply %q, EOF %d, final %v", f.Reply, f.ClientEOF, f.ClientFinal)
	}
	if fmt.Sprint(f.CloseServerRecvs) != "[7 0]" || f.CloseReply != 5 || f.CloseReplyErr != nil {
		t.Errorf("close: recvs %v, reply %d %v", f.CloseServerRecvs, f.CloseReply, f.CloseReplyErr)
	}
	if f.CloseStateAfter != 0 || !errnoIs(f.CloseSecondErr, syscall.EPIPE) {
		t.Errorf("close: server state %v after the reset, second send %v; want gone and EPIPE", f.CloseStateAfter, f.CloseSecondErr)
	}
	mustSay(t, out, "returned 7, 0", "client FIN_WAIT2, server CLOSE_WAIT", `c.recv(1024) = "reply"`,
		"kernel: client TIME_WAIT", "conn.send(b'reply') = 5", "server gone (CLOSED); the next conn.send(b'more'): EPIPE (32, broken pipe)")
}

func TestLessonConnectEx(t *testing.T) {
	sockettest.LeakCheck(t)
	v, out := runLesson(t, "connect-ex")
	f := v.(*cli.ConnectExFacts)
	want := map[string]syscall.Errno{
		"c.connect_ex(a port where nothing listens)":                syscall.ECONNREFUSED,
		"c.connect_ex(a listening port)":                            0,
		"c.connect_ex(...) again on the connected socket":           syscall.EISCONN,
		"c.setblocking(False); c.connect_ex(addr)":                  syscall.EINPROGRESS,
		"c.connect_ex(addr) again while the handshake goes on":      syscall.EALREADY,
		"AF_UNIX c.connect_ex('/tmp/.../missing.sock')":             syscall.ENOENT,
		"AF_UNIX c.connect_ex(a bound socket that does not listen)": syscall.ECONNREFUSED,
	}
	if sockettest.IsRoot() {
		want["c.connect_ex(('192.0.2.1', 80)) with no route (own netns)"] = syscall.ENETUNREACH
	} else if f.UnreachableSkipped == "" {
		t.Error("the unreachable row was neither run nor skipped with a reason")
	}
	got := map[string]syscall.Errno{}
	for _, r := range f.Rows {
		got[r.What] = r.Errno
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(r.What) + `\s+` + regexp.QuoteMeta(cli.ErrnoText(r.Errno)) + `\s+` + regexp.QuoteMeta(r.Windows) + `$`).MatchString(out) {
			t.Errorf("row %q = %v is not printed as observed", r.What, r.Errno)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d rows, want %d: %v", len(got), len(want), got)
	}
	for what, en := range want {
		if g, ok := got[what]; !ok || g != en {
			t.Errorf("%s = %v (present %v), want %v", what, g, ok, en)
		}
	}
	if int(syscall.ECONNREFUSED) != 111 {
		t.Fatal("this test assumes Linux's numbers")
	}
	mustSay(t, out, "ECONNREFUSED (111, connection refused)", "WSAECONNREFUSED 10061")
}

func TestDemoLessonsCommand(t *testing.T) {
	code, out, errs := run(t, "", "demo", "--list")
	if code != 0 {
		t.Fatalf("demo --list: %d %s", code, errs)
	}
	for _, name := range []string{"backlog", "boundaries", "partial-send", "timewait", "nonblocking", "timeout", "halfclose", "connect-ex"} {
		if !regexp.MustCompile(`(?m)^` + name + `\s+\S`).MatchString(out) {
			t.Errorf("demo --list lacks %s:\n%s", name, out)
		}
	}
	code, _, errs = run(t, "", "demo", "no-such-lesson")
	if code != cli.ExitUsage || !strings.Contains(errs, "no lesson") || !strings.Contains(errs, "backlog") {
		t.Errorf("demo no-such-lesson: exit %d, %q", code, errs)
	}
	code, out, _ = run(t, "", "demo", "boundaries")
	if code != 0 || !strings.Contains(out, "sock demo boundaries:") || !strings.Contains(out, "(lesson boundaries ran in") {
		t.Errorf("demo boundaries: exit %d\n%s", code, out)
	}
	// Plain "sock demo" is unchanged and ends by naming the lessons.
	code, out, errs = run(t, "", "demo", "--addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	if code != 0 || !strings.Contains(out, "sock demo backlog | boundaries | partial-send | timewait | nonblocking | timeout | halfclose | connect-ex") {
		t.Errorf("plain demo: exit %d %s; does not end by naming the lessons:\n%s", code, errs, out)
	}
}
