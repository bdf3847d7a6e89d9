package cli

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/socketkit/socketkit/socket"
)

// pump copies stdin to the connection and the connection to stdout, with
// the flags' transformations, until the peer closes (or -q, --send-only
// or the idle timeout ends it). out, when set, replaces stdout (listen -k
// shares stdout among clients).
func pump(e *env, o *netOpts, s *socket.Socket, c net.Conn, out io.Writer) error {
	if out == nil {
		out = e.stdout
	}
	start := time.Now()
	var sent, recvd atomic.Int64
	var last atomic.Int64
	touch := func() { last.Store(time.Now().UnixNano()) }
	touch()
	dgram := s.Type() != socket.SOCK_STREAM

	// The raw socket keeps the zero-copy paths (sendfile from a file on
	// stdin, splice into a pipe on stdout) when nothing transforms the data.
	plain := !o.crlf && !o.hexdump && o.idle.d == 0 && !dgram
	var src io.Reader = e.stdin
	var dst io.Writer = out
	var conn io.ReadWriter = c
	var dumpIn, dumpOut io.WriteCloser
	if o.hexdump {
		dumpOut, dumpIn = hexDumper(e.stderr, "> "), hexDumper(e.stderr, "< ")
		defer dumpOut.Close()
		defer dumpIn.Close()
	}
	done := make(chan error, 2)

	// receive: connection -> stdout
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		var err error
		var n int64
		switch {
		case o.sendOnly:
			n, err = io.Copy(io.Discard, onlyReader{conn})
		case plain:
			n, err = io.Copy(dst, conn)
		default:
			n, err = copyChunks(dst, conn, dgram, func(b []byte) []byte {
				touch()
				if dumpIn != nil {
					dumpIn.Write(b)
				}
				return b
			})
		}
		recvd.Add(n)
		done <- err
	}()

	// send: stdin -> connection
	sendDone := make(chan struct{})
	if o.recvOnly {
		close(sendDone)
	} else {
		go func() {
			defer close(sendDone)
			var n int64
			var err error
			if plain {
				n, err = io.Copy(conn, src)
			} else {
				var crlfPrev byte
				n, err = copyChunks(conn, src, dgram, func(b []byte) []byte {
					touch()
					if o.crlf {
						b, crlfPrev = toCRLF(b, crlfPrev)
					}
					if dumpOut != nil {
						dumpOut.Write(b)
					}
					return b
				})
			}
			sent.Add(n)
			if err != nil && !peerLeft(err) {
				done <- err
				return
			}
			// Shut down the sending side of a connection, stream or
			// SEQPACKET (whose peer then reads EOF too); a datagram
			// socket has no such side.
			if !o.noShutdown && s.Type() != socket.SOCK_DGRAM {
				if cw, ok := c.(interface{ CloseWrite() error }); ok && c != net.Conn(s) {
					cw.CloseWrite() // TLS close_notify
				}
				s.CloseWrite()
			}
		}()
	}

	var idleC <-chan time.Time
	if o.idle.d > 0 {
		t := time.NewTicker(o.idle.d / 4)
		defer t.Stop()
		idleC = t.C
	}
	var quitC <-chan time.Time
	var result error
	sendDoneC := (<-chan struct{})(sendDone)
	if o.recvOnly {
		sendDoneC = nil
	}
loop:
	for {
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, io.EOF) && !peerLeft(err) {
				result = err
			}
			break loop
		case <-recvDone:
			break loop
		case <-sendDoneC:
			sendDoneC = nil
			if o.sendOnly {
				break loop
			}
			if o.quitSet {
				quitC = time.After(o.quit.d)
			}
		case <-quitC:
			break loop
		case <-idleC:
			if time.Since(time.Unix(0, last.Load())) > o.idle.d {
				result = fmt.Errorf("idle for %v: closing", o.idle.d)
				break loop
			}
		case <-e.ctx.Done():
			break loop
		}
	}
	s.Close() // ends the other direction
	<-recvDone
	o.logf(e, 2, "%d bytes sent, %d bytes received in %v", sent.Load(), recvd.Load(), time.Since(start).Round(time.Millisecond))
	return result
}

type onlyReader struct{ io.Reader }

// copyChunks copies src to dst through a buffer, passing each chunk through
// f. On a datagram socket each read is one datagram and each write sends one.
func copyChunks(dst io.Writer, src io.Reader, dgram bool, f func([]byte) []byte) (int64, error) {
	buf := make([]byte, 64<<10)
	var total int64
	for {
		n, err := src.Read(buf)
		if n > 0 || (dgram && err == nil) {
			b := f(buf[:n])
			if _, werr := dst.Write(b); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// toCRLF turns bare LF into CRLF; prev is the last byte of the previous
// chunk, so a CRLF split across chunks is left alone.
func toCRLF(b []byte, prev byte) ([]byte, byte) {
	if len(b) == 0 || bytes.IndexByte(b, '\n') < 0 {
		if len(b) > 0 {
			prev = b[len(b)-1]
		}
		return b, prev
	}
	out := make([]byte, 0, len(b)+8)
	for _, c := range b {
		if c == '\n' && prev != '\r' {
			out = append(out, '\r')
		}
		out = append(out, c)
		prev = c
	}
	return out, prev
}

// hexDumper writes hexdump -C lines to w, each prefixed.
func hexDumper(w io.Writer, prefix string) io.WriteCloser {
	return hex.Dumper(&prefixWriter{w: w, prefix: prefix, bol: true})
}

type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	bol    bool
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []byte
	for _, c := range b {
		if p.bol {
			out = append(out, p.prefix...)
		}
		out = append(out, c)
		p.bol = c == '\n'
	}
	if _, err := p.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}
