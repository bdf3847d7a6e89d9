package cli

import (
	"errors"
	"os"
	"time"

	"github.com/socketkit/socketkit/cmd/sock/internal/sockdiag"
	"github.com/socketkit/socketkit/socket"
)

var timeoutLesson = lesson{
	name:  "timeout",
	title: "settimeout(0.5): calls give up after the timeout, and the socket lives on",
	tutorial: "sk.settimeout(timeout): 设置套接字操作的超时期，timeout 是一个浮点数，单位是秒。值为 None 表示没有超时期\n" +
		"                (\"the timeout of socket operations, in seconds; None means no timeout\")",
	python:  "sk.settimeout(0.5); sk.accept(); conn.recv(1024); conn.settimeout(None)",
	goCalls: "sk.SetTimeout(500*time.Millisecond); sk.Accept(); conn.Recv(buf, 0); conn.SetTimeout(0)",
	run:     runTimeout,
}

// TimeoutFacts is what the timeout lesson observed.
type TimeoutFacts struct {
	Timeout time.Duration
	// accept() with nobody connecting.
	AcceptErr   error
	AcceptAfter time.Duration
	// recv() on a connection whose peer sends nothing.
	RecvErr   error
	RecvAfter time.Duration
	// The connection's state after the timed-out recv, and what a recv got
	// once the peer sent 2 bytes.
	StateAfter sockdiag.State
	RecvNext   int
	// Blocking again (settimeout(None)): recv waited for a peer that sends
	// after 300 ms.
	BlockingN     int
	BlockingAfter time.Duration
}

func runTimeout(lw *lessonWriter) (any, error) {
	f := &TimeoutFacts{Timeout: 500 * time.Millisecond}
	sk, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		return f, err
	}
	defer sk.Close()
	if err := sk.Bind(loopback4()); err != nil {
		return f, err
	}
	if err := sk.Listen(5); err != nil {
		return f, err
	}
	laddr, _ := sk.Getsockname()
	sk.SetTimeout(f.Timeout)
	start := time.Now()
	_, _, f.AcceptErr = sk.Accept()
	f.AcceptAfter = time.Since(start)
	lw.step("server: sk.settimeout(0.5); sk.accept() with nobody connecting: %s after %s", timeoutText(f.AcceptErr), secText(f.AcceptAfter))

	c, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		return f, err
	}
	defer c.Close()
	c.SetTimeout(2 * time.Second)
	if err := c.Connect(laddr); err != nil {
		return f, err
	}
	conn, _, err := sk.Accept()
	if err != nil {
		return f, err
	}
	defer conn.Close()
	conn.SetTimeout(f.Timeout)
	buf := make([]byte, 1024)
	start = time.Now()
	_, f.RecvErr = conn.Recv(buf, 0)
	f.RecvAfter = time.Since(start)
	t, err := readTCP()
	if err != nil {
		return f, err
	}
	f.StateAfter = t.of(conn).State
	lw.step("server: conn.settimeout(0.5); conn.recv(1024), the client sends nothing: %s after %s", timeoutText(f.RecvErr), secText(f.RecvAfter))
	lw.step("        kernel (NETLINK_SOCK_DIAG): the connection is still %s: a timeout closes nothing", f.StateAfter)
	if _, err := c.Sendall([]byte("hi"), 0); err != nil {
		return f, err
	}
	if f.RecvNext, err = conn.Recv(buf, 0); err != nil {
		return f, err
	}
	lw.step("client: c.sendall(b'hi'); server: conn.recv(1024) = %d bytes: the same socket works on", f.RecvNext)

	conn.SetTimeout(0)
	sent := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond) // the peer is slow to answer
		_, err := c.Sendall([]byte("late"), 0)
		sent <- err
	}()
	start = time.Now()
	f.BlockingN, err = conn.Recv(buf, 0)
	f.BlockingAfter = time.Since(start)
	if err != nil {
		return f, err
	}
	if err := <-sent; err != nil {
		return f, err
	}
	lw.step("server: conn.settimeout(None); conn.recv(1024) waits as long as it takes: %d bytes after %s (the client sent after 0.3 s)",
		f.BlockingN, secText(f.BlockingAfter))
	lw.say("")
	lw.say("What this shows: a timeout is not an error of the connection or of the kernel (there is no errno):")
	lw.say("the call stopped waiting. Python raises TimeoutError (socket.timeout), Go returns an error matching")
	lw.say("os.ErrDeadlineExceeded. The socket stays usable; settimeout(None) waits forever, settimeout(0) is")
	lw.say("setblocking(False). Without any timeout a recv from a peer that never sends blocks for ever.")
	return f, nil
}

// timeoutText says what a call with a timeout ended with.
func timeoutText(err error) string {
	switch {
	case err == nil:
		return "returned"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "TimeoutError: timed out"
	default:
		return shortErr(err)
	}
}
