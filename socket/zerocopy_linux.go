//go:build linux

package socket

import (
	"io"
	"os"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// io.Copy looks for io.WriterTo on the source and io.ReaderFrom on the
// destination. The net package's own zero-copy paths only recognise
// *net.TCPConn and *net.UnixConn, so Socket provides its own: sendfile(2)
// from files and splice(2) through a pipe between sockets, pipes and files.
//
// splice moves data only as far as the kernel lets it without waiting; when
// an end is not ready (EAGAIN) the copy waits for it on the runtime poller.
// The poller can wait only for descriptors registered with it, which Go's
// os and net packages always put in non-blocking mode, so the copy splices
// only where every end is either such a descriptor or a regular file (which
// is always ready). Every other end (a blocking pipe inherited from a shell,
// a terminal, /dev/null, a socket in blocking mode, a file opened O_APPEND,
// which splice refuses) is copied through a buffer with the end's own Read
// or Write, which wait for it as read(2) and write(2) do. The table is in
// the docs of ReadFrom and WriteTo.

const (
	maxSendfileChunk = 1 << 30
	pipeSize         = 1 << 20
)

// zeroCopyHook, when set by a test, is told which path each ReadFrom or
// WriteTo took: "sendfile", "splice" or "copy".
var zeroCopyHook func(path string)

func tookPath(path string) {
	if h := zeroCopyHook; h != nil {
		h(path)
	}
}

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// onlyWriter and onlyReader hide ReadFrom and WriteTo so that the generic
// copy does not come back here.
type onlyWriter struct{ io.Writer }
type onlyReader struct{ io.Reader }

func genericCopy(dst io.Writer, src io.Reader) (int64, error) {
	tookPath("copy")
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	return io.CopyBuffer(onlyWriter{dst}, onlyReader{src}, *bp)
}

// endKind is what fstat(2), fcntl(F_GETFL) and, for a socket, SO_TYPE say
// about the descriptor at the other end of a copy.
type endKind struct {
	mode     uint32 // S_IFSOCK, S_IFREG, S_IFIFO...
	nonblock bool   // O_NONBLOCK: on the runtime poller if Go opened it
	appendTo bool   // O_APPEND: splice(2) refuses it as a destination
	stream   bool   // a SOCK_STREAM socket
}

// kindOf describes the end behind v, a *Socket or any syscall.Conn (an
// *os.File, a *net.TCPConn...). ok is false when v has no descriptor.
func kindOf(v any) (rc syscall.RawConn, k endKind, ok bool) {
	if s, isSock := v.(*Socket); isSock {
		// Ours: non-blocking and on the poller from birth; no need to ask.
		if s.closed.Load() {
			return nil, k, false
		}
		return s.rc, endKind{mode: unix.S_IFSOCK, nonblock: true, stream: s.typ == SOCK_STREAM}, true
	}
	sc, isConn := v.(syscall.Conn)
	if !isConn {
		return nil, k, false
	}
	rc, err := sc.SyscallConn()
	if err != nil || rc == nil {
		return nil, k, false
	}
	err = rc.Control(func(fd uintptr) {
		var st unix.Stat_t
		if unix.Fstat(int(fd), &st) != nil {
			return
		}
		fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		if err != nil {
			return
		}
		k = endKind{mode: st.Mode & unix.S_IFMT, nonblock: fl&unix.O_NONBLOCK != 0, appendTo: fl&unix.O_APPEND != 0}
		if k.mode == unix.S_IFSOCK {
			typ, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TYPE)
			k.stream = err == nil && typ == unix.SOCK_STREAM
		}
		ok = true
	})
	return rc, k, ok && err == nil
}

// spliceSource reports whether a copy can splice from this end: a stream
// socket on the poller.
func (k endKind) spliceSource() bool {
	return k.mode == unix.S_IFSOCK && k.stream && k.nonblock
}

// spliceDest reports whether a copy can splice into this end: a stream
// socket or a pipe on the poller, or a regular file not in append mode.
func (k endKind) spliceDest() bool {
	switch k.mode {
	case unix.S_IFREG:
		return !k.appendTo
	case unix.S_IFSOCK:
		return k.stream && k.nonblock
	case unix.S_IFIFO:
		return k.nonblock
	}
	return false
}

// ReadFrom implements io.ReaderFrom, so io.Copy(sock, r) keeps the kernel's
// zero-copy paths where it can. The path depends on what is behind r (an
// *io.LimitedReader around it is honoured):
//
//   - a regular file or a block device: sendfile(2), from the file's
//     current offset;
//   - a stream socket in non-blocking mode, as every *Socket,
//     *net.TCPConn and *net.UnixConn is: splice(2) through a pipe, waiting
//     for either socket on the runtime poller;
//   - anything else, among them a pipe (a shell's stdin), a terminal,
//     /dev/null, a socket in blocking mode (inetd's stdin) and readers that
//     are not descriptors: a buffered copy with r's own Read, which waits
//     for r the way r does.
//
// It returns at EOF of r, which is not an error, or at the first error; a
// peer that has gone away gives an error matching EPIPE or ECONNRESET. The
// timeout of SetTimeout bounds the whole call.
func (s *Socket) ReadFrom(r io.Reader) (int64, error) {
	if s == nil {
		return 0, errNilSocket("readfrom")
	}
	if s.closed.Load() {
		return 0, s.opErr("readfrom", nil, ErrClosed)
	}
	lr, _ := r.(*io.LimitedReader)
	remain, src := int64(-1), r
	if lr != nil {
		remain, src = lr.N, lr.R
		if remain <= 0 {
			return 0, nil
		}
	}
	if isNil(src) {
		return 0, s.opErr("readfrom", nil, nilArg(src, "io.Reader"))
	}
	var n int64
	var handled bool
	var err error
	if s.typ == SOCK_STREAM {
		if rc, k, ok := kindOf(src); ok {
			switch {
			case k.mode == unix.S_IFREG || k.mode == unix.S_IFBLK:
				s.armWrite()
				n, handled, err = s.sendfile(rc, remain)
			case k.spliceSource():
				s.armWrite()
				n, handled, err = spliceCopy(rc, s.rc, remain, onlyWriter{s})
				if err != nil {
					err = s.opErr("readfrom", nil, s.pollErr(err))
				}
			}
		}
	}
	if lr != nil {
		lr.N -= n
	}
	if handled || err != nil {
		return n, err
	}
	m, err := genericCopy(s, r)
	return n + m, err
}

// sendfile copies from the file behind frc with sendfile(2), from its
// current offset, until EOF or remain bytes (remain < 0: no limit).
func (s *Socket) sendfile(frc syscall.RawConn, remain int64) (written int64, handled bool, err error) {
	var serr error
	nonblock := s.nonblock.Load()
	werr := s.rc.Write(func(sfd uintptr) bool {
		for remain < 0 || written < remain {
			chunk := maxSendfileChunk
			if remain >= 0 && remain-written < int64(chunk) {
				chunk = int(remain - written)
			}
			var n int
			var e error
			if cerr := frc.Control(func(ffd uintptr) { n, e = unix.Sendfile(int(sfd), int(ffd), nil, chunk) }); cerr != nil {
				serr = cerr
				return true
			}
			if n > 0 {
				written += int64(n)
			}
			switch {
			case e == unix.EINTR:
				continue
			case e == unix.EAGAIN:
				if nonblock {
					serr = e
					return true
				}
				return false
			case e != nil:
				serr = e
				return true
			case n == 0:
				return true // end of file
			}
		}
		return true
	})
	if werr != nil {
		return written, true, s.opErr("sendfile", nil, s.pollErr(werr))
	}
	if serr != nil {
		if written == 0 && (serr == unix.EINVAL || serr == unix.ENOSYS || serr == unix.EOPNOTSUPP) {
			return 0, false, nil // this file cannot be sent with sendfile: copy it
		}
		tookPath("sendfile")
		if errno, ok := serr.(syscall.Errno); ok {
			serr = os.NewSyscallError("sendfile", errno)
		}
		return written, true, s.opErr("sendfile", nil, serr)
	}
	tookPath("sendfile")
	return written, true, nil
}

// WriteTo implements io.WriterTo, so io.Copy(w, sock) keeps the kernel's
// zero-copy path where it can. It reads until the peer shuts down (EOF,
// which is not an error) or an error. The path depends on what is behind w:
//
//   - a stream socket or a pipe in non-blocking mode (every *Socket,
//     *net.TCPConn and *net.UnixConn, a pipe from os.Pipe, a descriptor
//     that was non-blocking when os.NewFile wrapped it), or a regular file:
//     splice(2) through a pipe, waiting for either end on the runtime
//     poller;
//   - anything else: a pipe in blocking mode (a shell's stdout, as in
//     "sock connect ... | prog"), a terminal, /dev/null, a socket in
//     blocking mode, a file opened with O_APPEND (">>"), writers that are
//     not descriptors: a buffered copy with w's own Write, which waits for
//     a slow reader the way w does. The runtime poller cannot wait for a
//     blocking descriptor, which is why splice is not used there.
//
// Every byte read from the socket is written to w or the call returns an
// error: a reader of w that has gone away gives an error matching EPIPE (or
// ECONNRESET from a socket) at once.
func (s *Socket) WriteTo(w io.Writer) (int64, error) {
	if s == nil {
		return 0, errNilSocket("writeto")
	}
	if s.closed.Load() {
		return 0, s.opErr("writeto", nil, ErrClosed)
	}
	if isNil(w) {
		return 0, s.opErr("writeto", nil, nilArg(w, "io.Writer"))
	}
	var n int64
	if s.typ == SOCK_STREAM {
		if wrc, k, ok := kindOf(w); ok && k.spliceDest() {
			s.armRead()
			var handled bool
			var err error
			n, handled, err = spliceCopy(s.rc, wrc, -1, onlyWriter{w})
			if err != nil {
				err = s.opErr("writeto", nil, s.pollErr(err))
			}
			if handled || err != nil {
				return n, err
			}
		}
	}
	m, err := genericCopy(w, s)
	return n + m, err
}

// splicePipe is the pipe a splice goes through, with the state of one copy.
// Pipes are kept in a pool: making one costs four system calls (pipe2,
// F_SETPIPE_SZ and two closes), which a short copy would feel. The fill and
// drain method values are bound once, when the pipe is made, since a
// closure passed to RawConn.Read escapes and would allocate per call.
type splicePipe struct {
	rfd, wfd int
	size     int
	cleanup  runtime.Cleanup

	fillFn, drainFn func(uintptr) bool

	// per copy
	chunk, inPipe int
	written       int64
	drainFlags    int
	ferr, derr    syscall.Errno
	eof           bool
}

var splicePipePool = sync.Pool{New: func() any {
	var fds [2]int
	if unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC) != nil {
		return nil
	}
	p := &splicePipe{rfd: fds[0], wfd: fds[1], size: 64 << 10}
	if sz, err := unix.FcntlInt(uintptr(fds[1]), unix.F_SETPIPE_SZ, pipeSize); err == nil {
		p.size = sz
	}
	p.fillFn, p.drainFn = p.fill, p.drain
	p.cleanup = runtime.AddCleanup(p, closePipe, fds)
	return p
}}

func closePipe(fds [2]int) {
	unix.Close(fds[0])
	unix.Close(fds[1])
}

// putPipe returns p to the pool, or closes it if data is left in it.
func putPipe(p *splicePipe) {
	if p.inPipe != 0 {
		p.cleanup.Stop()
		closePipe([2]int{p.rfd, p.wfd})
		return
	}
	p.ferr, p.derr = 0, 0
	splicePipePool.Put(p)
}

// fill moves up to p.chunk bytes from the socket fd into the empty pipe.
func (p *splicePipe) fill(fd uintptr) bool {
	for {
		n, e := unix.Splice(int(fd), nil, p.wfd, nil, p.chunk, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN:
			return false
		case e != nil:
			p.ferr = asErrno(e)
		case n == 0:
			p.eof = true
		default:
			p.inPipe = int(n)
		}
		return true
	}
}

// drainFault, when set by a test, is the error the next splice into a
// destination fails with, as from a file system that has no splice_write.
var drainFault syscall.Errno

// drain moves what is in the pipe to fd.
func (p *splicePipe) drain(fd uintptr) bool {
	for p.inPipe > 0 {
		var n int64
		var e error
		if f := drainFault; f != 0 {
			e, drainFault = f, 0
		} else {
			n, e = unix.Splice(p.rfd, nil, int(fd), nil, p.inPipe, p.drainFlags)
		}
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN:
			return false
		case e != nil:
			p.derr = asErrno(e)
			return true
		case n == 0:
			p.derr = unix.EIO // cannot happen: the pipe holds data
			return true
		}
		p.inPipe -= int(n)
		p.written += n
	}
	return true
}

// rescue writes what is left in the pipe to w with the pipe's read(2) and
// w's own Write, when splice cannot write to the destination after all.
func (p *splicePipe) rescue(w io.Writer) error {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	for p.inPipe > 0 {
		n, err := unix.Read(p.rfd, (*bp)[:min(len(*bp), p.inPipe)])
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			return os.NewSyscallError("read", asErrno(err))
		}
		p.inPipe -= n
		m, err := w.Write((*bp)[:n])
		p.written += int64(m)
		if err != nil {
			return err
		}
	}
	return nil
}

// spliceCopy moves up to remain bytes (remain < 0: until EOF) from the
// stream socket behind src to the descriptor behind dst through a pipe,
// without copying them into user memory; both must be on the poller, or dst
// a regular file. It reports handled=false when splice cannot be used for
// this pair: then nothing was lost, what was moved is counted in written
// and the caller copies the rest. dstW is dst's writer, which takes the
// bytes already in the pipe if splice turns out unable to write to dst.
func spliceCopy(src, dst syscall.RawConn, remain int64, dstW io.Writer) (written int64, handled bool, err error) {
	v := splicePipePool.Get()
	if v == nil {
		return 0, false, nil
	}
	p := v.(*splicePipe)
	defer putPipe(p)
	p.written, p.drainFlags = 0, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK
	for remain < 0 || p.written < remain {
		p.chunk = p.size
		if remain >= 0 && remain-p.written < int64(p.chunk) {
			p.chunk = int(remain - p.written)
		}
		p.inPipe, p.eof = 0, false
		if rerr := src.Read(p.fillFn); rerr != nil {
			return p.written, true, rerr
		}
		if p.ferr != 0 {
			if p.written == 0 && (p.ferr == unix.EINVAL || p.ferr == unix.ENOSYS) {
				return 0, false, nil
			}
			tookPath("splice")
			return p.written, true, os.NewSyscallError("splice", p.ferr)
		}
		if p.eof {
			break
		}
		for p.inPipe > 0 {
			if werr := dst.Write(p.drainFn); werr != nil {
				return p.written, true, werr
			}
			if p.derr != 0 {
				if p.derr == unix.EINVAL || p.derr == unix.ENOSYS || p.derr == unix.EOPNOTSUPP {
					// dst does not take splice (a file system without
					// splice_write...): hand over what the pipe holds.
					tookPath("splice")
					if err := p.rescue(dstW); err != nil {
						return p.written, true, err
					}
					return p.written, false, nil
				}
				tookPath("splice")
				return p.written, true, os.NewSyscallError("splice", p.derr)
			}
		}
	}
	tookPath("splice")
	return p.written, true, nil
}
