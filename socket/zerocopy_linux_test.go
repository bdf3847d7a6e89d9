//go:build linux

package socket_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"sort"
	"strings"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

// The zero-copy tests run (*Socket).WriteTo and ReadFrom, through io.Copy as
// programs call them, against every kind of descriptor a program meets at
// the other end: what a shell hands it as stdin and stdout (blocking pipes,
// a terminal, a file, /dev/null), what Go makes (pollable pipes, sockets),
// and a peer that goes away. Each checks the sha256 of what arrived.

const (
	zcSize    = 1<<20 + 4093 // not a multiple of any buffer or pipe size
	zcLate    = 150 * time.Millisecond
	zcTimeout = 60 * time.Second // a hang fails the test instead of the run
)

// zcEnd is the descriptor at the other end of a copy. ours is what io.Copy
// gets; theirs is the test's side of it (the reader of a pipe, the master of
// a pty), nil when what arrived is read back another way (arrived).
type zcEnd struct {
	ours    any
	theirs  io.ReadWriter
	arrived func() []byte // for ends without theirs: what was written
	// keepOpen: the writer of theirs must not close it once done (a pty
	// drops the input its slave has not read when the master closes).
	keepOpen bool
	closers  []io.Closer // closed when the case ends
}

type zcCase struct {
	name string
	slow bool // theirs starts late and goes in small pieces
	open func(t *testing.T) *zcEnd
}

// blockingPipe returns a pipe whose ends are in blocking mode, as a shell
// hands them to its children: os.NewFile keeps such descriptors off the
// runtime poller.
func blockingPipe(t *testing.T) (r, w *os.File) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(p[0]), "|0"), os.NewFile(uintptr(p[1]), "|1")
}

// blockingSocketpair returns a connected AF_UNIX pair in blocking mode, as
// inetd or a systemd Accept=yes service hands one to its child.
func blockingSocketpair(t *testing.T) (a, b *os.File) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fds[0]), "sp0"), os.NewFile(uintptr(fds[1]), "sp1")
}

// openPty returns the master and the slave of a new pseudo-terminal in raw
// mode (no echo, no line editing, no output processing), the slave in
// blocking mode as a terminal on stdin or stdout is.
func openPty(t *testing.T) (master, slave *os.File) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	var n int
	var serr error
	rc, _ := m.SyscallConn()
	rc.Control(func(fd uintptr) {
		if serr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); serr == nil {
			n, serr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
		}
	})
	if serr != nil {
		m.Close()
		t.Skipf("unlockpt: %v", serr)
	}
	sfd, err := unix.Open("/dev/pts/"+strconv.Itoa(n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		m.Close()
		t.Skipf("open the pty slave: %v", err)
	}
	tio, err := unix.IoctlGetTermios(sfd, unix.TCGETS)
	if err == nil {
		tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF
		tio.Oflag &^= unix.OPOST
		tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		tio.Cflag &^= unix.CSIZE | unix.PARENB
		tio.Cflag |= unix.CS8
		tio.Cc[unix.VMIN], tio.Cc[unix.VTIME] = 1, 0
		err = unix.IoctlSetTermios(sfd, unix.TCSETS, tio)
	}
	if err != nil {
		unix.Close(sfd)
		m.Close()
		t.Fatalf("raw mode: %v", err)
	}
	return m, os.NewFile(uintptr(sfd), "pts")
}

// userBlockingTCP returns a connected *net.TCPConn pair, the first one
// switched to blocking mode by its user through SyscallConn: still on the
// poller, but its descriptor blocks.
func userBlockingTCP(t *testing.T) (blocking, other *net.TCPConn) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	rc, _ := c.(*net.TCPConn).SyscallConn()
	rc.Control(func(fd uintptr) { err = unix.SetNonblock(int(fd), false) })
	if err != nil {
		t.Fatal(err)
	}
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// netUnixPair returns a connected *net.UnixConn pair.
func netUnixPair(t *testing.T) (a, b *net.UnixConn) {
	path := sockettest.UnixPath(t, "zc.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.AcceptUnix()
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c, s
}

func regularFile(t *testing.T, flag int) *zcEnd {
	path := filepath.Join(t.TempDir(), "f")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|flag, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if flag&os.O_APPEND != 0 {
		f.WriteString("head:") // what O_APPEND keeps
	}
	return &zcEnd{ours: f, closers: []io.Closer{f}, arrived: func() []byte {
		b, _ := os.ReadFile(path)
		return bytes.TrimPrefix(b, []byte("head:"))
	}}
}

// zcDestinations are the ends WriteTo copies into.
var zcDestinations = []zcCase{
	{"blocking pipe (a shell's stdout), late reader", true, func(t *testing.T) *zcEnd {
		r, w := blockingPipe(t)
		return &zcEnd{ours: w, theirs: r, closers: []io.Closer{r, w}}
	}},
	{"pollable pipe (os.Pipe), late reader", true, func(t *testing.T) *zcEnd {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		return &zcEnd{ours: w, theirs: r, closers: []io.Closer{r, w}}
	}},
	{"regular file", false, func(t *testing.T) *zcEnd { return regularFile(t, os.O_TRUNC) }},
	{"regular file opened O_APPEND (>>)", false, func(t *testing.T) *zcEnd { return regularFile(t, os.O_APPEND) }},
	{"/dev/null", false, func(t *testing.T) *zcEnd {
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		return &zcEnd{ours: f, closers: []io.Closer{f}}
	}},
	{"terminal (pty slave), late reader", true, func(t *testing.T) *zcEnd {
		m, s := openPty(t)
		return &zcEnd{ours: s, theirs: m, closers: []io.Closer{m, s}}
	}},
	{"blocking Unix socket (inetd's stdout), late reader", true, func(t *testing.T) *zcEnd {
		a, b := blockingSocketpair(t)
		return &zcEnd{ours: a, theirs: b, closers: []io.Closer{a, b}}
	}},
	{"TCP conn its user set blocking, late reader", true, func(t *testing.T) *zcEnd {
		a, b := userBlockingTCP(t)
		return &zcEnd{ours: a, theirs: b, closers: []io.Closer{a, b}}
	}},
	{"net.UnixConn, late reader", true, func(t *testing.T) *zcEnd {
		a, b := netUnixPair(t)
		return &zcEnd{ours: a, theirs: b, closers: []io.Closer{a, b}}
	}},
	{"socket.Socket AF_UNIX, late reader", true, func(t *testing.T) *zcEnd {
		a, b := connPair(t, streamNets[2])
		return &zcEnd{ours: a, theirs: b}
	}},
	{"socket.Socket TCP, late reader", true, func(t *testing.T) *zcEnd {
		a, b := connPair(t, streamNets[0])
		return &zcEnd{ours: a, theirs: b}
	}},
}

// zcSources are the ends ReadFrom copies from.
var zcSources = []zcCase{
	{"blocking pipe (a shell's stdin), slow writer", true, func(t *testing.T) *zcEnd {
		r, w := blockingPipe(t)
		return &zcEnd{ours: r, theirs: w, closers: []io.Closer{r, w}}
	}},
	{"pollable pipe (os.Pipe), slow writer", true, func(t *testing.T) *zcEnd {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		return &zcEnd{ours: r, theirs: w, closers: []io.Closer{r, w}}
	}},
	{"terminal (pty slave), slow writer", true, func(t *testing.T) *zcEnd {
		m, s := openPty(t)
		// A terminal does not end with EOF when its master closes (read
		// fails with EIO): copy exactly what is sent.
		return &zcEnd{ours: io.LimitReader(s, zcSize), theirs: m, closers: []io.Closer{m, s}, keepOpen: true}
	}},
	{"blocking Unix socket (inetd's stdin), slow writer", true, func(t *testing.T) *zcEnd {
		a, b := blockingSocketpair(t)
		return &zcEnd{ours: a, theirs: b, closers: []io.Closer{a, b}}
	}},
	{"TCP conn its user set blocking, slow writer", true, func(t *testing.T) *zcEnd {
		a, b := userBlockingTCP(t)
		return &zcEnd{ours: a, theirs: b, closers: []io.Closer{a, b}}
	}},
	{"net.UnixConn, slow writer", true, func(t *testing.T) *zcEnd {
		a, b := netUnixPair(t)
		return &zcEnd{ours: a, theirs: b, closers: []io.Closer{a, b}}
	}},
	{"socket.Socket AF_UNIX, slow writer", true, func(t *testing.T) *zcEnd {
		a, b := connPair(t, streamNets[2])
		return &zcEnd{ours: a, theirs: b}
	}},
	{"socket.Socket TCP, slow writer", true, func(t *testing.T) *zcEnd {
		a, b := connPair(t, streamNets[0])
		return &zcEnd{ours: a, theirs: b}
	}},
}

// slowRead reads n bytes from r, starting late and in small pieces.
func slowRead(r io.Reader, n int) ([]byte, error) {
	time.Sleep(zcLate)
	out := make([]byte, 0, n)
	buf := make([]byte, 4096)
	for len(out) < n {
		m, err := r.Read(buf[:min(len(buf), n-len(out))])
		out = append(out, buf[:m]...)
		if err != nil {
			return out, err
		}
		if len(out)%(256<<10) < m {
			time.Sleep(time.Millisecond) // a consumer busy with something else
		}
	}
	return out, nil
}

// slowWrite writes data to w, starting late and in small pieces.
func slowWrite(w io.Writer, data []byte) error {
	time.Sleep(zcLate)
	for off := 0; off < len(data); {
		n, err := w.Write(data[off:min(off+4096, len(data))])
		off += n
		if err != nil {
			return err
		}
		if off%(256<<10) < n {
			time.Sleep(time.Millisecond)
		}
	}
	return nil
}

// closeAll closes the end and the sockets of a case, which ends the
// goroutines blocked on them.
func closeAll(end *zcEnd, cs ...io.Closer) {
	for _, c := range end.closers {
		c.Close()
	}
	for _, c := range cs {
		c.Close()
	}
}

func closeWrite(v any) {
	if cw, ok := v.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	} else if c, ok := v.(io.Closer); ok {
		c.Close()
	}
}

// runBounded runs f and fails the test if it has not returned in zcTimeout.
func runBounded(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(zcTimeout):
		t.Fatalf("%s hung for %v", what, zcTimeout)
	}
}

func zcData(t *testing.T) ([]byte, [32]byte) {
	data := make([]byte, zcSize)
	rand.Read(data)
	return data, sha256.Sum256(data)
}

// TestWriteToEnds: io.Copy(end, sock), the socket fed by a peer, delivers
// every byte into every kind of end or returns an error; none stops with
// "waiting for unsupported file type" (issue 9, part 1).
func TestWriteToEnds(t *testing.T) {
	data, want := zcData(t)
	for _, tc := range zcDestinations {
		t.Run(tc.name, func(t *testing.T) {
			sockettest.LeakCheck(t)
			end := tc.open(t)
			c, s := connPair(t, streamNets[0])
			var wg sync.WaitGroup
			t.Cleanup(func() { closeAll(end, c, s); wg.Wait() })
			sent := make(chan error, 1)
			wg.Go(func() {
				_, err := c.Sendall(data, 0)
				c.CloseWrite()
				sent <- err
			})
			got := make(chan []byte, 1)
			if end.theirs != nil {
				wg.Go(func() {
					var b []byte
					var err error
					if tc.slow {
						b, err = slowRead(end.theirs, zcSize)
					} else {
						b, err = io.ReadAll(io.LimitReader(end.theirs, zcSize))
					}
					if err != nil {
						b = append(b, fmt.Sprintf("<reading what arrived: %v>", err)...)
					}
					got <- b
				})
			}
			var n int64
			var err error
			runBounded(t, "io.Copy", func() { n, err = io.Copy(end.ours.(io.Writer), s) })
			if err != nil || n != zcSize {
				t.Fatalf("io.Copy = %d, %v; want %d, nil", n, err, zcSize)
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			var b []byte
			switch {
			case end.theirs != nil:
				runBounded(t, "the reader", func() { b = <-got })
				closeWrite(end.ours)
				if extra, _ := io.ReadAll(end.theirs); len(extra) > 0 && end.arrived == nil {
					t.Errorf("%d bytes more than were sent", len(extra))
				}
			case end.arrived != nil:
				b = end.arrived()
			default:
				return // /dev/null: the count is all there is to check
			}
			if len(b) != zcSize || sha256.Sum256(b) != want {
				t.Fatalf("%d bytes arrived, sha256 equal: %v", len(b), sha256.Sum256(b) == want)
			}
		})
	}
}

// TestReadFromEnds: io.Copy(sock, end), a peer reading the socket, sends
// every byte that a slow writer puts into every kind of end.
func TestReadFromEnds(t *testing.T) {
	data, want := zcData(t)
	cases := append(zcSources,
		zcCase{"regular file", false, func(t *testing.T) *zcEnd {
			path := filepath.Join(t.TempDir(), "src")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			return &zcEnd{ours: f, closers: []io.Closer{f}}
		}})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sockettest.LeakCheck(t)
			end := tc.open(t)
			c, s := connPair(t, streamNets[0])
			var wg sync.WaitGroup
			t.Cleanup(func() { closeAll(end, c, s); wg.Wait() })
			got := make(chan []byte, 1)
			wg.Go(func() {
				b, err := io.ReadAll(s)
				if err != nil {
					b = append(b, fmt.Sprintf("<the peer's read: %v>", err)...)
				}
				got <- b
			})
			wrote := make(chan error, 1)
			if end.theirs != nil {
				wg.Go(func() {
					err := slowWrite(end.theirs, data)
					if !end.keepOpen {
						closeWrite(end.theirs)
					}
					wrote <- err
				})
			} else {
				wrote <- nil
			}
			var n int64
			var err error
			runBounded(t, "io.Copy", func() { n, err = io.Copy(c, end.ours.(io.Reader)) })
			c.CloseWrite()
			if err != nil || n != zcSize {
				t.Fatalf("io.Copy = %d, %v; want %d, nil", n, err, zcSize)
			}
			if err := <-wrote; err != nil {
				t.Fatal(err)
			}
			var b []byte
			runBounded(t, "the peer", func() { b = <-got })
			if len(b) != zcSize || sha256.Sum256(b) != want {
				t.Fatalf("%d bytes arrived, sha256 equal: %v", len(b), sha256.Sum256(b) == want)
			}
		})
	}
	t.Run("/dev/null", func(t *testing.T) {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		c, _ := connPair(t, streamNets[0])
		if n, err := io.Copy(c, f); n != 0 || err != nil {
			t.Fatalf("io.Copy from /dev/null = %d, %v", n, err)
		}
	})
}

// TestZeroCopyReaderGone: when whoever reads the far end has gone away, the
// copy fails at once with an error matching EPIPE (or ECONNRESET from a
// socket), never hangs, whichever path it takes.
func TestZeroCopyReaderGone(t *testing.T) {
	data, _ := zcData(t)
	// WriteTo into an end whose reader closes before or during the copy.
	for _, tc := range []zcCase{zcDestinations[0], zcDestinations[1], zcDestinations[6], zcDestinations[8], zcDestinations[10]} {
		for _, midway := range []bool{false, true} {
			t.Run(fmt.Sprintf("WriteTo %s, reader leaves midway=%v", tc.name, midway), func(t *testing.T) {
				sockettest.LeakCheck(t)
				end := tc.open(t)
				c, s := connPair(t, streamNets[0])
				var wg sync.WaitGroup
				t.Cleanup(func() { closeAll(end, c, s); wg.Wait() })
				// The peer sends until it fails (at most 64 MiB): more
				// than the socket buffers hold, so the copy cannot end
				// at EOF before the reader goes.
				wg.Go(func() {
					for range 64 {
						if _, err := c.Sendall(data, 0); err != nil {
							return
						}
					}
				})
				theirs := end.theirs.(io.Closer)
				if midway {
					wg.Go(func() {
						slowRead(end.theirs, 100<<10)
						theirs.Close()
					})
				} else {
					theirs.Close()
				}
				var err error
				runBounded(t, "io.Copy", func() { _, err = io.Copy(end.ours.(io.Writer), s) })
				if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("io.Copy into an end nobody reads: %v; want EPIPE or ECONNRESET", err)
				}
			})
		}
	}
	// ReadFrom into a socket whose peer has gone, from each kind of source.
	for _, kind := range []string{"file", "pipe", "socket"} {
		t.Run("ReadFrom "+kind+", peer gone", func(t *testing.T) {
			sockettest.LeakCheck(t)
			c, s := connPair(t, streamNets[0])
			s.SetLinger(true, 0)
			s.Close() // RST
			var wg sync.WaitGroup
			var closers []io.Closer
			t.Cleanup(func() {
				for _, cl := range closers {
					cl.Close()
				}
				wg.Wait()
			})
			var src io.Reader
			switch kind {
			case "file":
				path := filepath.Join(t.TempDir(), "src")
				os.WriteFile(path, data, 0o600)
				f, err := os.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				src = f
			case "pipe":
				r, w := blockingPipe(t)
				closers = append(closers, r, w)
				wg.Go(func() { w.Write(data); w.Close() })
				src = r
			case "socket":
				a, b := connPair(t, streamNets[2])
				closers = append(closers, a, b)
				wg.Go(func() { a.Sendall(data, 0); a.CloseWrite() })
				src = b
			}
			var err error
			runBounded(t, "io.Copy", func() { _, err = io.Copy(c, src) })
			if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("io.Copy to a peer that reset: %v; want EPIPE or ECONNRESET", err)
			}
		})
	}
}

// TestWriteToSpliceRefused: when splice into the destination fails with
// EINVAL after the pipe already holds data (a file system without splice
// support), those bytes go to the destination's own Write and the copy
// goes on through a buffer: nothing is lost.
func TestWriteToSpliceRefused(t *testing.T) {
	sockettest.LeakCheck(t)
	data, want := zcData(t)
	var paths []string
	defer socket.SetZeroCopyHook(func(p string) { paths = append(paths, p) })()
	path := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, s := connPair(t, streamNets[0])
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { c.Sendall(data, 0); c.CloseWrite() })
	socket.FailNextSpliceInto(syscall.EINVAL)
	defer socket.FailNextSpliceInto(0)
	var n int64
	runBounded(t, "io.Copy", func() { n, err = io.Copy(f, s) })
	if err != nil || n != zcSize {
		t.Fatalf("io.Copy = %d, %v; want %d, nil", n, err, zcSize)
	}
	if b, _ := os.ReadFile(path); sha256.Sum256(b) != want {
		t.Fatalf("%d bytes arrived, not what was sent", len(b))
	}
	if fmt.Sprint(paths) != "[splice copy]" {
		t.Fatalf("paths taken: %v; want [splice copy]", paths)
	}
}

// TestZeroCopy: io.Copy between files and sockets takes the sendfile and
// splice paths and delivers every byte.
func TestZeroCopy(t *testing.T) {
	sockettest.LeakCheck(t)
	var mu sync.Mutex
	var paths []string
	defer socket.SetZeroCopyHook(func(p string) { mu.Lock(); paths = append(paths, p); mu.Unlock() })()
	took := func(want ...string) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		sort.Strings(paths)
		sort.Strings(want)
		if strings.Join(paths, ",") != strings.Join(want, ",") {
			t.Fatalf("copy paths taken: %v; want %v", paths, want)
		}
		paths = nil
	}
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	want := sha256.Sum256(data)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.WriteFile(src, data, 0o600)

	c, s := connPair(t, streamNets[0])
	// file -> socket (sendfile), socket -> file (splice)
	got := make(chan []byte)
	go func() {
		dst, _ := os.Create(filepath.Join(dir, "dst"))
		n, err := io.Copy(dst, s)
		dst.Close()
		if err != nil || n != int64(len(data)) {
			t.Errorf("socket->file copied %d, %v", n, err)
		}
		b, _ := os.ReadFile(filepath.Join(dir, "dst"))
		got <- b
	}()
	f, _ := os.Open(src)
	n, err := io.Copy(c, f)
	f.Close()
	if err != nil || n != int64(len(data)) {
		t.Fatalf("file->socket copied %d, %v", n, err)
	}
	c.CloseWrite()
	if sha256.Sum256(<-got) != want {
		t.Fatal("file->socket->file corrupted the data")
	}
	took("sendfile", "splice")

	// A LimitedReader is honoured and the file offset advances.
	c2, s2 := connPair(t, streamNets[0])
	f, _ = os.Open(src)
	n, err = io.Copy(c2, io.LimitReader(f, 1000))
	if err != nil || n != 1000 {
		t.Fatalf("limited copy %d, %v", n, err)
	}
	off, _ := f.Seek(0, io.SeekCurrent)
	f.Close()
	if off != 1000 {
		t.Fatalf("file offset after sendfile = %d", off)
	}
	c2.CloseWrite()
	if b, _ := io.ReadAll(s2); !bytes.Equal(b, data[:1000]) {
		t.Fatal("limited copy corrupted")
	}
	took("sendfile")

	// socket -> socket (splice), with a stdlib TCP connection on one side.
	c3, s3 := connPair(t, streamNets[0])
	nl, _ := net.Listen("tcp", "127.0.0.1:0")
	defer nl.Close()
	out := make(chan []byte)
	go func() {
		cc, err := nl.Accept()
		if err != nil {
			out <- nil
			return
		}
		b, _ := io.ReadAll(cc)
		cc.Close()
		out <- b
	}()
	nc, _ := net.Dial("tcp", nl.Addr().String())
	go func() {
		c3.Sendall(data, 0)
		c3.CloseWrite()
	}()
	n, err = io.Copy(nc, s3) // s3.WriteTo: splice socket -> socket
	nc.Close()
	if err != nil || n != int64(len(data)) {
		t.Fatalf("socket->socket copied %d, %v", n, err)
	}
	if sha256.Sum256(<-out) != want {
		t.Fatal("socket->socket corrupted the data")
	}
	took("splice")

	// A reader that is not a file or socket takes the buffered path.
	c4, s4 := connPair(t, streamNets[2])
	go func() {
		io.Copy(c4, bytes.NewReader(data))
		c4.CloseWrite()
	}()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, s4); err != nil || sha256.Sum256(buf.Bytes()) != want {
		t.Fatalf("buffered path: %v", err)
	}
	took("copy") // socket -> bytes.Buffer (bytes.Reader -> socket uses the reader's own WriteTo)
}
