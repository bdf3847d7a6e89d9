//go:build linux

package socket_test

// The port of CPython 3.11's sendmsg()/recvmsg() test classes
// (Lib/test/test_socket.py): SendmsgTests, SendmsgStreamTests,
// SendmsgConnectionlessTests, RecvmsgGenericTests,
// RecvmsgGenericStreamTests, RecvmsgTests, RecvmsgIntoTests and
// CmsgMacroTests. CPython runs each generic method over several socket
// kinds (SendmsgUDPTest, SendmsgTCPTest, RecvmsgUnixStreamTest...); each Go
// test runs the method over the same kinds as subtests. recvmsg_into is
// Recvmsg here (one buffer), so the RecvmsgInto* classes add no run.

import (
	"bytes"
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

// msgKind is one of CPython's concrete sendmsg/recvmsg classes.
type msgKind struct {
	name   string
	family socket.Family
	typ    socket.Type
	proto  socket.Protocol
}

var (
	dgramMsgKinds = []msgKind{
		{"UDP", socket.AF_INET, socket.SOCK_DGRAM, 0},
		{"UDP6", socket.AF_INET6, socket.SOCK_DGRAM, 0},
		{"UDPLITE", socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDPLITE},
		{"UDPLITE6", socket.AF_INET6, socket.SOCK_DGRAM, socket.IPPROTO_UDPLITE},
	}
	streamMsgKinds = []msgKind{
		{"TCP", socket.AF_INET, socket.SOCK_STREAM, 0},
		{"UnixStream", socket.AF_UNIX, socket.SOCK_STREAM, 0},
	}
	allMsgKinds = append(append([]msgKind{}, dgramMsgKinds...), streamMsgKinds...)
)

// msgPair is SendrecvmsgBase's view of a kind's sockets: serv receives,
// cli sends; cliAddr and servAddr are their addresses.
type msgPair struct {
	kind              msgKind
	serv, cli         *socket.Socket
	servAddr, cliAddr socket.Sockaddr
}

func (k msgKind) dgram() bool { return k.typ == socket.SOCK_DGRAM }

func (k msgKind) bindAddr(t *testing.T) socket.Sockaddr {
	switch k.family {
	case socket.AF_INET:
		return loop4
	case socket.AF_INET6:
		return loop6(t)
	}
	return &socket.UnixAddr{Path: sockettest.UnixPath(t, "s.sock")}
}

// setup builds the kind's sockets as CPython's fixtures do: two bound
// datagram sockets, or a connected stream whose accepted end is serv. The
// server's socket gets SendrecvmsgServerTimeoutBase's timeout, so that a
// failing test does not hang.
func (k msgKind) setup(t *testing.T) *msgPair {
	t.Helper()
	mk := func() *socket.Socket {
		s, err := socket.New(k.family, k.typ, k.proto)
		if err != nil {
			t.Skipf("%s: %v", k.name, err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	p := &msgPair{kind: k}
	srv := mk()
	if err := srv.Bind(k.bindAddr(t)); err != nil {
		t.Fatal(err)
	}
	p.servAddr = sockname(t, srv)
	p.cli = mk()
	if k.dgram() {
		if err := p.cli.Bind(k.bindAddr(t)); err != nil {
			t.Fatal(err)
		}
		p.serv = srv
	} else {
		if err := srv.Listen(5); err != nil {
			t.Fatal(err)
		}
		if err := p.cli.Connect(p.servAddr); err != nil {
			t.Fatal(err)
		}
		conn, _, err := srv.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		p.serv = conn
	}
	p.cliAddr = sockname(t, p.cli)
	p.serv.SetTimeout(pyTimeout)
	return p
}

// to is the destination sendmsg needs: the server's address for a
// datagram socket, none for a connected one.
func (p *msgPair) to() socket.Sockaddr {
	if p.kind.dgram() {
		return p.servAddr
	}
	return nil
}

// sendToServer is SendrecvmsgBase.sendToServer.
func (p *msgPair) sendToServer(t *testing.T, msg []byte) {
	t.Helper()
	var err error
	if p.kind.dgram() {
		_, err = p.cli.Sendto(msg, 0, p.servAddr)
	} else {
		_, err = p.cli.Send(msg, 0)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// sendmsgToServer is SendrecvmsgBase.sendmsgToServer.
func (p *msgPair) sendmsgToServer(bufs [][]byte, oob []byte, flags socket.MsgFlag) (int, error) {
	return p.cli.Sendmsg(bufs, oob, flags, p.to())
}

// recvResult is what recvmsg returns: data, ancillary data, flags, address.
type recvResult struct {
	msg     []byte
	ancdata []socket.ControlMessage
	flags   socket.MsgFlag
	addr    socket.Sockaddr
}

// doRecvmsg is SendrecvmsgBase.doRecvmsg: recvmsg(bufsize, ancbufsize,
// flags).
func doRecvmsg(t *testing.T, s *socket.Socket, bufsize, ancbufsize int, flags socket.MsgFlag) recvResult {
	t.Helper()
	buf := make([]byte, bufsize)
	oob := make([]byte, ancbufsize)
	n, oobn, rflags, from, err := s.Recvmsg(buf, oob, flags)
	if err != nil {
		t.Fatalf("Recvmsg: %v", err)
	}
	msgs, err := socket.ParseControlMessages(oob[:oobn])
	if err != nil {
		t.Fatalf("ParseControlMessages: %v", err)
	}
	return recvResult{buf[:n], msgs, rflags, from}
}

// checkAddr is checkRecvmsgAddress: the sender's address for a datagram
// socket, nothing for a connected one.
func (p *msgPair) checkAddr(t *testing.T, addr socket.Sockaddr) {
	t.Helper()
	if p.kind.dgram() && (addr == nil || addr.String() != p.cliAddr.String()) {
		t.Fatalf("from %v; want %v", addr, p.cliAddr)
	}
}

// checkFlags is SendrecvmsgBase.checkFlags: MSG_CTRUNC and MSG_OOB unset
// unless asked, and for a datagram socket MSG_TRUNC set exactly when the
// message was cut (eor false). eor nil checks no end-of-record bit.
func (p *msgPair) checkFlags(t *testing.T, flags socket.MsgFlag, eor *bool, checkset, checkunset, ignore socket.MsgFlag) {
	t.Helper()
	defaultset, defaultunset := socket.MsgFlag(0), socket.MSG_CTRUNC|socket.MSG_OOB
	var nonEOR socket.MsgFlag
	if p.kind.dgram() {
		nonEOR = socket.MSG_TRUNC
	}
	if eor != nil {
		if *eor {
			defaultunset |= nonEOR
		} else {
			defaultset |= nonEOR
		}
	}
	defaultset &^= checkunset
	defaultunset &^= checkset
	checkset |= defaultset
	checkunset |= defaultunset
	if both := checkset & checkunset &^ ignore; both != 0 {
		t.Fatalf("contradictory flag requirements %v", both)
	}
	mask := (checkset | checkunset) &^ ignore
	if flags&mask != checkset&mask {
		t.Fatalf("flags %v; want %v set and %v unset", flags, checkset&mask, checkunset&mask)
	}
}

var (
	eorTrue  = func() *bool { b := true; return &b }()
	eorFalse = func() *bool { b := false; return &b }()
)

// runKinds runs f over each kind as a subtest named after CPython's class.
func runKinds(t *testing.T, prefix string, kinds []msgKind, f func(t *testing.T, p *msgPair)) {
	for _, k := range kinds {
		t.Run(prefix+k.name+"Test", func(t *testing.T) { f(t, k.setup(t)) })
	}
}

// recvMSG receives MSG on the server's socket.
func (p *msgPair) recvMSG(t *testing.T) {
	t.Helper()
	buf := make([]byte, len(pyMSG))
	n, err := p.serv.Recv(buf, socket.MSG_WAITALL)
	if err != nil || !bytes.Equal(buf[:n], pyMSG) {
		t.Fatalf("Recv = %q, %v", buf[:n], err)
	}
}

func TestSendmsgTests_testSendmsg(t *testing.T) {
	runKinds(t, "Sendmsg", allMsgKinds, func(t *testing.T, p *msgPair) {
		if n, err := p.sendmsgToServer([][]byte{pyMSG}, nil, 0); err != nil || n != len(pyMSG) {
			t.Fatalf("Sendmsg = %d, %v", n, err)
		}
		p.recvMSG(t)
	})
}

func TestSendmsgTests_testSendmsgGather(t *testing.T) {
	runKinds(t, "Sendmsg", allMsgKinds, func(t *testing.T, p *msgPair) {
		if n, err := p.sendmsgToServer([][]byte{pyMSG[:3], pyMSG[3:]}, nil, 0); err != nil || n != len(pyMSG) {
			t.Fatalf("Sendmsg = %d, %v", n, err)
		}
		p.recvMSG(t)
	})
}

func TestSendmsgTests_testSendmsgBadCmsg(t *testing.T) {
	// Python rejects ancillary items that are not (int, int, bytes)
	// tuples with TypeError before any system call; here ancillary data is
	// bytes, and a malformed control message (a length that runs past the
	// buffer, or shorter than the header) is refused by the kernel with
	// EINVAL and sends nothing. (A buffer too short to hold a header is
	// ignored by the kernel, as CMSG_FIRSTHDR finds nothing in it.)
	runKinds(t, "Sendmsg", allMsgKinds, func(t *testing.T, p *msgPair) {
		good := socket.AppendControlMessage(nil, socket.SOL_SOCKET, socket.SCM_RIGHTS, []byte{0, 0, 0, 0})
		long := append([]byte{}, good...)
		long[0] = 200 // cmsg_len past the end
		short := append([]byte{}, good...)
		short[0] = 3 // cmsg_len shorter than the header
		for _, oob := range [][]byte{long, short} {
			if n, err := p.sendmsgToServer([][]byte{pyMSG}, oob, 0); err == nil {
				t.Fatalf("Sendmsg with a malformed control message sent %d bytes", n)
			} else if !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("Sendmsg with a malformed control message: %v; want EINVAL", err)
			}
		}
		p.sendToServer(t, []byte("done"))
		buf := make([]byte, 1000)
		if n, err := p.serv.Recv(buf, 0); err != nil || string(buf[:n]) != "done" {
			t.Fatalf("Recv = %q, %v; want only \"done\"", buf[:n], err)
		}
	})
}

func TestSendmsgTests_testSendmsgBadMultiCmsg(t *testing.T) {
	// Two control messages, the second malformed: EINVAL, nothing sent.
	runKinds(t, "Sendmsg", allMsgKinds, func(t *testing.T, p *msgPair) {
		oob := socket.AppendControlMessage(nil, socket.SOL_SOCKET, socket.SCM_RIGHTS, nil)
		second := socket.AppendControlMessage(nil, socket.SOL_SOCKET, socket.SCM_RIGHTS, nil)
		second[0] = 100
		oob = append(oob, second...)
		if n, err := p.sendmsgToServer([][]byte{pyMSG}, oob, 0); !errors.Is(err, syscall.EINVAL) {
			t.Fatalf("Sendmsg = %d, %v; want EINVAL", n, err)
		}
		p.sendToServer(t, []byte("done"))
		buf := make([]byte, 1000)
		if n, err := p.serv.Recv(buf, 0); err != nil || string(buf[:n]) != "done" {
			t.Fatalf("Recv = %q, %v; want only \"done\"", buf[:n], err)
		}
	})
}

func TestSendmsgTests_testSendmsgAfterClose(t *testing.T) {
	runKinds(t, "Sendmsg", allMsgKinds, func(t *testing.T, p *msgPair) {
		p.cli.Close()
		if _, err := p.sendmsgToServer([][]byte{pyMSG}, nil, 0); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Sendmsg after Close: %v; want net.ErrClosed", err)
		}
	})
}

func TestSendmsgStreamTests_testSendmsgExplicitNoneAddr(t *testing.T) {
	runKinds(t, "Sendmsg", streamMsgKinds, func(t *testing.T, p *msgPair) {
		if n, err := p.cli.Sendmsg([][]byte{pyMSG}, nil, 0, nil); err != nil || n != len(pyMSG) {
			t.Fatalf("Sendmsg(to nil) = %d, %v", n, err)
		}
		p.recvMSG(t)
	})
}

func TestSendmsgStreamTests_testSendmsgTimeout(t *testing.T) {
	runKinds(t, "Sendmsg", streamMsgKinds, func(t *testing.T, p *msgPair) {
		p.cli.SetTimeout(30 * time.Millisecond)
		chunk := [][]byte{bytes.Repeat([]byte("a"), 512)}
		for i := 0; ; i++ {
			_, err := p.sendmsgToServer(chunk, nil, 0)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil || i > 1<<16 {
				t.Fatalf("Sendmsg %d into a full buffer: %v; want a timeout", i, err)
			}
		}
		buf := make([]byte, 512)
		if n, err := p.serv.Recv(buf, socket.MSG_WAITALL); err != nil || !bytes.Equal(buf[:n], chunk[0]) {
			t.Fatalf("Recv = %q, %v", buf[:n], err)
		}
	})
}

func TestSendmsgStreamTests_testSendmsgDontWait(t *testing.T) {
	runKinds(t, "Sendmsg", streamMsgKinds, func(t *testing.T, p *msgPair) {
		chunk := [][]byte{bytes.Repeat([]byte("a"), 512)}
		for i := 0; ; i++ {
			_, err := p.sendmsgToServer(chunk, nil, socket.MSG_DONTWAIT)
			if err != nil {
				if !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.ENOMEM) {
					t.Fatalf("Sendmsg(MSG_DONTWAIT) into a full buffer: %v; want EAGAIN", err)
				}
				break
			}
			if i > 1<<16 {
				t.Fatal("Sendmsg(MSG_DONTWAIT) never filled the buffer")
			}
		}
		buf := make([]byte, 512)
		if n, err := p.serv.Recv(buf, socket.MSG_WAITALL); err != nil || !bytes.Equal(buf[:n], chunk[0]) {
			t.Fatalf("Recv = %q, %v", buf[:n], err)
		}
	})
}

func TestSendmsgConnectionlessTests_testSendmsgNoDestAddr(t *testing.T) {
	runKinds(t, "Sendmsg", dgramMsgKinds, func(t *testing.T, p *msgPair) {
		if _, err := p.cli.Sendmsg([][]byte{pyMSG}, nil, 0, nil); err == nil {
			t.Fatal("Sendmsg without an address on an unconnected datagram socket succeeded")
		} else if !errors.Is(err, syscall.EDESTADDRREQ) {
			t.Fatalf("Sendmsg without an address: %v; want EDESTADDRREQ", err)
		}
	})
}

// recvmsgKinds are the Recvmsg*Test classes: every datagram and stream kind.
var recvmsgKinds = allMsgKinds

func TestRecvmsgGenericTests_testRecvmsg(t *testing.T) {
	runKinds(t, "Recvmsg", recvmsgKinds, func(t *testing.T, p *msgPair) {
		p.sendToServer(t, pyMSG)
		r := doRecvmsg(t, p.serv, len(pyMSG), 0, 0)
		p.checkFull(t, r, eorTrue)
	})
}

// checkFull checks a result that should be MSG with no ancillary data.
func (p *msgPair) checkFull(t *testing.T, r recvResult, eor *bool) {
	t.Helper()
	if !bytes.Equal(r.msg, pyMSG) {
		t.Fatalf("msg %q; want %q", r.msg, pyMSG)
	}
	p.checkAddr(t, r.addr)
	if len(r.ancdata) != 0 {
		t.Fatalf("ancdata %v", r.ancdata)
	}
	p.checkFlags(t, r.flags, eor, 0, 0, 0)
}

func TestRecvmsgGenericTests_testRecvmsgExplicitDefaults(t *testing.T) {
	runKinds(t, "Recvmsg", recvmsgKinds, func(t *testing.T, p *msgPair) {
		p.sendToServer(t, pyMSG)
		p.checkFull(t, doRecvmsg(t, p.serv, len(pyMSG), 0, 0), eorTrue)
	})
}

func TestRecvmsgGenericTests_testRecvmsgShorter(t *testing.T) {
	runKinds(t, "Recvmsg", recvmsgKinds, func(t *testing.T, p *msgPair) {
		p.sendToServer(t, pyMSG)
		p.checkFull(t, doRecvmsg(t, p.serv, len(pyMSG)+42, 0, 0), eorTrue)
	})
}

func TestRecvmsgGenericTests_testRecvmsgTrunc(t *testing.T) {
	runKinds(t, "Recvmsg", recvmsgKinds, func(t *testing.T, p *msgPair) {
		p.sendToServer(t, pyMSG)
		r := doRecvmsg(t, p.serv, len(pyMSG)-3, 0, 0)
		if !bytes.Equal(r.msg, pyMSG[:len(pyMSG)-3]) || len(r.ancdata) != 0 {
			t.Fatalf("msg %q ancdata %v", r.msg, r.ancdata)
		}
		p.checkAddr(t, r.addr)
		p.checkFlags(t, r.flags, eorFalse, 0, 0, 0)
	})
}

func TestRecvmsgGenericTests_testRecvmsgShortAncillaryBuf(t *testing.T) {
	runKinds(t, "Recvmsg", recvmsgKinds, func(t *testing.T, p *msgPair) {
		p.sendToServer(t, pyMSG)
		p.checkFull(t, doRecvmsg(t, p.serv, len(pyMSG), 1, 0), eorTrue)
	})
}

func TestRecvmsgGenericTests_testRecvmsgLongAncillaryBuf(t *testing.T) {
	runKinds(t, "Recvmsg", recvmsgKinds, func(t *testing.T, p *msgPair) {
		p.sendToServer(t, pyMSG)
		p.checkFull(t, doRecvmsg(t, p.serv, len(pyMSG), 10240, 0), eorTrue)
	})
}

func TestRecvmsgGenericTests_testRecvmsgAfterClose(t *testing.T) {
	runKinds(t, "Recvmsg", recvmsgKinds, func(t *testing.T, p *msgPair) {
		p.serv.Close()
		if _, _, _, _, err := p.serv.Recvmsg(make([]byte, 1024), nil, 0); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Recvmsg after Close: %v; want net.ErrClosed", err)
		}
	})
}

func TestRecvmsgGenericTests_testRecvmsgTimeout(t *testing.T) {
	runKinds(t, "Recvmsg", recvmsgKinds, func(t *testing.T, p *msgPair) {
		p.serv.SetTimeout(30 * time.Millisecond)
		_, _, _, _, err := p.serv.Recvmsg(make([]byte, len(pyMSG)), nil, 0)
		var ne net.Error
		if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("Recvmsg past its timeout: %v; want a timeout", err)
		}
	})
}

func TestRecvmsgGenericTests_testRecvmsgPeek(t *testing.T) {
	runKinds(t, "Recvmsg", recvmsgKinds, func(t *testing.T, p *msgPair) {
		p.sendToServer(t, pyMSG)
		r := doRecvmsg(t, p.serv, len(pyMSG)-3, 0, socket.MSG_PEEK)
		if !bytes.Equal(r.msg, pyMSG[:len(pyMSG)-3]) || len(r.ancdata) != 0 {
			t.Fatalf("peek msg %q ancdata %v", r.msg, r.ancdata)
		}
		p.checkAddr(t, r.addr)
		p.checkFlags(t, r.flags, eorFalse, 0, 0, socket.MSG_TRUNC)
		p.checkFull(t, doRecvmsg(t, p.serv, len(pyMSG), 0, socket.MSG_PEEK), eorTrue)
		p.checkFull(t, doRecvmsg(t, p.serv, len(pyMSG), 0, 0), eorTrue)
	})
}

func TestRecvmsgGenericTests_testRecvmsgFromSendmsg(t *testing.T) {
	runKinds(t, "Recvmsg", recvmsgKinds, func(t *testing.T, p *msgPair) {
		if n, err := p.sendmsgToServer([][]byte{pyMSG[:3], pyMSG[3:]}, nil, 0); err != nil || n != len(pyMSG) {
			t.Fatalf("Sendmsg = %d, %v", n, err)
		}
		p.checkFull(t, doRecvmsg(t, p.serv, len(pyMSG), 0, 0), eorTrue)
	})
}

func TestRecvmsgGenericStreamTests_testRecvmsgEOF(t *testing.T) {
	runKinds(t, "Recvmsg", streamMsgKinds, func(t *testing.T, p *msgPair) {
		p.cli.Close()
		r := doRecvmsg(t, p.serv, 1024, 0, 0)
		if len(r.msg) != 0 || len(r.ancdata) != 0 {
			t.Fatalf("at EOF: msg %q ancdata %v", r.msg, r.ancdata)
		}
		p.checkFlags(t, r.flags, nil, 0, 0, 0)
	})
}

func TestRecvmsgGenericStreamTests_testRecvmsgOverflow(t *testing.T) {
	runKinds(t, "Recvmsg", streamMsgKinds, func(t *testing.T, p *msgPair) {
		p.sendToServer(t, pyMSG)
		var seg1 []byte
		for len(seg1) < len(pyMSG)-3 { // a stream may deliver less at once
			r := doRecvmsg(t, p.serv, len(pyMSG)-3-len(seg1), 0, 0)
			p.checkFlags(t, r.flags, eorFalse, 0, 0, 0)
			seg1 = append(seg1, r.msg...)
		}
		r := doRecvmsg(t, p.serv, 1024, 0, 0)
		p.checkFlags(t, r.flags, eorTrue, 0, 0, 0)
		if got := append(seg1, r.msg...); !bytes.Equal(got, pyMSG) {
			t.Fatalf("received %q", got)
		}
	})
}

func TestCmsgMacroTests_testCMSG_LEN(t *testing.T) {
	// CMSG_LEN(0) holds at least two ints; CMSG_LEN(n) - CMSG_LEN(0) == n,
	// which is how recvmsg computes the data size. (Python's OverflowError
	// for a negative or too large n has no counterpart: CmsgLen takes an
	// int and has no error result, a difference by design.)
	if socket.CmsgLen(0) <= 8 {
		t.Fatalf("CmsgLen(0) = %d", socket.CmsgLen(0))
	}
	const limit = 0x7fffffff
	toobig := limit - socket.CmsgLen(0) + 1
	for n := 0; n < 257; n++ {
		for _, v := range []int{n, toobig - 257 + n} {
			if got := socket.CmsgLen(v); got-socket.CmsgLen(0) != v || got > limit {
				t.Fatalf("CmsgLen(%d) = %d", v, got)
			}
		}
	}
}

func TestCmsgMacroTests_testCMSG_SPACE(t *testing.T) {
	const limit = 0x7fffffff
	toobig := limit - socket.CmsgSpace(1) + 1
	last := socket.CmsgSpace(0)
	if last <= 8 {
		t.Fatalf("CmsgSpace(0) = %d", last)
	}
	for _, start := range []int{0, toobig - 257} {
		for n := start; n < start+257; n++ {
			got := socket.CmsgSpace(n)
			if got < last || got < socket.CmsgLen(n) || got < n+socket.CmsgLen(0) || got > limit {
				t.Fatalf("CmsgSpace(%d) = %d (last %d)", n, got, last)
			}
			last = got
		}
	}
}
