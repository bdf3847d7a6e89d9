//go:build unix

package proxyproto

import (
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// peeker returns a function that waits for input on r's descriptor and
// copies what is there without consuming it: recv(2) with MSG_PEEK.
func peeker(r io.Reader) (func([]byte) (int, error), bool) {
	sc, ok := r.(syscall.Conn)
	if !ok {
		return nil, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, false
	}
	return func(b []byte) (int, error) {
		var n int
		var err error
		rerr := rc.Read(func(fd uintptr) bool {
			for {
				n, _, err = unix.Recvfrom(int(fd), b, unix.MSG_PEEK)
				if err != unix.EINTR {
					return err != unix.EAGAIN
				}
			}
		})
		switch {
		case rerr != nil:
			return 0, rerr
		case err != nil:
			return 0, os.NewSyscallError("recvfrom", err)
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}, true
}
