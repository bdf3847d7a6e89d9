//go:build linux

package socket_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

// TestStreamEcho runs the tutorial's TCP recipe over every stream network:
// bind, listen, accept, connect, send, recv, getsockname, getpeername, close.
func TestStreamEcho(t *testing.T) {
	for _, n := range streamNets {
		t.Run(n.name, func(t *testing.T) {
			sockettest.LeakCheck(t)
			ln, addr := listen(t, n)
			if ok, err := ln.AcceptConn(); err != nil || !ok {
				t.Fatalf("AcceptConn = %v, %v; want true", ok, err)
			}
			client := newSock(t, n.family, n.typ)
			if err := client.Connect(addr); err != nil {
				t.Fatal(err)
			}
			server, peer, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer server.Close()
			if server.Family() != n.family || server.Type() != n.typ {
				t.Errorf("accepted socket is %v %v, want %v %v", server.Family(), server.Type(), n.family, n.typ)
			}
			// The peer address Accept returns is the client's own address.
			clientName := sockname(t, client)
			if n.family != socket.AF_UNIX && peer.String() != clientName.String() {
				t.Errorf("Accept peer = %v, client's Getsockname = %v", peer, clientName)
			}
			got, err := client.Getpeername()
			if err != nil || got.String() != addr.String() {
				t.Errorf("client Getpeername = %v, %v; want %v", got, err, addr)
			}
			msg := []byte("hello, " + n.name)
			if nn, err := client.Send(msg, 0); err != nil || nn != len(msg) {
				t.Fatalf("Send = %d, %v", nn, err)
			}
			buf := make([]byte, 64)
			nn, err := server.Recv(buf, 0)
			if err != nil || string(buf[:nn]) != string(msg) {
				t.Fatalf("Recv = %q, %v; want %q", buf[:nn], err, msg)
			}
			if _, err := server.Sendall(buf[:nn], 0); err != nil {
				t.Fatal(err)
			}
			nn, err = client.Recv(buf[:len(msg)], socket.MSG_WAITALL)
			if err != nil || string(buf[:nn]) != string(msg) {
				t.Fatalf("echo = %q, %v", buf[:nn], err)
			}
			// Orderly shutdown: Recv gives (0, nil), as Python's recv gives b"".
			if err := client.Close(); err != nil {
				t.Fatal(err)
			}
			nn, err = server.Recv(buf, 0)
			if nn != 0 || err != nil {
				t.Fatalf("Recv after peer close = %d, %v; want 0, nil", nn, err)
			}
			// Read, the io.Reader form, says io.EOF instead.
			if nn, err := server.Read(buf); nn != 0 || err != io.EOF {
				t.Fatalf("Read after peer close = %d, %v; want 0, io.EOF", nn, err)
			}
		})
	}
}

// TestDatagramEcho covers sendto/recvfrom over every datagram network.
func TestDatagramEcho(t *testing.T) {
	for _, n := range dgramNets {
		t.Run(n.name, func(t *testing.T) {
			sockettest.LeakCheck(t)
			a, b, aAddr, bAddr := dgramPair(t, n)
			if _, err := a.Sendto([]byte("ping"), 0, bAddr); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			nn, from, err := b.Recvfrom(buf, 0)
			if err != nil || string(buf[:nn]) != "ping" {
				t.Fatalf("Recvfrom = %q, %v", buf[:nn], err)
			}
			if from == nil || from.String() != aAddr.String() {
				t.Fatalf("Recvfrom sender = %v, want %v", from, aAddr)
			}
			if _, err := b.Sendto([]byte("pong"), 0, from); err != nil {
				t.Fatal(err)
			}
			nn, from, err = a.Recvfrom(buf, 0)
			if err != nil || string(buf[:nn]) != "pong" || from.String() != bAddr.String() {
				t.Fatalf("reply = %q from %v, %v", buf[:nn], from, err)
			}
			// A connected datagram socket uses Send and Recv.
			if err := a.Connect(bAddr); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Send([]byte("connected"), 0); err != nil {
				t.Fatal(err)
			}
			nn, err = b.Recv(buf, 0)
			if err != nil || string(buf[:nn]) != "connected" {
				t.Fatalf("Recv = %q, %v", buf[:nn], err)
			}
			// Datagram boundaries are kept: a short buffer truncates one datagram.
			b.Sendto([]byte("0123456789"), 0, aAddr)
			b.Sendto([]byte("next"), 0, aAddr)
			small := make([]byte, 4)
			if nn, _ := a.Recv(small, 0); string(small[:nn]) != "0123" {
				t.Fatalf("truncated datagram = %q", small[:nn])
			}
			if nn, _ := a.Recv(buf, 0); string(buf[:nn]) != "next" {
				t.Fatalf("next datagram = %q", buf[:nn])
			}
			// A zero-length datagram is a datagram, not end of stream.
			b.Sendto(nil, 0, aAddr)
			if nn, err := a.Recv(buf, 0); nn != 0 || err != nil {
				t.Fatalf("empty datagram: %d, %v", nn, err)
			}
		})
	}
}

func TestRecvfromAddrPortNoAlloc(t *testing.T) {
	n := dgramNets[0]
	a, b, aAddr, bAddr := dgramPair(t, n)
	bap, _ := socket.AddrPortOf(bAddr)
	aap, _ := socket.AddrPortOf(aAddr)
	buf := make([]byte, 16)
	msg := []byte("x")
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := a.SendtoAddrPort(msg, 0, bap); err != nil {
			t.Fatal(err)
		}
		_, from, err := b.RecvfromAddrPort(buf, 0)
		if err != nil || from != aap {
			t.Fatalf("from %v, %v; want %v", from, err, aap)
		}
	})
	if allocs != 0 {
		t.Errorf("SendtoAddrPort+RecvfromAddrPort allocate %.1f times per round trip, want 0", allocs)
	}
}

func TestSendRecvNoAlloc(t *testing.T) {
	for _, n := range streamNets[:3] {
		t.Run(n.name, func(t *testing.T) {
			c, s := connPair(t, n)
			msg := make([]byte, 64)
			buf := make([]byte, 64)
			allocs := testing.AllocsPerRun(200, func() {
				if _, err := c.Send(msg, 0); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Recv(buf, socket.MSG_WAITALL); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Write(buf); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("Send/Recv/Write/Read allocate %.1f times per round trip, want 0", allocs)
			}
		})
	}
}

func TestSeqpacketBoundaries(t *testing.T) {
	a, b, err := socket.Socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	for _, m := range []string{"one", "two", "three"} {
		if _, err := a.Send([]byte(m), 0); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 64)
	for _, want := range []string{"one", "two", "three"} {
		n, err := b.Recv(buf, 0)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("Recv = %q, %v; want %q (one record per call)", buf[:n], err, want)
		}
	}
	// A short buffer gets the head of one record and MSG_TRUNC.
	a.Send([]byte("truncated record"), 0)
	short := make([]byte, 4)
	n, _, rflags, _, err := b.Recvmsg(short, nil, 0)
	if err != nil || string(short[:n]) != "trun" || rflags&socket.MSG_TRUNC == 0 {
		t.Fatalf("Recvmsg = %q flags %v, %v; want \"trun\" with MSG_TRUNC", short[:n], rflags, err)
	}
	a.Close()
	if n, err := b.Recv(buf, 0); n != 0 || err != nil {
		t.Fatalf("after close: %d, %v; want end of stream", n, err)
	}
}

func TestSocketpairTypes(t *testing.T) {
	for _, typ := range []socket.Type{socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_SEQPACKET} {
		t.Run(typ.String(), func(t *testing.T) {
			sockettest.LeakCheck(t)
			a, b, err := socket.Socketpair(socket.AF_UNSPEC, typ, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			defer b.Close()
			if a.Family() != socket.AF_UNIX || a.Type() != typ {
				t.Fatalf("pair is %v %v", a.Family(), a.Type())
			}
			a.Sendall([]byte("x"), 0)
			buf := make([]byte, 1)
			if n, err := b.Recv(buf, 0); n != 1 || err != nil {
				t.Fatalf("Recv = %d, %v", n, err)
			}
			sa, err := a.Getsockname()
			if err != nil || sa.String() != "" {
				t.Fatalf("unnamed socket's name = %q, %v", sa, err)
			}
		})
	}
	// Python's default is socketpair() = AF_UNIX, SOCK_STREAM.
	a, b, err := socket.Socketpair(0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Type() != socket.SOCK_STREAM {
		t.Errorf("default type = %v", a.Type())
	}
	a.Close()
	b.Close()
	if _, _, err := socket.Socketpair(socket.AF_INET, socket.SOCK_STREAM, 0); !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Errorf("AF_INET socketpair: %v, want EOPNOTSUPP", err)
	}
}

func TestClose(t *testing.T) {
	sockettest.LeakCheck(t)
	s, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Fd() < 0 {
		t.Fatalf("Fd = %d", s.Fd())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
	if s.Fd() != -1 {
		t.Fatalf("Fd after Close = %d, want -1", s.Fd())
	}
	if !strings.Contains(s.String(), "[closed]") {
		t.Errorf("String after close = %q", s)
	}
	buf := make([]byte, 1)
	calls := map[string]error{}
	_, calls["Recv"] = s.Recv(buf, 0)
	_, calls["Recv0"] = s.Recv(nil, 0)
	_, calls["Send"] = s.Send(buf, 0)
	_, calls["Read"] = s.Read(buf)
	_, calls["Write"] = s.Write(buf)
	_, _, calls["Accept"] = s.Accept()
	calls["Connect"] = s.Connect(&socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}, Port: 1})
	calls["Bind"] = s.Bind(&socket.Inet4Addr{})
	calls["Listen"] = s.Listen(1)
	_, calls["Getsockname"] = s.Getsockname()
	calls["SetTimeout"] = s.SetTimeout(time.Second)
	calls["SetDeadline"] = s.SetDeadline(time.Now())
	calls["Shutdown"] = s.Shutdown(socket.SHUT_RDWR)
	_, calls["GetsockoptInt"] = s.GetsockoptInt(socket.SOL_SOCKET, socket.SO_TYPE)
	_, calls["Dup"] = s.Dup()
	_, calls["SyscallConn"] = s.SyscallConn()
	for name, err := range calls {
		if !errors.Is(err, net.ErrClosed) || !errors.Is(err, os.ErrClosed) || !errors.Is(err, syscall.EBADF) {
			t.Errorf("%s on closed socket: %v; want net.ErrClosed, os.ErrClosed and EBADF", name, err)
		}
	}
}

// TestCloseUnblocks: Close wakes every call blocked on the socket.
func TestCloseUnblocks(t *testing.T) {
	sockettest.LeakCheck(t)
	ln, _ := listen(t, streamNets[0])
	_, s := connPair(t, streamNets[0]) // s waits in Recv
	c, _ := connPair(t, streamNets[0]) // c waits in Sendall
	u, _, _, _ := dgramPair(t, dgramNets[0])
	// Fill c's send buffer so that Sendall blocks.
	c.SetWriteBuffer(4096)
	s.SetReadBuffer(4096)
	big := make([]byte, 8<<20)
	blocked := map[string]func() error{
		"Accept":   func() error { _, _, err := ln.Accept(); return err },
		"Recv":     func() error { _, err := s.Recv(make([]byte, 8), 0); return err },
		"Recvfrom": func() error { _, _, err := u.Recvfrom(make([]byte, 8), 0); return err },
		"Sendall":  func() error { _, err := c.Sendall(big, 0); return err },
	}
	closers := map[string]*socket.Socket{"Accept": ln, "Recv": s, "Recvfrom": u, "Sendall": c}
	var wg sync.WaitGroup
	errs := make(map[string]error)
	var mu sync.Mutex
	for name, fn := range blocked {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := fn()
			mu.Lock()
			errs[name] = err
			mu.Unlock()
		}()
	}
	// Close only once each call waits in the poller: a Close before the
	// call would test nothing.
	sockettest.WaitBlocked(t, 4, "socket_test.TestCloseUnblocks.func")
	for _, s := range closers {
		s.Close()
	}
	wg.Wait()
	for name, err := range errs {
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("%s blocked during Close returned %v; want net.ErrClosed", name, err)
		}
	}
}

func TestNonBlocking(t *testing.T) {
	sockettest.LeakCheck(t)
	ln, addr := listen(t, streamNets[0])
	if err := ln.SetBlocking(false); err != nil {
		t.Fatal(err)
	}
	if ln.Blocking() {
		t.Fatal("Blocking() = true after SetBlocking(false)")
	}
	_, _, err := ln.Accept()
	wantErrno(t, err, syscall.EAGAIN)

	c := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	c.SetBlocking(false)
	errno, err := c.ConnectEx(addr)
	if err != nil || (errno != syscall.EINPROGRESS && errno != 0) {
		t.Fatalf("non-blocking ConnectEx = %v, %v; want EINPROGRESS", errno, err)
	}
	c2 := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	c2.SetBlocking(false)
	if err := c2.Connect(addr); err != nil {
		wantErrno(t, err, syscall.EINPROGRESS)
	}
	// Wait for the connections to land, then accept one in non-blocking mode.
	var s *socket.Socket
	for i := 0; i < 200; i++ {
		if s, _, err = ln.Accept(); err == nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if s == nil {
		t.Fatalf("no connection accepted: %v", err)
	}
	defer s.Close()
	s.SetBlocking(false)
	_, err = s.Recv(make([]byte, 4), 0)
	wantErrno(t, err, syscall.EAGAIN)
	// MSG_DONTWAIT makes a single call non-blocking in blocking mode.
	s.SetBlocking(true)
	_, err = s.Recv(make([]byte, 4), socket.MSG_DONTWAIT)
	wantErrno(t, err, syscall.EAGAIN)
}

func TestTimeout(t *testing.T) {
	sockettest.LeakCheck(t)
	c, s := connPair(t, streamNets[0])
	if err := s.SetTimeout(-time.Second); err == nil {
		t.Fatal("negative timeout accepted")
	}
	if err := s.SetTimeout(50 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if s.Timeout() != 50*time.Millisecond {
		t.Fatalf("Timeout() = %v", s.Timeout())
	}
	start := time.Now()
	_, err := s.Recv(make([]byte, 4), 0)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Recv with timeout: %v; want os.ErrDeadlineExceeded", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("timeout error %v is not a net.Error with Timeout() true", err)
	}
	if el := time.Since(start); el < 40*time.Millisecond {
		t.Fatalf("timed out after %v, before the 50ms timeout", el)
	}
	// The timeout is re-armed per call: a second call waits afresh.
	if _, err := s.Recv(make([]byte, 4), 0); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("second Recv: %v", err)
	}
	// Data that arrives while a Recv with a timeout waits is received (the
	// timeout is long here: a loaded machine can take more than 50ms to
	// run the sender, which sends once the Recv waits).
	s.SetTimeout(2 * sockettest.Patience(t))
	go func() { sockettest.WaitBlocked(t, 1, "socket_test.TestTimeout"); c.Send([]byte("ok"), 0) }()
	if n, err := s.Recv(make([]byte, 4), 0); n != 2 || err != nil {
		t.Fatalf("Recv = %d, %v", n, err)
	}
	// SetTimeout(0) means no timeout: Recv waits past 50ms.
	s.SetTimeout(0)
	go func() { time.Sleep(120 * time.Millisecond); c.Send([]byte("late"), 0) }()
	if n, err := s.Recv(make([]byte, 4), 0); n != 4 || err != nil {
		t.Fatalf("Recv without timeout = %d, %v", n, err)
	}
	// An absolute deadline before the timeout wins.
	s.SetTimeout(10 * time.Second)
	s.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	start = time.Now()
	if _, err := s.Recv(make([]byte, 4), 0); !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("deadline before timeout: %v after %v", err, time.Since(start))
	}
	// A past deadline fails at once even with data waiting, as net.Conn does.
	c.Send([]byte("data"), 0)
	s.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := s.Recv(make([]byte, 4), 0); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("past deadline: %v", err)
	}
	s.SetReadDeadline(time.Time{})
	s.SetTimeout(0)
	if n, err := s.Recv(make([]byte, 4), 0); n != 4 || err != nil {
		t.Fatalf("after clearing deadline: %d, %v", n, err)
	}
	// Accept times out the same way.
	ln, _ := listen(t, streamNets[0])
	ln.SetTimeout(20 * time.Millisecond)
	if _, _, err := ln.Accept(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Accept with timeout: %v", err)
	}
	// SetBlocking(true) clears the timeout, as Python's setblocking does.
	ln.SetBlocking(true)
	if ln.Timeout() != 0 || !ln.Blocking() {
		t.Fatalf("after SetBlocking(true): timeout %v blocking %v", ln.Timeout(), ln.Blocking())
	}
}

func TestDefaultTimeout(t *testing.T) {
	socket.SetDefaultTimeout(30 * time.Millisecond)
	defer socket.SetDefaultTimeout(0)
	if socket.DefaultTimeout() != 30*time.Millisecond {
		t.Fatal(socket.DefaultTimeout())
	}
	ln, addr := listen(t, streamNets[0])
	if ln.Timeout() != 30*time.Millisecond {
		t.Fatalf("new socket timeout = %v", ln.Timeout())
	}
	ln.SetTimeout(time.Hour)
	c := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	c.Connect(addr)
	s, _, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Accepted sockets get the default timeout, not the listener's.
	if s.Timeout() != 30*time.Millisecond {
		t.Fatalf("accepted socket timeout = %v, want the default", s.Timeout())
	}
}

func TestConnectEx(t *testing.T) {
	sockettest.LeakCheck(t)
	// A port nobody listens on: bind one, note it, close it.
	tmp := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	tmp.Bind(&socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}})
	closed := sockname(t, tmp)
	tmp.Close()

	c := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	errno, err := c.ConnectEx(closed)
	if err != nil || errno != syscall.ECONNREFUSED || int(errno) != 111 {
		t.Fatalf("ConnectEx(closed port) = %d (%v), %v; want 111 ECONNREFUSED, nil", int(errno), errno, err)
	}
	c2 := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	err = c2.Connect(closed)
	wantErrno(t, err, syscall.ECONNREFUSED)
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "connect" || !strings.Contains(err.Error(), closed.String()) {
		t.Fatalf("error %q does not name the operation and the address", err)
	}
	var se *os.SyscallError
	if !errors.As(err, &se) || se.Syscall != "connect" {
		t.Fatalf("syscall error = %v", se)
	}
	// Success gives 0.
	_, addr := listen(t, streamNets[0])
	c3 := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	if errno, err := c3.ConnectEx(addr); errno != 0 || err != nil {
		t.Fatalf("ConnectEx(listener) = %v, %v", errno, err)
	}
	// Non-errno failures come back as err.
	if _, err := c.ConnectEx(nil); err == nil {
		t.Fatal("ConnectEx(nil) succeeded")
	}
}

// TestConnectAgain: connect on a socket that is already connected, or whose
// non-blocking connect is still in progress, reports what connect(2) and
// Python's connect_ex report on Linux: EISCONN (106) and EALREADY (114).
// The first connect after a non-blocking one has finished returns 0, as
// the kernel does, so polling with connect_ex works.
func TestConnectAgain(t *testing.T) {
	sockettest.LeakCheck(t)
	_, addr := listen(t, streamNets[0])
	c := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	if errno, err := c.ConnectEx(addr); errno != 0 || err != nil {
		t.Fatalf("ConnectEx(listener) = %v, %v", errno, err)
	}
	if errno, err := c.ConnectEx(addr); errno != syscall.EISCONN || err != nil {
		t.Fatalf("ConnectEx on a connected socket = %d (%v), %v; want 106 EISCONN as Python's connect_ex", int(errno), errno, err)
	}
	wantErrno(t, c.Connect(addr), syscall.EISCONN)

	// A listener whose queue is full (backlog 0 holds one connection)
	// drops the next SYN, so a non-blocking connect stays in progress.
	full := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	full.Bind(&socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}})
	if err := full.Listen(0); err != nil {
		t.Fatal(err)
	}
	faddr := sockname(t, full)
	filler := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	filler.SetTimeout(5 * time.Second)
	if err := filler.Connect(faddr); err != nil {
		t.Fatal(err)
	}
	nb := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	nb.SetBlocking(false)
	if errno, err := nb.ConnectEx(faddr); errno != syscall.EINPROGRESS || err != nil {
		t.Fatalf("non-blocking ConnectEx = %v, %v; want EINPROGRESS", errno, err)
	}
	if errno, err := nb.ConnectEx(faddr); errno != syscall.EALREADY || err != nil {
		t.Fatalf("ConnectEx while in progress = %d (%v), %v; want 114 EALREADY as Python's connect_ex", int(errno), errno, err)
	}
	wantErrno(t, nb.Connect(faddr), syscall.EALREADY)
	// In blocking mode Connect waits for the connection in progress: it
	// completes once accept() makes room in the queue.
	s, _, err := full.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	nb.SetTimeout(10 * time.Second)
	if err := nb.Connect(faddr); err != nil {
		t.Fatalf("blocking Connect after a non-blocking one: %v", err)
	}
	if errno, err := nb.ConnectEx(faddr); errno != syscall.EISCONN || err != nil {
		t.Fatalf("ConnectEx after the connection completed = %v, %v; want EISCONN", errno, err)
	}
}

func TestZeroLength(t *testing.T) {
	c, s := connPair(t, streamNets[0])
	if n, err := s.Recv(nil, 0); n != 0 || err != nil {
		t.Fatalf("Recv(nil) = %d, %v", n, err)
	}
	if n, err := s.Recv([]byte{}, 0); n != 0 || err != nil {
		t.Fatalf("Recv([]) = %d, %v", n, err)
	}
	if n, err := s.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v", n, err)
	}
	if n, err := c.Send(nil, 0); n != 0 || err != nil {
		t.Fatalf("Send(nil) = %d, %v", n, err)
	}
	if n, err := c.Sendall(nil, 0); n != 0 || err != nil {
		t.Fatalf("Sendall(nil) = %d, %v", n, err)
	}
}

func TestShutdown(t *testing.T) {
	for _, n := range streamNets[:3] {
		t.Run(n.name, func(t *testing.T) {
			c, s := connPair(t, n)
			c.Sendall([]byte("req"), 0)
			if err := c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(s)
			if err != nil || string(data) != "req" {
				t.Fatalf("server read %q, %v", data, err)
			}
			// The other half still works.
			s.Sendall([]byte("resp"), 0)
			s.Close()
			data, err = io.ReadAll(c)
			if err != nil || string(data) != "resp" {
				t.Fatalf("client read %q, %v", data, err)
			}
			if err := c.Shutdown(socket.ShutdownHow(7)); !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("Shutdown(7) = %v", err)
			}
		})
	}
}

func TestSendallLarge(t *testing.T) {
	for _, n := range streamNets[:3] {
		t.Run(n.name, func(t *testing.T) {
			c, s := connPair(t, n)
			data := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
			done := make(chan []byte)
			go func() {
				got, _ := io.ReadAll(s)
				done <- got
			}()
			nn, err := c.Sendall(data, 0)
			if err != nil || nn != len(data) {
				t.Fatalf("Sendall = %d, %v", nn, err)
			}
			c.CloseWrite()
			if got := <-done; !bytes.Equal(got, data) {
				t.Fatalf("received %d bytes, not the %d sent", len(got), len(data))
			}
		})
	}
}

func TestSendallTimeoutReportsProgress(t *testing.T) {
	c, _ := connPair(t, streamNets[0])
	c.SetWriteBuffer(4096)
	c.SetTimeout(100 * time.Millisecond)
	data := make([]byte, 32<<20)
	n, err := c.Sendall(data, 0)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Sendall to a peer that does not read: %d, %v; want a timeout", n, err)
	}
	if n <= 0 || n >= len(data) {
		t.Fatalf("Sendall reported %d bytes sent; want the partial count", n)
	}
}

func TestEPIPE(t *testing.T) {
	c, s := connPair(t, streamNets[0])
	s.Close()
	// The first send may succeed (the peer answers RST); later ones fail
	// with EPIPE or ECONNRESET, and the process gets no SIGPIPE.
	var err error
	deadline := time.Now().Add(sockettest.Patience(t))
	for err == nil && time.Now().Before(deadline) {
		_, err = c.Send([]byte("x"), 0)
	}
	if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("send to closed peer: %v; want EPIPE or ECONNRESET", err)
	}
}

func TestGetsocknameEphemeral(t *testing.T) {
	ln, addr := listen(t, streamNets[0])
	ap, ok := socket.AddrPortOf(addr)
	if !ok || ap.Port() == 0 || ap.Addr().String() != "127.0.0.1" {
		t.Fatalf("bound port 0, Getsockname = %v", addr)
	}
	if ln.LocalAddr().String() != addr.String() {
		t.Fatalf("LocalAddr = %v", ln.LocalAddr())
	}
	if _, ok := ln.LocalAddr().(*net.TCPAddr); !ok {
		t.Fatalf("LocalAddr is %T, want *net.TCPAddr", ln.LocalAddr())
	}
	if _, err := ln.Getpeername(); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("Getpeername on a listener: %v; want ENOTCONN", err)
	}
	if ln.RemoteAddr() != nil {
		t.Fatalf("RemoteAddr of a listener = %v", ln.RemoteAddr())
	}
}

func TestString(t *testing.T) {
	c, _ := connPair(t, streamNets[0])
	s := c.String()
	for _, want := range []string{"<socket fd=", "family=AF_INET", "type=SOCK_STREAM", "proto=0", "laddr=127.0.0.1:", "raddr=127.0.0.1:"} {
		if !strings.Contains(s, want) {
			t.Errorf("String() = %q, missing %q", s, want)
		}
	}
}

func TestBindErrors(t *testing.T) {
	sockettest.LeakCheck(t)
	s := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	var nilAddr *socket.Inet4Addr
	cases := []struct {
		name string
		addr socket.Sockaddr
		want error
	}{
		{"nil", nil, syscall.EINVAL},
		{"typed nil", nilAddr, syscall.EINVAL},
		{"family mismatch", &socket.Inet6Addr{}, syscall.EAFNOSUPPORT},
		{"port out of range", &socket.Inet4Addr{Port: 70000}, syscall.EINVAL},
		{"negative port", &socket.Inet4Addr{Port: -1}, syscall.EINVAL},
		{"not local", &socket.Inet4Addr{Addr: [4]byte{192, 0, 2, 1}}, syscall.EADDRNOTAVAIL},
	}
	for _, tc := range cases {
		err := s.Bind(tc.addr)
		if !errors.Is(err, tc.want) {
			t.Errorf("Bind(%s) = %v; want %v", tc.name, err, tc.want)
		}
	}
	u := newSock(t, socket.AF_UNIX, socket.SOCK_STREAM)
	long := &socket.UnixAddr{Path: "/tmp/" + strings.Repeat("x", 200)}
	if err := u.Bind(long); !errors.Is(err, syscall.ENAMETOOLONG) || !strings.Contains(err.Error(), "108") {
		t.Errorf("Bind(long unix path) = %v; want ENAMETOOLONG naming the limit", err)
	}
	if _, err := u.Sendto([]byte("x"), 0, nil); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Sendto(nil) = %v", err)
	}
	// Address in use names the address.
	ln, addr := listen(t, streamNets[0])
	_ = ln
	s2 := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	err := s2.Bind(addr)
	wantErrno(t, err, syscall.EADDRINUSE)
	if !strings.Contains(err.Error(), addr.String()) {
		t.Errorf("EADDRINUSE error %q does not name %v", err, addr)
	}
}

// TestBindLeak: a failing bind repeated many times leaks nothing.
func TestBindLeak(t *testing.T) {
	sockettest.LeakCheck(t)
	_, addr := listen(t, streamNets[0])
	for i := 0; i < 1000; i++ {
		s, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Bind(addr); !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("bind %d: %v", i, err)
		}
		s.Close()
	}
}

func TestReservedPort(t *testing.T) {
	if !sockettest.RunUnprivileged(t) {
		return
	}
	start := 1024
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			start = v
		}
	}
	if start <= 80 {
		t.Skipf("net.ipv4.ip_unprivileged_port_start is %d: port 80 is not privileged here", start)
	}
	s := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	err := s.Bind(&socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}, Port: 80})
	wantErrno(t, err, syscall.EACCES)
	if !strings.Contains(err.Error(), fmt.Sprintf("ports below %d (net.ipv4.ip_unprivileged_port_start)", start)) || !strings.Contains(err.Error(), "CAP_NET_BIND_SERVICE") {
		t.Fatalf("error %q does not say why", err)
	}
	if !socket.IsReservedPort(80) || socket.IsReservedPort(socket.IPPORT_RESERVED) || socket.IsReservedPort(0) {
		t.Fatal("IsReservedPort is wrong")
	}
	// Ports from IPPORT_RESERVED up need no privilege.
	s2 := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	if err := s2.Bind(&socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
}

// TestReservedPortThreshold: the hint for a privileged port names the
// threshold the kernel applies, net.ipv4.ip_unprivileged_port_start of the
// network namespace (here raised to 2000), not IPPORT_RESERVED.
func TestReservedPortThreshold(t *testing.T) {
	if !sockettest.RunUnprivilegedInNetns(t, map[string]string{"net/ipv4/ip_unprivileged_port_start": "2000"}) {
		return
	}
	s := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	err := s.Bind(&socket.Inet4Addr{Port: 1500}) // above IPPORT_RESERVED, below the threshold
	wantErrno(t, err, syscall.EACCES)
	if !strings.Contains(err.Error(), "ports below 2000 (net.ipv4.ip_unprivileged_port_start) need root or CAP_NET_BIND_SERVICE") {
		t.Fatalf("error %q does not give the threshold in force", err)
	}
	s2 := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	if err := s2.Bind(&socket.Inet4Addr{Port: 2000}); err != nil {
		t.Fatalf("port 2000 is not privileged here: %v", err)
	}
}

func TestThreadsDoNotGrow(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	sockettest.LeakCheck(t)
	const pairs = 5000 // 10,000 sockets, 10,000 goroutines blocked in Recv
	socks := make([]*socket.Socket, 0, 2*pairs)
	defer func() {
		for _, s := range socks {
			s.Close()
		}
	}()
	for i := 0; i < pairs; i++ {
		a, b, err := socket.Socketpair(socket.AF_UNIX, socket.SOCK_STREAM, 0)
		if err != nil {
			t.Fatalf("pair %d: %v", i, err)
		}
		socks = append(socks, a, b)
	}
	before := sockettest.Threads()
	var wg sync.WaitGroup
	var started sync.WaitGroup
	for _, s := range socks {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			s.Recv(make([]byte, 1), 0)
		}()
	}
	started.Wait()
	sockettest.WaitBlocked(t, len(socks), "socket.(*Socket).Recv")
	during := sockettest.Threads()
	t.Logf("threads before %d, with %d goroutines blocked in Recv: %d", before, len(socks), during)
	if during-before > 50 {
		t.Errorf("threads grew from %d to %d with %d blocked Recvs: calls are blocking threads", before, during, len(socks))
	}
	for _, s := range socks {
		s.Close()
	}
	wg.Wait()
}

// TestMisuse: calls made in the wrong state or on the wrong kind of socket
// fail with one error that names the system call and wraps the kernel's
// errno, and leave the socket usable.
func TestMisuse(t *testing.T) {
	sockettest.LeakCheck(t)
	v4 := func(s string) socket.Sockaddr {
		sa, err := socket.ParseAddr(socket.AF_INET, s)
		if err != nil {
			t.Fatal(err)
		}
		return sa
	}
	cases := []struct {
		name    string
		typ     socket.Type
		call    func(s *socket.Socket) error
		syscall string
		errno   syscall.Errno
	}{
		{"Listen on a datagram socket", socket.SOCK_DGRAM, func(s *socket.Socket) error { return s.Listen(5) }, "listen", syscall.EOPNOTSUPP},
		{"Accept before Listen", socket.SOCK_STREAM, func(s *socket.Socket) error { _, _, err := s.Accept(); return err }, "accept4", syscall.EINVAL},
		{"Accept on a datagram socket", socket.SOCK_DGRAM, func(s *socket.Socket) error { _, _, err := s.Accept(); return err }, "accept4", syscall.EOPNOTSUPP},
		{"Recv on an unconnected stream", socket.SOCK_STREAM, func(s *socket.Socket) error { _, err := s.Recv(make([]byte, 1), 0); return err }, "recvfrom", syscall.ENOTCONN},
		{"Send on an unconnected stream", socket.SOCK_STREAM, func(s *socket.Socket) error { _, err := s.Send([]byte("x"), 0); return err }, "sendto", syscall.EPIPE},
		{"Getpeername unconnected", socket.SOCK_STREAM, func(s *socket.Socket) error { _, err := s.Getpeername(); return err }, "getpeername", syscall.ENOTCONN},
		{"Bind twice", socket.SOCK_STREAM, func(s *socket.Socket) error {
			if err := s.Bind(v4("127.0.0.1:0")); err != nil {
				return err
			}
			return s.Bind(v4("127.0.0.1:0"))
		}, "bind", syscall.EINVAL},
		{"Connect to an IPv6 address", socket.SOCK_STREAM, func(s *socket.Socket) error {
			sa, _ := socket.ParseAddr(socket.AF_INET6, "[::1]:9")
			return s.Connect(sa)
		}, "", syscall.EAFNOSUPPORT}, // caught before connect(2), naming both families
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSock(t, socket.AF_INET, tc.typ)
			s.SetTimeout(time.Second)
			err := tc.call(s)
			var se *os.SyscallError
			if tc.syscall == "" && errors.As(err, &se) {
				t.Fatalf("got %v; want the mismatch caught before the system call", err)
			}
			if (tc.syscall != "" && (!errors.As(err, &se) || se.Syscall != tc.syscall)) || !errors.Is(err, tc.errno) {
				t.Fatalf("got %v; want a %s error wrapping %v", err, tc.syscall, tc.errno)
			}
			if s.Fd() < 0 {
				t.Fatal("the socket was closed by a failed call")
			}
		})
	}
}
