package cli

import (
	"syscall"
	"time"

	"github.com/socketkit/socketkit/cmd/sock/internal/sockdiag"
	"github.com/socketkit/socketkit/socket"
)

var halfcloseLesson = lesson{
	name:  "halfclose",
	title: "shutdown(SHUT_WR) vs close(): the other side can still send",
	tutorial: "sk.close(): 关闭套接字连接 (\"close the connection\"); the tutorial has no shutdown(), so a client\n" +
		"                that wants to say \"that was my whole request\" can only close, and loses the reply",
	python:  "c.sendall(b'request'); c.shutdown(socket.SHUT_WR); c.recv(1024)  vs  c.sendall(b'request'); c.close()",
	goCalls: "c.Sendall(req, 0); c.Shutdown(socket.SHUT_WR) (or c.CloseWrite()); c.Recv(buf, 0)  vs  c.Close()",
	run:     runHalfclose,
}

// HalfcloseFacts is what the halfclose lesson observed.
type HalfcloseFacts struct {
	// Shutdown: the client sends a request and shuts down its write side.
	// ServerRecvs are the server's recv results (the request, then 0:
	// end of stream); ClientState and ServerState the kernel's states
	// then; Reply what the client still received; ClientEOF the client's
	// recv after the server closed; ClientFinal its state then.
	ServerRecvs              []int
	ClientState, ServerState sockdiag.State
	Reply                    string
	ClientEOF                int
	ClientFinal              sockdiag.State
	// Close: the client closes instead. The server reads the request and
	// EOF the same way; its first reply send() still succeeds (CloseReply),
	// the client's kernel answers with a reset, and the next send fails
	// (CloseSecondErr).
	CloseServerRecvs []int
	CloseReply       int
	CloseReplyErr    error
	CloseStateAfter  sockdiag.State
	CloseSecondErr   error
}

func runHalfclose(lw *lessonWriter) (any, error) {
	f := &HalfcloseFacts{}
	req := []byte("request")
	buf := make([]byte, 1024)

	// 1. shutdown(SHUT_WR).
	c, conn, cleanup, err := lessonTCPPair()
	if err != nil {
		return f, err
	}
	defer cleanup()
	if _, err := c.Sendall(req, 0); err != nil {
		return f, err
	}
	if err := c.Shutdown(socket.SHUT_WR); err != nil {
		return f, err
	}
	for {
		n, err := conn.Recv(buf, 0)
		if err != nil {
			return f, err
		}
		f.ServerRecvs = append(f.ServerRecvs, n)
		if n == 0 {
			break
		}
	}
	if _, err := waitUntil(lw.ctx, 2*time.Second, func() (bool, error) {
		t, err := readTCP()
		if err != nil {
			return false, err
		}
		f.ClientState, f.ServerState = t.of(c).State, t.of(conn).State
		return f.ClientState == sockdiag.FIN_WAIT2 && f.ServerState == sockdiag.CLOSE_WAIT, nil
	}); err != nil {
		return f, err
	}
	lw.step("1. client: c.sendall(b'request'); c.shutdown(SHUT_WR)")
	lw.step("   server: conn.recv(1024) returned %s: the request, then b'' (end of stream)", intList(f.ServerRecvs))
	lw.step("   kernel (NETLINK_SOCK_DIAG): client %s, server %s: one direction is closed, the other is open",
		f.ClientState, f.ServerState)
	if _, err := conn.Sendall([]byte("reply"), 0); err != nil {
		return f, err
	}
	n, err := c.Recv(buf, 0)
	if err != nil {
		return f, err
	}
	f.Reply = string(buf[:n])
	conn.Close()
	if f.ClientEOF, err = c.Recv(buf, 0); err != nil {
		return f, err
	}
	waitUntil(lw.ctx, 2*time.Second, func() (bool, error) {
		t, err := readTCP()
		if err != nil {
			return false, err
		}
		f.ClientFinal = t.of(c).State
		return f.ClientFinal == sockdiag.TIME_WAIT || f.ClientFinal == 0, nil
	})
	if f.ClientFinal == 0 {
		// A socket in TIME_WAIT has handed its inode back; find it by port.
		if t, err := readTCP(); err == nil {
			ca, _ := c.Getsockname()
			for _, s := range t.onPort(inet4Port(ca)) {
				f.ClientFinal = s.State
			}
		}
	}
	lw.step("   server: conn.sendall(b'reply'); client: c.recv(1024) = %q: the client still receives", f.Reply)
	lw.step("   server: conn.close(); client: c.recv(1024) = %d bytes (end of stream); kernel: client %s", f.ClientEOF, stateText(sockdiag.Socket{State: f.ClientFinal}))

	// 2. close() instead.
	c2, conn2, cleanup2, err := lessonTCPPair()
	if err != nil {
		return f, err
	}
	defer cleanup2()
	if _, err := c2.Sendall(req, 0); err != nil {
		return f, err
	}
	c2.Close()
	for {
		n, err := conn2.Recv(buf, 0)
		if err != nil {
			return f, err
		}
		f.CloseServerRecvs = append(f.CloseServerRecvs, n)
		if n == 0 {
			break
		}
	}
	f.CloseReply, f.CloseReplyErr = conn2.Send([]byte("reply"), 0)
	// The client's kernel has no socket for it any more and answers RST.
	waitUntil(lw.ctx, 2*time.Second, func() (bool, error) {
		t, err := readTCP()
		if err != nil {
			return false, err
		}
		f.CloseStateAfter = t.of(conn2).State
		return f.CloseStateAfter != sockdiag.CLOSE_WAIT, nil
	})
	_, f.CloseSecondErr = conn2.Send([]byte("more"), 0)
	lw.step("2. client: c.sendall(b'request'); c.close()")
	lw.step("   server: conn.recv(1024) returned %s, the same as above", intList(f.CloseServerRecvs))
	lw.step("   server: conn.send(b'reply') = %d: the kernel took it, but the client's socket is gone and answers RST", f.CloseReply)
	lw.step("   kernel (NETLINK_SOCK_DIAG): server %s; the next conn.send(b'more'): %s",
		stateText(sockdiag.Socket{State: f.CloseStateAfter}), errnoText(errnoOf(f.CloseSecondErr)))
	if errnoOf(f.CloseSecondErr) == syscall.EPIPE {
		lw.step("   Python raises BrokenPipeError: [Errno 32] Broken pipe (and a C program gets SIGPIPE unless it uses MSG_NOSIGNAL)")
	}
	lw.say("")
	lw.say("What this shows: shutdown(SHUT_WR) sends FIN and nothing else: the peer's recv returns b'' (your")
	lw.say("request is complete) and the peer can still answer, which the half-closed side receives. close() ends")
	lw.say("both directions: an answer that arrives afterwards is answered with a reset, and the sender's next")
	lw.say("send fails with EPIPE. recv returning b'' means the peer will send nothing more, not that you must stop.")
	return f, nil
}

// tcpPair returns a connected client and server-side socket on loopback.
func lessonTCPPair() (c, conn *socket.Socket, cleanup func(), err error) {
	l, err := socket.CreateServer("127.0.0.1:0", nil)
	if err != nil {
		return nil, nil, nil, err
	}
	defer l.Close()
	laddr, _ := l.Getsockname()
	c, err = socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	c.SetTimeout(2 * time.Second)
	if err := c.Connect(laddr); err != nil {
		c.Close()
		return nil, nil, nil, err
	}
	l.SetTimeout(2 * time.Second)
	conn, _, err = l.Accept()
	if err != nil {
		c.Close()
		return nil, nil, nil, err
	}
	conn.SetTimeout(2 * time.Second)
	return c, conn, func() { c.Close(); conn.Close() }, nil
}
