package socket

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"syscall"
)

// ErrClosed is returned by every operation on a closed Socket, wrapped in a
// *net.OpError. errors.Is matches it against net.ErrClosed, os.ErrClosed and
// syscall.EBADF, so code written for the net package or for Python's EBADF
// works unchanged.
var ErrClosed error = closedError{}

type closedError struct{}

func (closedError) Error() string { return "use of closed network connection" }

// Is reports whether target is one of the errors a closed socket matches.
func (closedError) Is(target error) bool {
	return target == net.ErrClosed || target == os.ErrClosed || target == syscall.EBADF
}

// ErrUnsupported is returned, wrapped, for operations this platform or this
// kernel does not provide. It is errors.ErrUnsupported.
var ErrUnsupported = errors.ErrUnsupported

// errNilContext is what a nil context.Context gives where the standard
// library would panic: every function and method here that takes a context
// returns it (wrapped as its other errors are) instead.
var errNilContext = fmt.Errorf("nil context.Context: %w", syscall.EINVAL)

// isNil reports whether v is nil or an interface holding a nil pointer (a
// nil *net.TCPConn passed as a syscall.Conn), whose methods would panic.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
		return rv.IsNil()
	}
	return false
}

// nilArg is the error for a nil argument v, named by its type (or by what,
// for an untyped nil): "nil *net.TCPConn: invalid argument".
func nilArg(v any, what string) error {
	if v != nil {
		what = reflect.TypeOf(v).String()
	}
	return fmt.Errorf("nil %s: %w", what, syscall.EINVAL)
}

// hintError adds an explanation to an error without hiding it from errors.Is
// and errors.As.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() + " (" + e.hint + ")" }
func (e *hintError) Unwrap() error { return e.err }

// withHint returns err with a parenthesised explanation appended.
func withHint(err error, hint string) error { return &hintError{err: err, hint: hint} }

// EAI is a getaddrinfo(3) error code (Python: socket.gaierror's errno). It
// implements error, so errors.Is(err, socket.EAI_NONAME) works on what
// GetAddrInfo returns.
type EAI int

// getaddrinfo error codes, with glibc's values.
const (
	EAI_BADFLAGS   EAI = -1   // EAI_BADFLAGS: invalid flags.
	EAI_NONAME     EAI = -2   // EAI_NONAME: name or service not known.
	EAI_AGAIN      EAI = -3   // EAI_AGAIN: temporary failure in name resolution.
	EAI_FAIL       EAI = -4   // EAI_FAIL: non-recoverable failure in name resolution.
	EAI_FAMILY     EAI = -6   // EAI_FAMILY: family not supported.
	EAI_SOCKTYPE   EAI = -7   // EAI_SOCKTYPE: socket type not supported.
	EAI_SERVICE    EAI = -8   // EAI_SERVICE: service not supported for the socket type.
	EAI_MEMORY     EAI = -10  // EAI_MEMORY: memory allocation failure.
	EAI_SYSTEM     EAI = -11  // EAI_SYSTEM: system error.
	EAI_OVERFLOW   EAI = -12  // EAI_OVERFLOW: argument buffer overflow.
	EAI_NODATA     EAI = -5   // EAI_NODATA: no address associated with the name.
	EAI_ADDRFAMILY EAI = -9   // EAI_ADDRFAMILY: no address in the requested family.
	EAI_CANCELED   EAI = -101 // EAI_CANCELED: the request was canceled.
)

var eaiText = map[EAI]string{
	EAI_BADFLAGS: "bad value for ai_flags", EAI_NONAME: "name or service not known",
	EAI_AGAIN: "temporary failure in name resolution", EAI_FAIL: "non-recoverable failure in name resolution",
	EAI_FAMILY: "ai_family not supported", EAI_SOCKTYPE: "ai_socktype not supported",
	EAI_SERVICE: "service not supported for ai_socktype", EAI_MEMORY: "memory allocation failure",
	EAI_SYSTEM: "system error", EAI_OVERFLOW: "argument buffer overflow",
	EAI_NODATA: "no address associated with hostname", EAI_ADDRFAMILY: "address family for hostname not supported",
	EAI_CANCELED: "request canceled",
}

// Error returns the message gai_strerror(3) gives.
func (e EAI) Error() string {
	if s, ok := eaiText[e]; ok {
		return s
	}
	return "unknown getaddrinfo error"
}

// AddrInfoError is the error of the resolver functions (Python:
// socket.gaierror). Code says what failed; Err is the resolver's own error.
type AddrInfoError struct {
	Code EAI
	Name string
	Err  error
}

// Error returns "getaddrinfo NAME: MESSAGE".
func (e *AddrInfoError) Error() string {
	s := "getaddrinfo " + e.Name + ": " + e.Code.Error()
	if e.Err != nil {
		s += " (" + e.Err.Error() + ")"
	}
	return s
}

// Unwrap returns the code and the resolver's error, so errors.Is matches
// both socket.EAI_NONAME and, say, context.Canceled.
func (e *AddrInfoError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Code}
	}
	return []error{e.Code, e.Err}
}

// Timeout reports whether the lookup timed out.
func (e *AddrInfoError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.Err, &t) && t.Timeout()
}
