//go:build !linux

package socket

import (
	"context"
	"io"
	"net/netip"
	"os"
	"runtime"
	"syscall"
)

// This file lets the package build on platforms other than Linux. Nothing
// here can create a socket, so every function reports errors.ErrUnsupported.

type sysState struct{}

func (st *sysState) init(*Socket) {}

type unsupportedError struct{ op string }

func (e *unsupportedError) Error() string {
	return "socket: " + e.op + " is not supported on " + runtime.GOOS + " (socketkit is Linux-first)"
}
func (e *unsupportedError) Unwrap() error { return ErrUnsupported }

func unsupported(op string) error { return &unsupportedError{op} }

func errnoError(v int) error { return syscall.Errno(v) }

// New reports errors.ErrUnsupported on this platform.
func New(f Family, t Type, p Protocol) (*Socket, error) { return nil, unsupported("socket") }

// Socketpair reports errors.ErrUnsupported on this platform.
func Socketpair(f Family, t Type, p Protocol) (*Socket, *Socket, error) {
	return nil, nil, unsupported("socketpair")
}

// NewFd reports errors.ErrUnsupported on this platform.
func NewFd(fd int) (*Socket, error) { return nil, unsupported("NewFd") }

// FromFd reports errors.ErrUnsupported on this platform.
func FromFd(fd int, f Family, t Type, p Protocol) (*Socket, error) {
	return nil, unsupported("FromFd")
}

// FromConn reports errors.ErrUnsupported on this platform.
func FromConn(c syscall.Conn) (*Socket, error) { return nil, unsupported("FromConn") }

func (s *Socket) Dup() (*Socket, error)                          { return nil, unsupported("dup") }
func (s *Socket) File() (*os.File, error)                        { return nil, unsupported("File") }
func (s *Socket) Close() error                                   { return unsupported("close") }
func (s *Socket) Bind(addr Sockaddr) error                       { return unsupported("bind") }
func (s *Socket) Listen(backlog int) error                       { return unsupported("listen") }
func (s *Socket) Accept() (*Socket, Sockaddr, error)             { return nil, nil, unsupported("accept") }
func (s *Socket) Connect(addr Sockaddr) error                    { return unsupported("connect") }
func (s *Socket) ConnectEx(addr Sockaddr) (syscall.Errno, error) { return 0, unsupported("connect") }
func (s *Socket) Getsockname() (Sockaddr, error)                 { return nil, unsupported("getsockname") }
func (s *Socket) Getpeername() (Sockaddr, error)                 { return nil, unsupported("getpeername") }
func (s *Socket) Shutdown(how ShutdownHow) error                 { return unsupported("shutdown") }
func (s *Socket) CloseRead() error                               { return unsupported("shutdown") }
func (s *Socket) CloseWrite() error                              { return unsupported("shutdown") }
func (s *Socket) Recv(b []byte, flags MsgFlag) (int, error)      { return 0, unsupported("recv") }
func (s *Socket) Read(b []byte) (int, error)                     { return 0, unsupported("read") }
func (s *Socket) Send(b []byte, flags MsgFlag) (int, error)      { return 0, unsupported("send") }
func (s *Socket) Sendall(b []byte, flags MsgFlag) (int, error)   { return 0, unsupported("sendall") }
func (s *Socket) Write(b []byte) (int, error)                    { return 0, unsupported("write") }
func (s *Socket) ReadFrom(r io.Reader) (int64, error)            { return 0, unsupported("readfrom") }
func (s *Socket) WriteTo(w io.Writer) (int64, error)             { return 0, unsupported("writeto") }
func (s *Socket) GetsockoptInt(level, opt int) (int, error)      { return 0, unsupported("getsockopt") }
func (s *Socket) SetsockoptInt(level, opt, value int) error      { return unsupported("setsockopt") }
func (s *Socket) SetsockoptBytes(level, opt int, value []byte) error {
	return unsupported("setsockopt")
}
func (s *Socket) PeerCred() (Ucred, error)          { return Ucred{}, unsupported("getsockopt") }
func (s *Socket) setLinger(on bool, secs int) error { return unsupported("setsockopt") }
func (s *Socket) linger() (bool, int, error)        { return false, 0, unsupported("getsockopt") }
func (s *Socket) Sendto(b []byte, flags MsgFlag, to Sockaddr) (int, error) {
	return 0, unsupported("sendto")
}
func (s *Socket) GetsockoptBytes(level, opt, buflen int) ([]byte, error) {
	return nil, unsupported("getsockopt")
}
func (s *Socket) AcceptContext(ctx context.Context) (*Socket, Sockaddr, error) {
	return nil, nil, unsupported("accept")
}
func (s *Socket) ConnectContext(ctx context.Context, addr Sockaddr) error {
	return unsupported("connect")
}
func (s *Socket) Recvfrom(b []byte, flags MsgFlag) (int, Sockaddr, error) {
	return 0, nil, unsupported("recvfrom")
}
func (s *Socket) RecvfromAddrPort(b []byte, flags MsgFlag) (int, netip.AddrPort, error) {
	return 0, netip.AddrPort{}, unsupported("recvfrom")
}
func (s *Socket) RecvContext(ctx context.Context, b []byte, flags MsgFlag) (int, error) {
	return 0, unsupported("recv")
}
func (s *Socket) RecvfromContext(ctx context.Context, b []byte, flags MsgFlag) (int, Sockaddr, error) {
	return 0, nil, unsupported("recvfrom")
}
func (s *Socket) SendtoAddrPort(b []byte, flags MsgFlag, to netip.AddrPort) (int, error) {
	return 0, unsupported("sendto")
}
func (s *Socket) SendallContext(ctx context.Context, b []byte, flags MsgFlag) (int, error) {
	return 0, unsupported("sendall")
}
func (s *Socket) SendtoContext(ctx context.Context, b []byte, flags MsgFlag, to Sockaddr) (int, error) {
	return 0, unsupported("sendto")
}
func (s *Socket) Recvmsg(p, oob []byte, flags MsgFlag) (int, int, MsgFlag, Sockaddr, error) {
	return 0, 0, 0, nil, unsupported("recvmsg")
}
func (s *Socket) Sendmsg(bufs [][]byte, oob []byte, flags MsgFlag, to Sockaddr) (int, error) {
	return 0, unsupported("sendmsg")
}
func (s *Socket) SendFds(bufs [][]byte, fds []int, flags MsgFlag, to Sockaddr) (int, error) {
	return 0, unsupported("sendmsg")
}
func (s *Socket) RecvFds(b []byte, maxfds int, flags MsgFlag) (int, []int, MsgFlag, Sockaddr, error) {
	return 0, nil, 0, nil, unsupported("recvmsg")
}
