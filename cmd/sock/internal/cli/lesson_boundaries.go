package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/socketkit/socketkit/cmd/sock/internal/sockdiag"
	"github.com/socketkit/socketkit/socket"
)

var boundariesLesson = lesson{
	name:  "boundaries",
	title: "three sends, how many recvs? TCP vs UDP vs SOCK_SEQPACKET",
	tutorial: "SOCK_STREAM 流式 socket, for TCP; SOCK_DGRAM 数据报式 socket, for UDP; SOCK_SEQPACKET 可靠的连续数据包服务\n" +
		"                and sk.recv(bufsize) \"接受套接字的数据\": one recv per message is what the examples suggest",
	python:  "c.send(b'one'); c.send(b'two'); c.send(b'three'); conn.recv(1024)",
	goCalls: "c.Send([]byte(\"one\"), 0) x3; conn.Recv(buf[:1024], 0)",
	run:     runBoundaries,
}

// BoundariesFacts is what the boundaries lesson observed.
type BoundariesFacts struct {
	Messages []string
	// TCP: what each send returned, the receiver's Recv-Q before it read,
	// and what each recv(1024) returned until all had arrived.
	TCPSends  []int
	TCPQueued uint32
	TCPRecvs  []int
	TCPData   string
	// One big send read with recv(65536): how many calls it took.
	BigSend  int
	BigRecvs []int
	// UDP: what each recvfrom(1024) returned; then a 5-byte datagram read
	// with a 3-byte buffer: the bytes it got, whether MSG_TRUNC was set, and
	// what the next recv got.
	UDPRecvs   []int
	TruncData  string
	Trunc      bool
	AfterTrunc string
	// AF_UNIX SOCK_SEQPACKET and SOCK_STREAM socket pairs: Recv-Q before the
	// reads, and what each recv(1024) returned.
	SeqQueued     uint32
	SeqRecvs      []int
	UStreamQueued uint32
	UStreamRecvs  []int
}

func runBoundaries(lw *lessonWriter) (any, error) {
	f := &BoundariesFacts{Messages: []string{"one", "two", "three"}}
	total := 0
	for _, m := range f.Messages {
		total += len(m)
	}
	buf := make([]byte, 1024)

	// TCP.
	l, err := socket.CreateServer("127.0.0.1:0", nil)
	if err != nil {
		return f, err
	}
	defer l.Close()
	laddr, _ := l.Getsockname()
	c, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		return f, err
	}
	defer c.Close()
	c.SetTimeout(2 * time.Second)
	if err := c.Connect(laddr); err != nil {
		return f, err
	}
	l.SetTimeout(2 * time.Second)
	conn, _, err := l.Accept()
	if err != nil {
		return f, err
	}
	defer conn.Close()
	conn.SetTimeout(2 * time.Second)
	for _, m := range f.Messages {
		n, err := c.Send([]byte(m), 0)
		if err != nil {
			return f, err
		}
		f.TCPSends = append(f.TCPSends, n)
	}
	// Wait until all of it has arrived, as a reader that is a little late.
	if _, err := waitUntil(lw.ctx, 2*time.Second, func() (bool, error) {
		t, err := readTCP()
		if err != nil {
			return false, err
		}
		f.TCPQueued = t.of(conn).RecvQ
		return int(f.TCPQueued) >= total, nil
	}); err != nil {
		return f, err
	}
	got := 0
	var data strings.Builder
	for got < total {
		n, err := conn.Recv(buf, 0)
		if err != nil {
			return f, err
		}
		if n == 0 {
			break
		}
		got += n
		data.Write(buf[:n])
		f.TCPRecvs = append(f.TCPRecvs, n)
	}
	f.TCPData = data.String()
	lw.step("TCP:  c.send(b'one'), c.send(b'two'), c.send(b'three') returned %s", intList(f.TCPSends))
	lw.step("      kernel (NETLINK_SOCK_DIAG): the receiver's Recv-Q holds %d bytes", f.TCPQueued)
	lw.step("      conn.recv(1024) returned %s: %q", callsList(f.TCPRecvs), f.TCPData)

	// One big send, read with a 64 KiB buffer.
	big := make([]byte, 100000)
	f.BigSend = len(big)
	sent := make(chan error, 1)
	go func() { _, err := c.Sendall(big, 0); sent <- err }()
	got = 0
	rb := make([]byte, 65536)
	for got < len(big) {
		n, err := conn.Recv(rb, 0)
		if err != nil {
			return f, err
		}
		if n == 0 {
			break
		}
		got += n
		f.BigRecvs = append(f.BigRecvs, n)
	}
	if err := <-sent; err != nil {
		return f, err
	}
	lw.step("      c.sendall(100000 bytes), read with conn.recv(65536): %s", callsList(f.BigRecvs))

	// UDP.
	u1, err := socket.New(socket.AF_INET, socket.SOCK_DGRAM, 0)
	if err != nil {
		return f, err
	}
	defer u1.Close()
	u2, err := socket.New(socket.AF_INET, socket.SOCK_DGRAM, 0)
	if err != nil {
		return f, err
	}
	defer u2.Close()
	if err := u1.Bind(loopback4()); err != nil {
		return f, err
	}
	u1.SetTimeout(2 * time.Second)
	uaddr, _ := u1.Getsockname()
	for _, m := range f.Messages {
		if _, err := u2.Sendto([]byte(m), 0, uaddr); err != nil {
			return f, err
		}
	}
	for range f.Messages {
		n, _, err := u1.Recvfrom(buf, 0)
		if err != nil {
			return f, err
		}
		f.UDPRecvs = append(f.UDPRecvs, n)
	}
	lw.step("UDP:  three sendto(); s.recvfrom(1024) returned %s: one datagram per call", callsList(f.UDPRecvs))
	u2.Sendto([]byte("three"), 0, uaddr)
	u2.Sendto([]byte("four"), 0, uaddr)
	small := make([]byte, 3)
	n, _, rflags, _, err := u1.Recvmsg(small, nil, 0)
	if err != nil {
		return f, err
	}
	f.TruncData, f.Trunc = string(small[:n]), rflags&socket.MSG_TRUNC != 0
	n, _, err = u1.Recvfrom(buf, 0)
	if err != nil {
		return f, err
	}
	f.AfterTrunc = string(buf[:n])
	lw.step("      b'three' read with s.recvmsg(3): %q, MSG_TRUNC %v; the next recv gets %q: the rest is gone",
		f.TruncData, f.Trunc, f.AfterTrunc)

	// AF_UNIX SOCK_SEQPACKET and SOCK_STREAM.
	pair := func(t socket.Type) (queued uint32, recvs []int, err error) {
		a, b, err := socket.Socketpair(socket.AF_UNIX, t, 0)
		if err != nil {
			return 0, nil, err
		}
		defer a.Close()
		defer b.Close()
		b.SetTimeout(2 * time.Second)
		for _, m := range f.Messages {
			if _, err := a.Send([]byte(m), 0); err != nil {
				return 0, nil, err
			}
		}
		ino := inodeOf(b)
		if _, err := waitUntil(lw.ctx, 2*time.Second, func() (bool, error) {
			ss, err := sockdiag.Dump(sockdiag.Request{Unix: true}, false)
			for _, s := range ss {
				if s.Inode == ino {
					queued = s.RecvQ
				}
			}
			return int(queued) >= total, err
		}); err != nil {
			return 0, nil, err
		}
		for got := 0; got < total; {
			n, err := b.Recv(buf, 0)
			if err != nil || n == 0 {
				return queued, recvs, err
			}
			got += n
			recvs = append(recvs, n)
		}
		return queued, recvs, nil
	}
	if f.SeqQueued, f.SeqRecvs, err = pair(socket.SOCK_SEQPACKET); err != nil {
		return f, err
	}
	if f.UStreamQueued, f.UStreamRecvs, err = pair(socket.SOCK_STREAM); err != nil {
		return f, err
	}
	lw.step("AF_UNIX SOCK_SEQPACKET: three send(); Recv-Q %d bytes; recv(1024) returned %s", f.SeqQueued, callsList(f.SeqRecvs))
	lw.step("AF_UNIX SOCK_STREAM:    three send(); Recv-Q %d bytes; recv(1024) returned %s", f.UStreamQueued, callsList(f.UStreamRecvs))

	lw.say("")
	lw.say("What this shows: a stream (TCP, AF_UNIX SOCK_STREAM) is a pipe of bytes with no message boundaries:")
	lw.say("one recv returned what %s had queued, and one big send needed %s. A recv returns",
		countOf(len(f.Messages), "send", "sends"), countOf(len(f.BigRecvs), "recv", "recvs"))
	lw.say("whatever is there, up to bufsize. Datagrams (UDP) and SOCK_SEQPACKET keep each message whole, one")
	lw.say("per recv, and a datagram longer than the buffer is cut (MSG_TRUNC). So a TCP program needs framing:")
	lw.say("a length prefix, a delimiter such as \\n, or the peer's close (recv returns b'').")
	return f, nil
}

// ints prints a list of ints as "3, 3, 5".
func intList(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

// callsList prints recv results: "1 call: 11 bytes" or "3 calls: 3, 3, 5 bytes".
func callsList(v []int) string {
	return fmt.Sprintf("%s: %s bytes", countOf(len(v), "call", "calls"), intList(v))
}
