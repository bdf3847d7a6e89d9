//go:build linux

package socket_test

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

func TestNewFdFromFdDup(t *testing.T) {
	sockettest.LeakCheck(t)
	c, s := connPair(t, streamNets[0])
	// Dup shares the connection.
	d, err := s.Dup()
	if err != nil {
		t.Fatal(err)
	}
	if d.Fd() == s.Fd() {
		t.Fatal("Dup returned the same descriptor")
	}
	c.Sendall([]byte("dup"), 0)
	buf := make([]byte, 3)
	if _, err := d.Recv(buf, socket.MSG_WAITALL); err != nil || string(buf) != "dup" {
		t.Fatalf("Recv on dup = %q, %v", buf, err)
	}
	d.Close()
	// FromFd duplicates; the original stays usable.
	f, err := socket.FromFd(s.Fd(), socket.AF_UNSPEC, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if f.Family() != socket.AF_INET || f.Type() != socket.SOCK_STREAM {
		t.Fatalf("FromFd probed %v %v", f.Family(), f.Type())
	}
	f.Close()
	if _, err := s.Send([]byte("x"), 0); err != nil {
		t.Fatalf("original unusable after FromFd+Close: %v", err)
	}
	// NewFd adopts a descriptor: the Socket owns it.
	file, err := s.File()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Dup(int(file.Fd()))
	file.Close()
	if err != nil {
		t.Fatal(err)
	}
	adopted, err := socket.NewFd(fd)
	if err != nil {
		t.Fatal(err)
	}
	if adopted.Fd() != fd {
		t.Fatalf("NewFd changed the descriptor: %d -> %d", fd, adopted.Fd())
	}
	adopted.Close()
	if err := syscall.Close(fd); err != syscall.EBADF {
		t.Fatalf("descriptor still open after Close of NewFd socket: %v", err)
	}
	// Not a socket: a clear error, and the descriptor is left alone.
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	if _, err := socket.NewFd(int(r.Fd())); !errors.Is(err, syscall.ENOTSOCK) {
		t.Fatalf("NewFd(pipe) = %v; want ENOTSOCK", err)
	}
	if _, err := socket.NewFd(-1); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("NewFd(-1) = %v", err)
	}
}
