//go:build linux

package socket_test

// CPython 3.11's InterruptedRecvTimeoutTest, InterruptedSendTimeoutTest,
// TCPTimeoutTest.testInterruptedTimeout and
// GeneralModuleTests.test_sendall_interrupted[_with_timeout]
// (Lib/test/test_socket.py) check that a Python signal handler that raises
// interrupts a blocking call, with or without a timeout. Go has no such
// handlers: a signal is delivered to a channel (signal.Notify) on its own
// goroutine, and the call it lands in is not interrupted (EINTR is
// retried). These tests pin that behaviour, the difference by design: a
// SIGALRM arriving during the call is seen on the channel, and the call
// still ends the way it would have without it.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/socketkit/socketkit/socket"
)

// duringSignal runs call while a SIGALRM is delivered to the process 20ms
// in, and returns call's error once the signal was seen.
func duringSignal(t *testing.T, call func() error) error {
	t.Helper()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGALRM)
	defer signal.Stop(sig)
	timer := time.AfterFunc(20*time.Millisecond, func() { syscall.Kill(os.Getpid(), syscall.SIGALRM) })
	defer timer.Stop()
	err := call()
	select {
	case <-sig:
	case <-time.After(pyTimeout):
		t.Fatal("the SIGALRM never arrived")
	}
	return err
}

// interruptedRecv is InterruptedRecvTimeoutTest.checkInterruptedRecv: a
// UDP socket with a timeout and nothing to receive.
func interruptedRecv(t *testing.T, recv func(s *socket.Socket) error) {
	s, _ := dgramPairUDP(t)
	s.SetTimeout(100 * time.Millisecond)
	start := time.Now()
	err := duringSignal(t, func() error { return recv(s) })
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("receive during a signal: %v; want the timeout, not an interruption", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("the call ended after %v, before its timeout", d)
	}
}

func TestInterruptedRecvTimeoutTest_testInterruptedRecvTimeout(t *testing.T) {
	interruptedRecv(t, func(s *socket.Socket) error { _, err := s.Recv(make([]byte, 1024), 0); return err })
}

func TestInterruptedRecvTimeoutTest_testInterruptedRecvIntoTimeout(t *testing.T) {
	// recv_into is Recv into the caller's buffer.
	buf := make([]byte, 1024)
	interruptedRecv(t, func(s *socket.Socket) error { _, err := s.Recv(buf, 0); return err })
}

func TestInterruptedRecvTimeoutTest_testInterruptedRecvfromTimeout(t *testing.T) {
	interruptedRecv(t, func(s *socket.Socket) error { _, _, err := s.Recvfrom(make([]byte, 1024), 0); return err })
}

func TestInterruptedRecvTimeoutTest_testInterruptedRecvfromIntoTimeout(t *testing.T) {
	buf := make([]byte, 1024)
	interruptedRecv(t, func(s *socket.Socket) error { _, _, err := s.Recvfrom(buf, 0); return err })
}

func TestInterruptedRecvTimeoutTest_testInterruptedRecvmsgTimeout(t *testing.T) {
	interruptedRecv(t, func(s *socket.Socket) error {
		_, _, _, _, err := s.Recvmsg(make([]byte, 1024), nil, 0)
		return err
	})
}

func TestInterruptedRecvTimeoutTest_testInterruptedRecvmsgIntoTimeout(t *testing.T) {
	buf := make([]byte, 1024)
	interruptedRecv(t, func(s *socket.Socket) error { _, _, _, _, err := s.Recvmsg(buf, nil, 0); return err })
}

// interruptedSend is InterruptedSendTimeoutTest.checkInterruptedSend: send
// in a loop on a connection whose peer reads nothing, with a timeout.
//
// In CI (go test -race work, every package at once) the connection was
// twice reset by its peer within 40 ms, before any timeout, which no run
// of this package alone or beside the engine's tests reproduced; the
// cause is not known. A reset is not the interruption this test is
// about, so the check is made again once on a new connection, and the
// reset is logged with both ends' addresses; a second reset fails.
func interruptedSend(t *testing.T, send func(s *socket.Socket, addr socket.Sockaddr) error) {
	for attempt := 1; ; attempt++ {
		ends, err := interruptedSendOnce(t, send)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
		if errors.Is(err, syscall.ECONNRESET) && attempt == 1 {
			t.Logf("sending during a signal: %v (%s); again on a new connection", err, ends)
			continue
		}
		t.Fatalf("sending during a signal: %v; want the timeout, not an interruption (%s)", err, ends)
	}
}

func interruptedSendOnce(t *testing.T, send func(s *socket.Socket, addr socket.Sockaddr) error) (ends string, err error) {
	ln, addr := pyTCPServer(t)
	cli := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	if err := cli.Connect(addr); err != nil {
		t.Fatal(err)
	}
	conn, _, aerr := ln.Accept()
	if aerr != nil {
		t.Fatal(aerr)
	}
	defer conn.Close()
	cli.SetTimeout(100 * time.Millisecond)
	err = duringSignal(t, func() error {
		for i := 0; i < 1<<20; i++ {
			if err := send(cli, addr); err != nil {
				return err
			}
		}
		return errors.New("the send never blocked")
	})
	local, _ := cli.Getsockname()
	peer, _ := conn.Getpeername()
	return fmt.Sprintf("the client at %v, the accepted socket's peer %v", local, peer), err
}

var chunk512 = bytes.Repeat([]byte("a"), 512)

func TestInterruptedSendTimeoutTest_testInterruptedSendTimeout(t *testing.T) {
	interruptedSend(t, func(s *socket.Socket, _ socket.Sockaddr) error { _, err := s.Send(chunk512, 0); return err })
}

func TestInterruptedSendTimeoutTest_testInterruptedSendtoTimeout(t *testing.T) {
	interruptedSend(t, func(s *socket.Socket, addr socket.Sockaddr) error {
		_, err := s.Sendto(chunk512, 0, addr)
		return err
	})
}

func TestInterruptedSendTimeoutTest_testInterruptedSendmsgTimeout(t *testing.T) {
	interruptedSend(t, func(s *socket.Socket, _ socket.Sockaddr) error {
		_, err := s.Sendmsg([][]byte{chunk512}, nil, 0, nil)
		return err
	})
}

func TestTCPTimeoutTest_testInterruptedTimeout(t *testing.T) {
	ln, _ := pyTCPServer(t)
	ln.SetTimeout(100 * time.Millisecond)
	err := duringSignal(t, func() error { _, _, err := ln.Accept(); return err })
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Accept during a signal: %v; want the timeout", err)
	}
}

func TestGeneralModuleTests_test_sendall_interrupted(t *testing.T) {
	// Without a timeout the Sendall waits for the reader, signal or not:
	// start the reader only after the signal has been seen.
	c, s := socketpair(t, socket.SOCK_STREAM)
	big := make([]byte, 4<<20)
	for i := range big {
		big[i] = byte(i)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGALRM)
	defer signal.Stop(sig)
	res := make(chan error, 1)
	go func() { _, err := c.Sendall(big, 0); c.CloseWrite(); res <- err }()
	time.AfterFunc(20*time.Millisecond, func() { syscall.Kill(os.Getpid(), syscall.SIGALRM) })
	select {
	case <-sig:
	case <-time.After(pyTimeout):
		t.Fatal("the SIGALRM never arrived")
	}
	s.SetTimeout(pyTimeout)
	if got := recvAll(t, s, 1<<16); !bytes.Equal(got, big) {
		t.Fatalf("received %d of %d bytes", len(got), len(big))
	}
	if err := <-res; err != nil {
		t.Fatalf("Sendall during a signal: %v", err)
	}
}

func TestGeneralModuleTests_test_sendall_interrupted_with_timeout(t *testing.T) {
	c, _ := socketpair(t, socket.SOCK_STREAM)
	c.SetTimeout(100 * time.Millisecond)
	err := duringSignal(t, func() error { _, err := c.Sendall(make([]byte, 4<<20), 0); return err })
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Sendall with a timeout during a signal: %v; want the timeout", err)
	}
}
