// Package sockhook is the fault-injection seam of package socket, in the
// style of the standard library's net/internal/socktest: before each system
// call, package socket asks Check whether a test wants the call to fail. With
// no hook installed, Check is one atomic load.
//
// The package is internal to the module: tests of socket, socketserver and
// the CLI use it; library users cannot.
package sockhook

import (
	"sync/atomic"
)

// Call names a system call that package socket makes.
type Call int

// The hooked system calls.
const (
	Socket Call = iota
	Accept
	Connect
	Bind
	Listen
	Recv // recvfrom(2), recvmsg(2) and read paths
	Send // sendto(2), sendmsg(2) and write paths
)

var callNames = [...]string{"socket", "accept4", "connect", "bind", "listen", "recv", "send"}

// String returns the system call's name.
func (c Call) String() string {
	if int(c) < len(callNames) {
		return callNames[c]
	}
	return "call?"
}

// Hook decides whether a call on fd (-1 for Socket) fails: it returns the
// error to inject (usually a syscall.Errno) or nil to let the call run.
type Hook func(c Call, fd int) error

var current atomic.Pointer[Hook]

// Install makes h the hook and returns a function that removes it. Hooks do
// not nest: Install replaces any hook already installed.
func Install(h Hook) (uninstall func()) {
	current.Store(&h)
	return func() { current.Store(nil) }
}

// Check returns the error the installed hook injects for c on fd, or nil.
func Check(c Call, fd int) error {
	if h := current.Load(); h != nil {
		return (*h)(c, fd)
	}
	return nil
}
