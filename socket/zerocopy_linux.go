//go:build linux

package socket

import (
	"io"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// io.Copy looks for io.WriterTo on the source and io.ReaderFrom on the
// destination. The net package's own zero-copy paths only recognise
// *net.TCPConn and *net.UnixConn, so Socket provides its own: sendfile(2)
// from files and splice(2) through a pipe between sockets, pipes and files.
// Anything else falls back to a buffered copy.

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

// fdKind returns the file type bits (S_IFSOCK, S_IFREG, S_IFIFO...) of the
// descriptor behind rc and whether it is in non-blocking mode.
func fdKind(rc syscall.RawConn) (mode uint32, nonblock bool, ok bool) {
	err := rc.Control(func(fd uintptr) {
		var st unix.Stat_t
		if unix.Fstat(int(fd), &st) != nil {
			return
		}
		fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		if err != nil {
			return
		}
		mode, nonblock, ok = st.Mode&unix.S_IFMT, fl&unix.O_NONBLOCK != 0, true
	})
	return mode, nonblock, ok && err == nil
}

// ReadFrom implements io.ReaderFrom, so io.Copy(sock, r) keeps the kernel's
// zero-copy paths: sendfile(2) when r is a file, splice(2) when r is a
// stream socket (a *net.TCPConn, a *Socket...). An *io.LimitedReader around
// either is honoured. Other readers are copied through a buffer. The
// timeout of SetTimeout bounds the whole call.
func (s *Socket) ReadFrom(r io.Reader) (int64, error) {
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
	var n int64
	var handled bool
	var err error
	if s.typ == SOCK_STREAM {
		if sc, ok := src.(syscall.Conn); ok {
			if rc, rerr := sc.SyscallConn(); rerr == nil {
				if mode, _, ok := fdKind(rc); ok {
					s.armWrite()
					switch mode {
					case unix.S_IFREG, unix.S_IFBLK:
						n, handled, err = s.sendfile(rc, remain)
					case unix.S_IFSOCK:
						n, handled, err = spliceCopy(rc, s.rc, remain)
						if err != nil {
							err = s.opErr("readfrom", nil, s.pollErr(err))
						}
					}
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

// WriteTo implements io.WriterTo, so io.Copy(w, sock) splices (splice(2))
// from the socket into w when w is a socket, a pipe or a regular file, and
// copies through a buffer otherwise. It reads until the peer shuts down
// (EOF), which is not an error.
func (s *Socket) WriteTo(w io.Writer) (int64, error) {
	if s.closed.Load() {
		return 0, s.opErr("writeto", nil, ErrClosed)
	}
	if s.typ == SOCK_STREAM {
		if sc, ok := w.(syscall.Conn); ok {
			if wrc, err := sc.SyscallConn(); err == nil {
				if mode, _, ok := fdKind(wrc); ok && (mode == unix.S_IFSOCK || mode == unix.S_IFIFO || mode == unix.S_IFREG) {
					s.armRead()
					n, handled, err := spliceCopy(s.rc, wrc, -1)
					if err != nil {
						err = s.opErr("writeto", nil, s.pollErr(err))
					}
					if handled {
						return n, err
					}
				}
			}
		}
	}
	return genericCopy(w, s)
}

// spliceCopy moves up to remain bytes (remain < 0: until EOF) from the
// stream socket behind src to the descriptor behind dst through a pipe,
// without copying them into user memory. It reports handled=false only when
// nothing was moved and splice cannot be used for this pair.
func spliceCopy(src, dst syscall.RawConn, remain int64) (written int64, handled bool, err error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return 0, false, nil
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	psize := pipeSize
	if sz, err := unix.FcntlInt(uintptr(p[1]), unix.F_SETPIPE_SZ, pipeSize); err != nil {
		psize = 64 << 10
	} else {
		psize = sz
	}
	_, dstNonblock, _ := fdKind(dst)
	drainFlags := unix.SPLICE_F_MOVE
	if dstNonblock {
		drainFlags |= unix.SPLICE_F_NONBLOCK
	}
	// The two closures are made once and reused for every chunk: a closure
	// built inside the loop would allocate per message.
	var chunk, inPipe int
	var ferr, derr error
	var eof bool
	fill := func(fd uintptr) bool {
		for {
			n, e := unix.Splice(int(fd), nil, p[1], nil, chunk, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
			switch {
			case e == unix.EINTR:
				continue
			case e == unix.EAGAIN:
				return false
			case e != nil:
				ferr = e
			case n == 0:
				eof = true
			default:
				inPipe = int(n)
			}
			return true
		}
	}
	drain := func(fd uintptr) bool {
		for inPipe > 0 {
			n, e := unix.Splice(p[0], nil, int(fd), nil, inPipe, drainFlags)
			switch {
			case e == unix.EINTR:
				continue
			case e == unix.EAGAIN:
				return false
			case e != nil:
				derr = e
				return true
			}
			inPipe -= int(n)
			written += n
		}
		return true
	}
	for remain < 0 || written < remain {
		chunk = psize
		if remain >= 0 && remain-written < int64(chunk) {
			chunk = int(remain - written)
		}
		inPipe, ferr, eof = 0, nil, false
		if rerr := src.Read(fill); rerr != nil {
			return written, true, rerr
		}
		if ferr != nil {
			if written == 0 && (ferr == unix.EINVAL || ferr == unix.ENOSYS) {
				return 0, false, nil
			}
			tookPath("splice")
			return written, true, os.NewSyscallError("splice", ferr)
		}
		if eof {
			break
		}
		for inPipe > 0 {
			derr = nil
			if werr := dst.Write(drain); werr != nil {
				return written, true, werr
			}
			if derr != nil {
				return written, true, os.NewSyscallError("splice", derr)
			}
		}
	}
	tookPath("splice")
	return written, true, nil
}
