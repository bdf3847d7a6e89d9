package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// The transfer protocol: a header line "SOCK1 SIZE NAME\n", SIZE bytes of
// data, a 32-byte SHA-256 of the data; the receiver answers "OK HEX\n" or
// "BAD HEX\n". A sender that does not start with the header (nc < file)
// is received as raw data, unverified.
const transferMagic = "SOCK1 "

// progress returns a byte progress bar on stderr, or nil when stderr is not
// a terminal (or quiet is set), so that pipelines stay clean.
func progress(e *env, size int64, what string, quiet bool) *progressbar.ProgressBar {
	f, ok := e.stderr.(*os.File)
	if quiet || !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(e.stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(e.stderr) }),
		progressbar.OptionUseANSICodes(true),
		// Start the clock now, with an empty bar: otherwise it starts at
		// the first chunk, and the first rate is that chunk over no time
		// at all (terabytes per second). The throttle then keeps every
		// later rate to at least 100ms of transfer.
		progressbar.OptionSetRenderBlankState(true),
	)
}

func newSend(e *env) *cobra.Command {
	var wait durationFlag
	var quiet bool
	cmd := &cobra.Command{
		Use:   "send FILE HOST PORT",
		Short: "Send a file to sock recv, checked end to end with SHA-256",
		Long: `send sends FILE to "sock recv" with sendfile(2): the data goes from the page
cache to the socket without passing through the program. Meanwhile it
computes the file's SHA-256, sends it after the data, and waits for the
receiver to confirm that the bytes it wrote hash the same. It shows a
progress bar with the rate and the time left when stderr is a terminal.

HOST PORT may also be a single host:port, or a Unix socket path.`,
		Example: `  sock recv 7000 -o backup.tar &        # on the receiving side
  sock send backup.tar 127.0.0.1 7000`,
		Args: rangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := &netOpts{wait: wait}
			target, err := connectTarget(o, args[1:])
			if err != nil {
				return err
			}
			return runSend(e, o, args[0], target, quiet)
		},
	}
	cmd.Flags().VarP(&wait, "wait", "w", "connect timeout (5, 500ms)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	return cmd
}

func runSend(e *env, o *netOpts, path, target string, quiet bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	size := fi.Size()
	// Hash the file on another goroutine (another core) while sendfile
	// moves it: reading it again from the page cache is cheaper than
	// passing the data through user space on the sending path.
	hashc := make(chan []byte, 1)
	herr := make(chan error, 1)
	go func() {
		hf, err := os.Open(path)
		if err != nil {
			herr <- err
			return
		}
		defer hf.Close()
		h := sha256.New()
		if _, err := io.Copy(h, hf); err != nil {
			herr <- err
			return
		}
		hashc <- h.Sum(nil)
	}()
	s, err := dialTarget(e.ctx, o, target)
	if err != nil {
		return err
	}
	defer s.Close()
	start := time.Now()
	name := strings.ReplaceAll(filepath.Base(path), "\n", "_")
	if _, err := s.Sendall([]byte(fmt.Sprintf("%s%d %s\n", transferMagic, size, name)), 0); err != nil {
		return err
	}
	bar := progress(e, size, "sending "+name, quiet)
	const chunk = 16 << 20
	var sent int64
	for sent < size {
		n, err := io.Copy(s, io.LimitReader(f, min(chunk, size-sent))) // sendfile(2)
		sent += n
		if bar != nil {
			bar.Add64(n)
		}
		if err != nil {
			return fmt.Errorf("sending %s: %w (%d of %d bytes went)", path, err, sent, size)
		}
		if n == 0 {
			return fmt.Errorf("%s shrank while it was sent (%d of %d bytes)", path, sent, size)
		}
	}
	var sum []byte
	select {
	case sum = <-hashc:
	case err := <-herr:
		return err
	}
	if _, err := s.Sendall(sum, 0); err != nil {
		return err
	}
	s.CloseWrite()
	s.SetTimeout(30 * time.Second)
	reply, err := bufio.NewReader(s).ReadString('\n')
	if err != nil {
		return fmt.Errorf("no confirmation from the receiver: %w", err)
	}
	took := time.Since(start)
	want := hex.EncodeToString(sum)
	switch strings.TrimSpace(reply) {
	case "OK " + want:
		fmt.Fprintf(e.stderr, "sock: sent %s (%s) in %v, %s; sha256 %s verified by the receiver\n",
			name, humanBytes(size), took.Round(time.Millisecond), perSecond(size, took), want)
		return nil
	default:
		return fmt.Errorf("the receiver's sha256 does not match: sent %s, receiver says %q", want, strings.TrimSpace(reply))
	}
}

func newRecv(e *env) *cobra.Command {
	var out string
	var quiet bool
	var v4, v6 bool
	cmd := &cobra.Command{
		Use:   "recv [ADDR] PORT -o FILE",
		Short: "Receive one file from sock send and check its SHA-256",
		Long: `recv listens for one "sock send", writes what it receives to FILE ("-" for
stdout), checks the SHA-256 the sender computed against the bytes written,
and tells the sender. Data from a sender that is not sock (nc < file) is
written as it comes, and reported as unverified.

FILE is written under a temporary name beside it (.FILE.sock-partial-...)
and renamed to FILE only once the SHA-256 matched (for raw data, once the
sender closed), as rsync does: a transfer that fails or is interrupted
leaves nothing, and never part of a file under the name you asked for.`,
		Example: `  sock recv 7000 -o backup.tar
  sock recv 127.0.0.1 7000 -o - | tar x`,
		Args: rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef("recv needs -o FILE (or -o - for stdout)")
			}
			o := &netOpts{v4: v4, v6: v6, maxConns: 1}
			if err := o.check(true); err != nil {
				return err
			}
			return runRecv(e, o, args, out, quiet)
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", `file to write ("-" for stdout)`)
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	cmd.Flags().BoolVarP(&v4, "ipv4", "4", false, "IPv4 only")
	cmd.Flags().BoolVarP(&v6, "ipv6", "6", false, "IPv6 only")
	return cmd
}

func runRecv(e *env, o *netOpts, args []string, out string, quiet bool) error {
	if len(args) == 1 && looksLikePath(args[0]) {
		o.unix = true
	}
	ls, err := listenAddr(o, args)
	if err != nil {
		return err
	}
	if out != "-" {
		if fi, err := os.Stat(out); err == nil && fi.IsDir() {
			return usagef("-o %s is a directory: name the file to write", out)
		}
	}
	// Ctrl-C ends the transfer cleanly: no partial file is left.
	ctx, stop := signal.NotifyContext(e.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := ls.listen()
	if err != nil {
		return err
	}
	defer ln.Close()
	if p := ls.path(); p != "" {
		defer os.Remove(p)
	}
	bound, _ := ln.Getsockname()
	fmt.Fprintf(e.stderr, "sock: waiting for a file on %v\n", bound)
	c, peer, err := ln.AcceptContext(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return errors.New("interrupted")
		}
		return err
	}
	defer c.Close()
	ln.Close()
	defer context.AfterFunc(ctx, func() { c.Close() })()
	interrupted := func(err error) error {
		if ctx.Err() != nil {
			return errors.New("interrupted")
		}
		return err
	}
	var w io.Writer = e.stdout
	var file *partialFile
	if out != "-" {
		if file, err = createPartial(out); err != nil {
			return err
		}
		defer file.abort() // unless committed
		w = file.f
	}
	start := time.Now()
	r := bufio.NewReaderSize(c, 1<<20)
	head, err := r.Peek(len(transferMagic))
	if err != nil && len(head) == 0 {
		return fmt.Errorf("nothing received from %v", displayAddr(peer))
	}
	if string(head) != transferMagic {
		// Raw data from nc or the like: no size, no checksum.
		n, err := io.Copy(w, r)
		if err != nil {
			return interrupted(err)
		}
		if file != nil {
			if err := file.commit(); err != nil {
				return err
			}
		}
		fmt.Fprintf(e.stderr, "sock: received %s from %v in %v (raw data, not verified: the sender was not sock send)\n",
			humanBytes(n), displayAddr(peer), time.Since(start).Round(time.Millisecond))
		return nil
	}
	line, err := r.ReadString('\n')
	if err != nil || len(line) > 4096 {
		return fmt.Errorf("bad header from %v", displayAddr(peer))
	}
	fields := strings.SplitN(strings.TrimSpace(strings.TrimPrefix(line, transferMagic)), " ", 2)
	size, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil || size < 0 {
		return fmt.Errorf("bad size in the header from %v: %q", displayAddr(peer), fields[0])
	}
	name := ""
	if len(fields) > 1 {
		name = fields[1]
	}
	bar := progress(e, size, "receiving "+name, quiet)
	h := sha256.New()
	var dst io.Writer = io.MultiWriter(w, h)
	if bar != nil {
		dst = io.MultiWriter(w, h, bar)
	}
	n, err := io.CopyBuffer(dst, io.LimitReader(r, size), make([]byte, 1<<20))
	if err != nil {
		return interrupted(fmt.Errorf("after %d of %d bytes: %w", n, size, err))
	}
	if n < size {
		return fmt.Errorf("the sender stopped after %d of %d bytes", n, size)
	}
	trailer := make([]byte, sha256.Size)
	if _, err := io.ReadFull(r, trailer); err != nil {
		return interrupted(fmt.Errorf("no checksum after the data: %w", err))
	}
	got := h.Sum(nil)
	took := time.Since(start)
	if !bytes.Equal(got, trailer) {
		c.Sendall([]byte("BAD "+hex.EncodeToString(got)+"\n"), 0)
		return fmt.Errorf("sha256 mismatch: received %s, the sender computed %s", hex.EncodeToString(got), hex.EncodeToString(trailer))
	}
	// Only now does the file take its name, and only then is the sender
	// told that it arrived.
	if file != nil {
		if err := file.commit(); err != nil {
			return err
		}
	}
	if _, err := c.Sendall([]byte("OK "+hex.EncodeToString(got)+"\n"), 0); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	fmt.Fprintf(e.stderr, "sock: received %s (%s) from %v in %v, %s; sha256 %s verified\n",
		name, humanBytes(size), displayAddr(peer), took.Round(time.Millisecond), perSecond(size, took), hex.EncodeToString(got))
	return nil
}

// partialFile is a file being received under a temporary name in the
// directory of its final one, as rsync does: commit gives it the final name
// once the data is known to be whole; abort removes it. A script never finds
// part of a file under the name it asked for.
type partialFile struct {
	f         *os.File
	final     string
	committed bool
}

func createPartial(final string) (*partialFile, error) {
	dir, base := filepath.Split(final)
	for i := 0; ; i++ {
		name := filepath.Join(dir, fmt.Sprintf(".%s.sock-partial-%d-%d", base, os.Getpid(), mrand.Uint32()))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) && i < 10 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &partialFile{f: f, final: final}, nil
	}
}

// commit closes the file and renames it to its final name.
func (p *partialFile) commit() error {
	if err := p.f.Close(); err != nil {
		return err
	}
	if err := os.Rename(p.f.Name(), p.final); err != nil {
		return err
	}
	p.committed = true
	return nil
}

// abort removes the file, unless it was committed.
func (p *partialFile) abort() {
	if !p.committed {
		p.f.Close()
		os.Remove(p.f.Name())
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func perSecond(n int64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return humanBytes(int64(float64(n)/d.Seconds())) + "/s"
}
