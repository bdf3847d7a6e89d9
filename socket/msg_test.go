//go:build linux

package socket_test

import (
	"errors"
	"math"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"io"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

// TestRecvFdsFlags: the flags RecvFds returns are the kernel's report on
// the message (MSG_CTRUNC, MSG_TRUNC...), never a request flag it set itself
// (MSG_CMSG_CLOEXEC, which recvmsg(2) echoes back), so that a check for
// truncation sees no false alarm. Python's recv_fds reports 0 and 8
// (MSG_CTRUNC) in the same two cases.
func TestRecvFdsFlags(t *testing.T) {
	sockettest.LeakCheck(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	wfd := int(w.Fd())
	cases := []struct {
		name   string
		send   []int
		maxfds int
		flags  socket.MsgFlag
		want   socket.MsgFlag
		nfds   int
	}{
		{"one fd", []int{wfd}, 4, 0, 0, 1},
		{"caller asks MSG_CMSG_CLOEXEC too", []int{wfd}, 4, socket.MSG_CMSG_CLOEXEC, 0, 1},
		{"truncated", []int{wfd, wfd}, 1, 0, socket.MSG_CTRUNC, 1},
		{"no room", []int{wfd}, 0, 0, socket.MSG_CTRUNC, 0},
		{"no fds", nil, 2, 0, 0, 0},
	}
	for _, typ := range []socket.Type{socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_SEQPACKET} {
		for _, tc := range cases {
			t.Run(typ.String()+"/"+tc.name, func(t *testing.T) {
				a, b := socketpair(t, typ)
				if _, err := a.SendFds([][]byte{[]byte("x")}, tc.send, 0, nil); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 8)
				n, fds, rflags, _, err := b.RecvFds(buf, tc.maxfds, tc.flags)
				for _, fd := range fds {
					fl, ferr := unix.FcntlInt(uintptr(fd), syscall.F_GETFD, 0)
					if ferr != nil || fl&syscall.FD_CLOEXEC == 0 {
						t.Errorf("received fd %d: F_GETFD = %#x, %v; want FD_CLOEXEC", fd, fl, ferr)
					}
					syscall.Close(fd)
				}
				if err != nil || n != 1 || len(fds) != tc.nfds {
					t.Fatalf("RecvFds = %d, %v, %v", n, fds, err)
				}
				if rflags != tc.want {
					t.Fatalf("RecvFds flags = %v, want %v", rflags, tc.want)
				}
			})
		}
	}
}

func TestSendRecvFds(t *testing.T) {
	sockettest.LeakCheck(t)
	for _, typ := range []socket.Type{socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_SEQPACKET} {
		t.Run(typ.String(), func(t *testing.T) {
			a, b, err := socket.Socketpair(socket.AF_UNIX, typ, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			defer b.Close()
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if _, err := a.SendFds([][]byte{[]byte("fd:")}, []int{int(w.Fd())}, 0, nil); err != nil {
				t.Fatal(err)
			}
			w.Close()
			buf := make([]byte, 16)
			n, fds, rflags, _, err := b.RecvFds(buf, 4, 0)
			if err != nil || string(buf[:n]) != "fd:" || len(fds) != 1 || rflags&socket.MSG_CTRUNC != 0 {
				t.Fatalf("RecvFds = %q %v flags %v, %v", buf[:n], fds, rflags, err)
			}
			// The received descriptor is the pipe's write end.
			got := os.NewFile(uintptr(fds[0]), "received")
			got.Write([]byte("through the passed fd"))
			got.Close()
			data, _ := io.ReadAll(r)
			if string(data) != "through the passed fd" {
				t.Fatalf("read %q", data)
			}
		})
	}
}

func TestSendmsgGather(t *testing.T) {
	a, b, err := socket.Socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	bufs := [][]byte{[]byte("a"), []byte("bb"), nil, []byte("ccc"), []byte("dddd"), []byte("eeeee")}
	if n, err := a.Sendmsg(bufs, nil, 0, nil); err != nil || n != 15 {
		t.Fatalf("Sendmsg = %d, %v", n, err)
	}
	buf := make([]byte, 32)
	n, oobn, _, _, err := b.Recvmsg(buf, make([]byte, 64), 0)
	if err != nil || string(buf[:n]) != "abbcccddddeeeee" || oobn != 0 {
		t.Fatalf("Recvmsg = %q oob %d, %v", buf[:n], oobn, err)
	}
}

// TestRecvFdsMaxfdsBounds: a maxfds the kernel can never fill (negative, or
// more than SCM_MAX_FD, 253 descriptors a message) is an error matching
// EINVAL before anything is allocated or received: 1<<40 used to allocate
// 4 TiB (the runtime's fatal out of memory), 1<<62 overflowed to a buffer
// with room for no descriptor. The message stays queued for the next call;
// SCM_MAX_FD itself is accepted.
func TestRecvFdsMaxfdsBounds(t *testing.T) {
	sockettest.LeakCheck(t)
	a, b := socketpair(t, socket.SOCK_DGRAM)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := a.SendFds([][]byte{[]byte("x")}, []int{int(w.Fd())}, 0, nil); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	for _, maxfds := range []int{-1, socket.SCM_MAX_FD + 1, 1 << 30, 1 << 40, 1 << 62, math.MaxInt, math.MinInt} {
		n, fds, _, _, err := b.RecvFds(buf, maxfds, socket.MSG_DONTWAIT)
		for _, fd := range fds {
			syscall.Close(fd)
		}
		if !errors.Is(err, syscall.EINVAL) || n != 0 || len(fds) != 0 {
			t.Errorf("RecvFds(maxfds=%d) = %d, %v, %v; want an error matching EINVAL", maxfds, n, fds, err)
		}
	}
	n, fds, rflags, _, err := b.RecvFds(buf, socket.SCM_MAX_FD, socket.MSG_DONTWAIT)
	for _, fd := range fds {
		syscall.Close(fd)
	}
	if err != nil || n != 1 || len(fds) != 1 || rflags != 0 {
		t.Fatalf("RecvFds(maxfds=SCM_MAX_FD) = %d, %v, %v, %v; want the queued message and its fd", n, fds, rflags, err)
	}
}
