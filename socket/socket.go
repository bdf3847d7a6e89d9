package socket

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Socket is one socket: a kernel file descriptor created non-blocking and
// close-on-exec and registered with the Go runtime's network poller. A call
// that must wait (Accept, Connect, Recv, Send...) parks its goroutine, never
// an OS thread, so ten thousand blocked Recvs cost ten thousand goroutines
// and no extra threads.
//
// A Socket is safe for concurrent use: one goroutine may receive while
// another sends, and Close unblocks both. Concurrent receives (or concurrent
// sends) on one socket are serialized, as with the net package.
//
// *Socket implements net.Conn, io.ReaderFrom and io.WriterTo (with
// sendfile(2) and splice(2) underneath) and syscall.Conn. Listener and
// PacketConn adapt it to net.Listener and net.PacketConn.
//
// Python: socket.socket.
type Socket struct {
	fd     atomic.Int64 // our copy of the descriptor; -1 after Close
	file   *os.File     // owns the descriptor and its poller registration
	rc     syscall.RawConn
	family Family
	typ    Type
	proto  Protocol

	closed   atomic.Bool
	closeMu  sync.Mutex
	nonblock atomic.Bool  // SetBlocking(false): never wait
	timeout  atomic.Int64 // SetTimeout, in nanoseconds; 0 means none
	rdl, wdl atomic.Int64 // absolute deadlines from SetDeadline*, UnixNano; 0 means none

	addrs atomic.Pointer[addrCache]

	sys sysState // platform I/O state (preallocated operations on Linux)
}

type addrCache struct {
	local, peer Sockaddr
}

// Compile-time checks of the interfaces Socket promises.
var (
	_ net.Conn     = (*Socket)(nil)
	_ syscall.Conn = (*Socket)(nil)
	_ interface {
		CloseRead() error
		CloseWrite() error
	} = (*Socket)(nil)
)

// Fd returns the socket's file descriptor, or -1 after Close or on a nil
// *Socket. The descriptor
// stays in non-blocking mode; use it for system calls this package lacks,
// preferably through SyscallConn, which keeps it from being closed under you.
//
// Python: socket.socket.fileno().
func (s *Socket) Fd() int {
	if s == nil {
		return -1
	}
	return int(s.fd.Load())
}

// Family returns the address family the socket was created with (0,
// AF_UNSPEC, on a nil *Socket).
func (s *Socket) Family() Family {
	if s == nil {
		return 0
	}
	return s.family
}

// Type returns the socket type, without creation flags (0 on a nil
// *Socket).
func (s *Socket) Type() Type {
	if s == nil {
		return 0
	}
	return s.typ
}

// Proto returns the protocol the socket was created with (0 unless one was
// given or probed by NewFd, and on a nil *Socket).
func (s *Socket) Proto() Protocol {
	if s == nil {
		return 0
	}
	return s.proto
}

// isStream reports whether a zero-length receive means end of stream: true
// for SOCK_STREAM and SOCK_SEQPACKET, as in the net package.
func (s *Socket) isStream() bool { return s.typ == SOCK_STREAM || s.typ == SOCK_SEQPACKET }

// String describes the socket as Python's repr does: "<socket fd=3,
// family=AF_INET, type=SOCK_STREAM, proto=0, laddr=127.0.0.1:6254,
// raddr=127.0.0.1:5555>".
func (s *Socket) String() string {
	if s == nil {
		return "<socket nil>"
	}
	b := []byte("<socket ")
	if s.closed.Load() {
		b = append(b, "[closed] "...)
	}
	b = append(b, "fd="...)
	b = strconv.AppendInt(b, int64(s.Fd()), 10)
	b = append(b, ", family="...)
	b = append(b, s.family.String()...)
	b = append(b, ", type="...)
	b = append(b, s.typ.String()...)
	b = append(b, ", proto="...)
	b = append(b, s.proto.String()...)
	if !s.closed.Load() {
		if la, err := s.Getsockname(); err == nil && la != nil {
			b = append(b, ", laddr="...)
			b = append(b, la.String()...)
		}
		if ra, err := s.Getpeername(); err == nil && ra != nil {
			b = append(b, ", raddr="...)
			b = append(b, ra.String()...)
		}
	}
	return string(append(b, '>'))
}

// defaultTimeout is the timeout new sockets start with, in nanoseconds.
var defaultTimeout atomic.Int64

// DefaultTimeout returns the timeout that New, Accept and Socketpair give new
// sockets; 0 (the initial value) means none.
//
// Python: socket.getdefaulttimeout().
func DefaultTimeout() time.Duration { return time.Duration(defaultTimeout.Load()) }

// SetDefaultTimeout sets the timeout new sockets start with. It is global
// and safe for concurrent use; d <= 0 means no timeout.
//
// Python: socket.setdefaulttimeout(t).
func SetDefaultTimeout(d time.Duration) {
	if d < 0 {
		d = 0
	}
	defaultTimeout.Store(int64(d))
}

// SetBlocking puts the socket in blocking mode (true, the default: calls wait
// until they can complete) or non-blocking mode (false: a call that would
// wait fails at once with an error matching syscall.EAGAIN, or EINPROGRESS for
// Connect). Either way the descriptor itself stays O_NONBLOCK, as the poller
// needs; the mode is kept by the Socket. SetBlocking clears any timeout, as
// Python's setblocking does.
//
// Python: socket.socket.setblocking(flag). setblocking(False) is
// settimeout(0.0) in Python; in Go it is only SetBlocking(false).
func (s *Socket) SetBlocking(block bool) error {
	if s == nil {
		return errNilSocket("setblocking")
	}
	if s.closed.Load() {
		return s.opErr("setblocking", nil, ErrClosed)
	}
	s.nonblock.Store(!block)
	s.timeout.Store(0)
	return s.restoreDeadlines()
}

// Blocking reports whether the socket is in blocking mode (false on a nil
// *Socket).
//
// Python: socket.socket.getblocking().
func (s *Socket) Blocking() bool { return s != nil && !s.nonblock.Load() }

// SetTimeout makes every later blocking call fail after about d with an error
// matching os.ErrDeadlineExceeded (a net.Error whose Timeout is true). The
// deadline is armed afresh at the start of each call (Sendall's covers the
// whole call). SetTimeout(0) removes the timeout; a negative d is an error. A
// timeout also puts the socket in blocking mode. When an absolute deadline
// from SetDeadline comes first, that deadline wins.
//
// Python: socket.socket.settimeout(seconds); settimeout(None) is
// SetTimeout(0), and settimeout(0.0) is SetBlocking(false).
func (s *Socket) SetTimeout(d time.Duration) error {
	if s == nil {
		return errNilSocket("settimeout")
	}
	if d < 0 {
		return s.opErr("settimeout", nil, &os.SyscallError{Syscall: "settimeout", Err: syscall.EINVAL})
	}
	if s.closed.Load() {
		return s.opErr("settimeout", nil, ErrClosed)
	}
	s.nonblock.Store(false)
	s.timeout.Store(int64(d))
	if d == 0 {
		return s.restoreDeadlines()
	}
	return nil
}

// Timeout returns the timeout set by SetTimeout, or 0 for none (and on a
// nil *Socket).
//
// Python: socket.socket.gettimeout().
func (s *Socket) Timeout() time.Duration {
	if s == nil {
		return 0
	}
	return time.Duration(s.timeout.Load())
}

// SetDeadline sets the absolute read and write deadlines, as net.Conn
// defines them: calls pending now and later fail with an error matching
// os.ErrDeadlineExceeded once t passes. The zero time removes the deadlines.
// A call made under SetTimeout uses whichever of the two ends first.
func (s *Socket) SetDeadline(t time.Time) error {
	if s == nil {
		return errNilSocket("set")
	}
	if err := s.SetReadDeadline(t); err != nil {
		return err
	}
	return s.SetWriteDeadline(t)
}

// SetReadDeadline sets the absolute deadline of receives and Accept.
func (s *Socket) SetReadDeadline(t time.Time) error {
	if s == nil {
		return errNilSocket("set")
	}
	if s.closed.Load() {
		return s.opErr("set", nil, ErrClosed)
	}
	s.rdl.Store(unixNano(t))
	if err := s.file.SetReadDeadline(t); err != nil {
		return s.opErr("set", nil, s.pollErr(err))
	}
	return nil
}

// SetWriteDeadline sets the absolute deadline of sends and Connect.
func (s *Socket) SetWriteDeadline(t time.Time) error {
	if s == nil {
		return errNilSocket("set")
	}
	if s.closed.Load() {
		return s.opErr("set", nil, ErrClosed)
	}
	s.wdl.Store(unixNano(t))
	if err := s.file.SetWriteDeadline(t); err != nil {
		return s.opErr("set", nil, s.pollErr(err))
	}
	return nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	if n := t.UnixNano(); n != 0 {
		return n
	}
	return 1
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// restoreDeadlines puts the user's absolute deadlines back on the poller,
// dropping any deadline armed for one call.
func (s *Socket) restoreDeadlines() error {
	if err := s.file.SetReadDeadline(fromUnixNano(s.rdl.Load())); err != nil {
		return s.opErr("set", nil, s.pollErr(err))
	}
	if err := s.file.SetWriteDeadline(fromUnixNano(s.wdl.Load())); err != nil {
		return s.opErr("set", nil, s.pollErr(err))
	}
	return nil
}

// armRead arms the per-call read deadline of SetTimeout, if there is one.
// With no timeout it does nothing: the poller already holds the user's
// deadline.
func (s *Socket) armRead() {
	if d := s.timeout.Load(); d > 0 {
		_ = s.file.SetReadDeadline(earliest(time.Now().Add(time.Duration(d)), s.rdl.Load()))
	}
}

// armWrite is armRead for sends and Connect.
func (s *Socket) armWrite() {
	if d := s.timeout.Load(); d > 0 {
		_ = s.file.SetWriteDeadline(earliest(time.Now().Add(time.Duration(d)), s.wdl.Load()))
	}
}

func earliest(t time.Time, user int64) time.Time {
	if user != 0 && user < t.UnixNano() {
		return time.Unix(0, user)
	}
	return t
}

// withContext runs fn with ctx bounding it: ctx's deadline is armed on the
// poller (with the socket's own timeout and deadline, whichever is first),
// and cancelling ctx wakes the call. Afterwards the user's deadline is put
// back. When ctx ends the call, the error's cause is ctx.Err()
// (context.Canceled or context.DeadlineExceeded), still wrapped in the
// *net.OpError that names the operation.
func (s *Socket) withContext(ctx context.Context, op string, write bool, fn func() error) error {
	if ctx == nil {
		return s.opErr(op, nil, errNilContext)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	set := s.file.SetReadDeadline
	user := &s.rdl
	if write {
		set, user = s.file.SetWriteDeadline, &s.wdl
	}
	// The earliest of ctx's deadline, the timeout and the user's deadline.
	dl, hasDL := ctx.Deadline()
	fromCtx := hasDL
	if d := s.timeout.Load(); d > 0 {
		if t := time.Now().Add(time.Duration(d)); !hasDL || t.Before(dl) {
			dl, hasDL, fromCtx = t, true, false
		}
	}
	if u := user.Load(); u != 0 && (!hasDL || u < dl.UnixNano()) {
		dl, hasDL, fromCtx = time.Unix(0, u), true, false
	}
	if hasDL {
		_ = set(dl)
	}
	var stop func() bool
	var fired chan struct{}
	if ctx.Done() != nil {
		fired = make(chan struct{})
		stop = context.AfterFunc(ctx, func() {
			_ = set(aLongTimeAgo)
			close(fired)
		})
	}
	err := fn()
	if stop != nil && !stop() {
		<-fired // the wake-up ran: wait for it before restoring the deadline
	}
	if hasDL || stop != nil {
		_ = set(fromUnixNano(user.Load()))
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		// The poller's timer and ctx's timer are separate: when the poller
		// fires first for ctx's own deadline, ctx.Err() may still be nil.
		cause := ctx.Err()
		if cause == nil && fromCtx {
			cause = context.DeadlineExceeded
		}
		if cause != nil {
			var oe *net.OpError
			if errors.As(err, &oe) {
				c := *oe
				c.Err = cause
				return &c
			}
			return cause
		}
	}
	return err
}

var aLongTimeAgo = time.Unix(1, 0)

// network names the socket the way the net package names networks, for
// error messages and net.Addr values: "tcp", "udp6", "unixgram", "ip4:1"...
func (s *Socket) network() string {
	switch s.family {
	case AF_INET, AF_INET6:
		suffix := ""
		if s.family == AF_INET6 {
			suffix = "6"
		}
		switch s.typ {
		case SOCK_STREAM:
			return "tcp" + suffix
		case SOCK_DGRAM:
			return "udp" + suffix
		case SOCK_RAW:
			if s.family == AF_INET6 {
				return "ip6:" + strconv.Itoa(int(s.proto))
			}
			return "ip4:" + strconv.Itoa(int(s.proto))
		}
		return "ip" + suffix
	case AF_UNIX:
		return unixNetwork(s.typ)
	}
	return s.family.String()
}

// opErr wraps err in a *net.OpError naming the operation, the socket's
// network and addresses, as the net package does: "connect tcp
// 127.0.0.1:6254: connect: connection refused". addr is the remote address
// of the operation, when the caller has one; otherwise the cached peer.
func (s *Socket) opErr(op string, addr Sockaddr, err error) error {
	if s == nil {
		return errNilSocket(op)
	}
	oe := &net.OpError{Op: op, Net: s.network(), Err: err}
	local, peer := s.cachedAddrs()
	switch op {
	case "bind", "listen", "accept", "setblocking", "settimeout", "set", "close", "socket":
		if addr == nil {
			addr = local
		}
		oe.Addr = NetAddr(addr, s.typ)
	default:
		if addr == nil {
			addr = peer
		}
		if local != nil {
			oe.Source = NetAddr(local, s.typ)
		}
		if addr != nil {
			oe.Addr = NetAddr(addr, s.typ)
		}
	}
	return oe
}

// errNilSocket is the error of a method called on a nil *Socket: it
// matches os.ErrInvalid, as Close's does.
func errNilSocket(op string) error {
	return &net.OpError{Op: op, Err: os.ErrInvalid}
}

// pollErr turns an error from the runtime poller into ours: a closed socket
// gives ErrClosed, a deadline os.ErrDeadlineExceeded, both unwrapped, as the
// net package returns them.
func (s *Socket) pollErr(err error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return os.ErrDeadlineExceeded
	}
	if errors.Is(err, os.ErrClosed) {
		return ErrClosed
	}
	return err
}

// cachedAddrs returns the local and peer addresses for error messages and
// LocalAddr/RemoteAddr, asking the kernel only the first time.
func (s *Socket) cachedAddrs() (local, peer Sockaddr) {
	c := s.addrs.Load()
	if c != nil && c.local != nil {
		return c.local, c.peer
	}
	if c != nil && c.peer != nil {
		// Accept recorded the peer; getpeername(2) would fail with
		// ENOTCONN once the peer has reset, and Go's net keeps the
		// accepted address too.
		peer = c.peer
	}
	if s.closed.Load() {
		return nil, peer
	}
	local, _ = s.Getsockname()
	if peer == nil {
		peer, _ = s.Getpeername()
	}
	if stableLocal(local) {
		s.addrs.Store(&addrCache{local: local, peer: peer})
	}
	return local, peer
}

// stableLocal reports whether a local address can no longer change by
// itself (an unbound socket gets a port on its first send or connect).
func stableLocal(sa Sockaddr) bool {
	switch a := sa.(type) {
	case nil:
		return false
	case *Inet4Addr:
		return a.Port != 0
	case *Inet6Addr:
		return a.Port != 0
	}
	return true
}

// forgetAddrs drops the cached addresses after Bind or Connect.
func (s *Socket) forgetAddrs() { s.addrs.Store(nil) }

// LocalAddr returns the local address as a net.Addr (*net.TCPAddr,
// *net.UDPAddr, *net.UnixAddr...), or nil if it is unknown.
func (s *Socket) LocalAddr() net.Addr {
	if s == nil {
		return nil
	}
	local, _ := s.cachedAddrs()
	if local == nil {
		return nil
	}
	return NetAddr(local, s.typ)
}

// RemoteAddr returns the peer's address as a net.Addr, or nil if the socket
// is not connected.
func (s *Socket) RemoteAddr() net.Addr {
	if s == nil {
		return nil
	}
	_, peer := s.cachedAddrs()
	if peer == nil {
		return nil
	}
	return NetAddr(peer, s.typ)
}

// SyscallConn returns a raw connection for system calls this package does
// not wrap. Its Read and Write wait on the poller like the socket's own
// calls; after Close they fail with an error matching net.ErrClosed.
func (s *Socket) SyscallConn() (syscall.RawConn, error) {
	if s == nil {
		return nil, errNilSocket("syscallconn")
	}
	if s.closed.Load() {
		return nil, s.opErr("raw-conn", nil, ErrClosed)
	}
	return rawConn{s}, nil
}

type rawConn struct{ s *Socket }

func (c rawConn) Control(f func(fd uintptr)) error {
	if err := c.s.rc.Control(f); err != nil {
		return c.s.opErr("raw-control", nil, c.s.pollErr(err))
	}
	return nil
}

func (c rawConn) Read(f func(fd uintptr) bool) error {
	if err := c.s.rc.Read(f); err != nil {
		return c.s.opErr("raw-read", nil, c.s.pollErr(err))
	}
	return nil
}

func (c rawConn) Write(f func(fd uintptr) bool) error {
	if err := c.s.rc.Write(f); err != nil {
		return c.s.opErr("raw-write", nil, c.s.pollErr(err))
	}
	return nil
}
