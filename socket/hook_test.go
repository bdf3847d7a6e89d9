//go:build linux

package socket_test

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/internal/sockhook"
	"github.com/socketkit/socketkit/socket"
)

// TestCreationFlags: every socket is non-blocking and close-on-exec, as
// the poller and exec safety need.
func TestCreationFlags(t *testing.T) {
	check := func(name string, s *socket.Socket) {
		t.Helper()
		rc, err := s.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var fl, fdfl int
		if err := rc.Control(func(fd uintptr) {
			fl, _ = unix.FcntlInt(fd, unix.F_GETFL, 0)
			fdfl, _ = unix.FcntlInt(fd, unix.F_GETFD, 0)
		}); err != nil {
			t.Fatal(err)
		}
		if fl&unix.O_NONBLOCK == 0 || fdfl&unix.FD_CLOEXEC == 0 {
			t.Errorf("%s: O_NONBLOCK=%v FD_CLOEXEC=%v; want both", name, fl&unix.O_NONBLOCK != 0, fdfl&unix.FD_CLOEXEC != 0)
		}
	}
	c, s := connPair(t, streamNets[0])
	check("New", c)
	check("Accept", s)
	a, b, _ := socket.Socketpair(socket.AF_UNIX, socket.SOCK_STREAM, 0)
	defer a.Close()
	defer b.Close()
	check("Socketpair", a)
	d, _ := s.Dup()
	defer d.Close()
	check("Dup", d)
	// SyscallConn's Read waits on the poller like the socket's own calls.
	rc, _ := b.SyscallConn()
	go func() { sockettest.WaitBlocked(t, 1, "socket_test.TestCreationFlags"); a.Send([]byte("raw"), 0) }()
	var n int
	if err := rc.Read(func(fd uintptr) bool {
		var err error
		n, err = unix.Read(int(fd), make([]byte, 8))
		return err != unix.EAGAIN
	}); err != nil || n != 3 {
		t.Fatalf("RawConn.Read = %d, %v", n, err)
	}
}

// TestInjectedErrorsRetried: EINTR and ECONNABORTED from accept4, and EINTR
// and EAGAIN from recv and send, never reach the caller.
func TestInjectedErrorsRetried(t *testing.T) {
	sockettest.LeakCheck(t)
	ln, addr := listen(t, streamNets[0])
	// Each hooked call fails once with the injected errno, then runs.
	var acceptN, recvN, sendN, injected atomic.Int32
	uninstall := sockhook.Install(func(c sockhook.Call, fd int) error {
		var err error
		switch c {
		case sockhook.Accept:
			switch acceptN.Add(1) {
			case 1:
				err = syscall.EINTR
			case 2:
				err = syscall.ECONNABORTED
			}
		case sockhook.Recv:
			if recvN.Add(1) == 1 {
				err = syscall.EINTR
			}
		case sockhook.Send:
			if sendN.Add(1) == 1 {
				err = syscall.EINTR
			}
		}
		if err != nil {
			injected.Add(1)
		}
		return err
	})
	defer uninstall()
	c := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	if err := c.Connect(addr); err != nil {
		t.Fatal(err)
	}
	s, _, err := ln.Accept()
	if err != nil {
		t.Fatalf("Accept with injected EINTR, ECONNABORTED: %v", err)
	}
	defer s.Close()
	if _, err := c.Send([]byte("ok"), 0); err != nil {
		t.Fatalf("Send with injected EINTR: %v", err)
	}
	buf := make([]byte, 2)
	if n, err := s.Recv(buf, socket.MSG_WAITALL); err != nil || n != 2 {
		t.Fatalf("Recv with injected EINTR: %d, %v", n, err)
	}
	if acceptN.Load() < 3 || recvN.Load() < 2 || sendN.Load() < 2 {
		t.Fatalf("hooks were not consulted: accept %d recv %d send %d", acceptN.Load(), recvN.Load(), sendN.Load())
	}
	// EAGAIN injected before data exists: the call waits on the poller, as
	// for a real EAGAIN, and completes when data comes.
	recvN.Store(0)
	uninstall()
	uninstall = sockhook.Install(func(c sockhook.Call, fd int) error {
		if c == sockhook.Recv && recvN.Add(1) == 1 {
			injected.Add(1)
			return syscall.EAGAIN
		}
		return nil
	})
	go func() { sockettest.WaitBlocked(t, 1, "socket_test.TestInjectedErrorsRetried"); c.Send([]byte("hi"), 0) }()
	if n, err := s.Recv(buf, socket.MSG_WAITALL); err != nil || n != 2 {
		t.Fatalf("Recv with injected EAGAIN: %d, %v", n, err)
	}
	// Every injected error so far (EINTR and ECONNABORTED on accept4, EINTR
	// on recv and send, EAGAIN on recv) was retried: a call that saw one
	// would have failed the test above.
	fmt.Printf("FIGURE injected_errors_retried=%d\n", injected.Load())
	// An injected EMFILE does reach the caller, with its errno.
	uninstall()
	uninstall = sockhook.Install(func(c sockhook.Call, fd int) error {
		if c == sockhook.Accept {
			return syscall.EMFILE
		}
		return nil
	})
	_, _, err = ln.Accept()
	if !errors.Is(err, syscall.EMFILE) {
		t.Fatalf("Accept with injected EMFILE: %v", err)
	}
}
