package cli

import (
	"errors"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socketkit/socketkit/cmd/sock/internal/sockdiag"
	"github.com/socketkit/socketkit/socket"
)

var nonblockingLesson = lesson{
	name:  "nonblocking",
	title: "setblocking(False): EAGAIN and EINPROGRESS instead of waiting",
	tutorial: "sk.setblocking(bool): 如果设置 False，那么 accept 和 recv 时一旦无数据，则报错\n" +
		"                (\"with False, accept and recv raise an error as soon as there is no data\")",
	python:  "sk.setblocking(False); sk.accept(); c.connect_ex(addr); select.select([], [c], []); c.recv(1024); c.send(data)",
	goCalls: "sk.SetBlocking(false); sk.Accept(); c.ConnectEx(addr); unix.Poll(POLLOUT); c.Recv(buf, 0); c.Send(data, 0)",
	run:     runNonblocking,
}

// NonblockingFacts is what the nonblocking lesson observed.
type NonblockingFacts struct {
	AcceptErrno  syscall.Errno // accept() with nobody waiting
	ConnectErrno syscall.Errno // connect_ex() of a non-blocking socket
	ConnectState sockdiag.State
	// PollOut: poll(POLLOUT) said the socket is writable, i.e. the connect
	// finished; SoError is SO_ERROR then (0: it succeeded).
	PollOut     bool
	SoError     syscall.Errno
	StateAfter  sockdiag.State
	RecvErrno   syscall.Errno // recv() with no data
	AcceptAfter bool          // accept() once a client is queued
	// Sends of 64 KiB until EAGAIN while nobody reads.
	SendCalls, SendTotal int
	SendErrno            syscall.Errno
	SendQ, RecvQ         uint32
}

func runNonblocking(lw *lessonWriter) (any, error) {
	f := &NonblockingFacts{}
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
	sk.SetBlocking(false)
	_, _, err = sk.Accept()
	f.AcceptErrno = errnoOf(err)
	lw.step("server: sk.setblocking(False); sk.accept() with nobody connecting: %s", errnoText(f.AcceptErrno))
	if f.AcceptErrno == syscall.EAGAIN {
		lw.step("        Python raises BlockingIOError: [Errno 11] Resource temporarily unavailable (EWOULDBLOCK is the same number)")
	}

	c, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		return f, err
	}
	defer c.Close()
	c.SetBlocking(false)
	f.ConnectErrno, err = c.ConnectEx(laddr)
	if err != nil {
		return f, err
	}
	if t, err := readTCP(); err == nil {
		f.ConnectState = t.of(c).State
	}
	lw.step("client: c.setblocking(False); c.connect_ex(addr) = %s; kernel: %s", errnoText(f.ConnectErrno), f.ConnectState)
	pfd := []unix.PollFd{{Fd: int32(c.Fd()), Events: unix.POLLOUT}}
	for {
		_, err := unix.Poll(pfd, 2000)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return f, err
		}
		break
	}
	f.PollOut = pfd[0].Revents&unix.POLLOUT != 0
	f.SoError = errnoOf(c.SocketError())
	t, err := readTCP()
	if err != nil {
		return f, err
	}
	f.StateAfter = t.of(c).State
	lw.step("client: select.select([], [c], []) (poll POLLOUT): writable %v; c.getsockopt(SOL_SOCKET, SO_ERROR) = %s; kernel: %s",
		f.PollOut, errnoText(f.SoError), f.StateAfter)

	_, err = c.Recv(make([]byte, 1024), 0)
	f.RecvErrno = errnoOf(err)
	lw.step("client: c.recv(1024) with nothing sent yet: %s", errnoText(f.RecvErrno))

	conn, _, err := sk.Accept()
	f.AcceptAfter = err == nil
	if err != nil {
		return f, err
	}
	defer conn.Close()
	lw.step("server: sk.accept() again, now that a client is queued: returned a connection at once")

	chunk := make([]byte, 64<<10)
	for f.SendCalls < 100000 {
		n, err := c.Send(chunk, 0)
		f.SendTotal += n
		if err != nil {
			f.SendErrno = errnoOf(err)
			if !errors.Is(err, syscall.EAGAIN) {
				return f, err
			}
			break
		}
		f.SendCalls++
	}
	// What the kernel holds: sent and unacknowledged, and arrived unread.
	waitUntil(lw.ctx, time.Second, func() (bool, error) {
		t, err := readTCP()
		if err != nil {
			return false, err
		}
		f.SendQ, f.RecvQ = t.of(c).SendQ, t.of(conn).RecvQ
		return int(f.SendQ)+int(f.RecvQ) == f.SendTotal, nil
	})
	lw.step("client: c.send(64 KiB) while nobody reads: %d calls took %s bytes, then %s",
		f.SendCalls, thousands(f.SendTotal), errnoText(f.SendErrno))
	lw.step("        kernel (NETLINK_SOCK_DIAG): client Send-Q %s + server Recv-Q %s",
		thousands(int(f.SendQ)), thousands(int(f.RecvQ)))
	lw.say("")
	lw.say("What this shows: a non-blocking call never waits. When it would have to, it fails with EAGAIN")
	lw.say("(accept, recv, send: \"try again later\"), and connect fails with EINPROGRESS while the handshake goes")
	lw.say("on; the program learns that it finished when select/poll/epoll says writable, and reads SO_ERROR to")
	lw.say("know how. Python raises BlockingIOError for both; connect_ex returns the number instead.")
	return f, nil
}
