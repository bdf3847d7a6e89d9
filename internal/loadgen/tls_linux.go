//go:build linux

package loadgen

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// TLS: the load generator's connections speak TLS when Config.TLS is set.
// Each handshake is made at dial time, blocking, over the socket; after
// it the socket is non-blocking and crypto/tls runs over an in-memory
// pipe that the epoll loop fills and drains: reads are handed to
// Conn.Read until the pipe runs dry (a Temporary error, which crypto/tls
// does not record), writes are encrypted into the pipe and written out
// with the loop's own write(2). So the load stays on one thread, as it is
// without TLS.

// tlsPipe is a TLS client's transport: the socket itself while blocking
// (the handshake), memory afterwards.
type tlsPipe struct {
	fd       int
	blocking bool
	src      []byte // ciphertext read from the socket, lent
	out      []byte // ciphertext to write
	off      int    // how much of out has been written
}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "loadgen: no more TLS input" }
func (wouldBlock) Timeout() bool   { return false }
func (wouldBlock) Temporary() bool { return true }

var errWouldBlock net.Error = wouldBlock{}

func (p *tlsPipe) Read(b []byte) (int, error) {
	if p.blocking {
		for {
			n, err := unix.Read(p.fd, b)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return 0, err
			}
			if n == 0 {
				return 0, errors.New("EOF during the TLS handshake")
			}
			return n, nil
		}
	}
	if len(p.src) == 0 {
		return 0, errWouldBlock
	}
	n := copy(b, p.src)
	p.src = p.src[n:]
	return n, nil
}

func (p *tlsPipe) Write(b []byte) (int, error) {
	if p.blocking {
		for done := 0; done < len(b); {
			n, err := unix.Write(p.fd, b[done:])
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return done, err
			}
			done += n
		}
		return len(b), nil
	}
	p.out = append(p.out, b...)
	return len(b), nil
}

func (p *tlsPipe) Close() error                     { return nil }
func (p *tlsPipe) LocalAddr() net.Addr              { return nil }
func (p *tlsPipe) RemoteAddr() net.Addr             { return nil }
func (p *tlsPipe) SetDeadline(time.Time) error      { return nil }
func (p *tlsPipe) SetReadDeadline(time.Time) error  { return nil }
func (p *tlsPipe) SetWriteDeadline(time.Time) error { return nil }

// tlsClient is a connection's TLS state.
type tlsClient struct {
	tc   *tls.Conn
	pipe *tlsPipe
}

// handshake makes fd a TLS client connection (fd blocking).
func handshake(fd int, cfg *tls.Config) (*tlsClient, error) {
	p := &tlsPipe{fd: fd, blocking: true}
	tc := tls.Client(p, cfg)
	if err := tc.Handshake(); err != nil {
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	p.blocking = false
	return &tlsClient{tc: tc, pipe: p}, nil
}

// pending is the ciphertext not yet written.
func (t *tlsClient) pending() []byte { return t.pipe.out[t.pipe.off:] }

// wrote drops n written bytes of ciphertext.
func (t *tlsClient) wrote(n int) {
	t.pipe.off += n
	if t.pipe.off == len(t.pipe.out) {
		t.pipe.out, t.pipe.off = t.pipe.out[:0], 0
	}
}

// decrypt feeds ciphertext to the TLS client and calls f with each piece
// of plaintext it yields.
func (t *tlsClient) decrypt(data []byte, plain []byte, f func([]byte) error) error {
	t.pipe.src = data
	defer func() { t.pipe.src = nil }()
	for {
		n, err := t.tc.Read(plain)
		if n > 0 {
			if ferr := f(plain[:n]); ferr != nil {
				return ferr
			}
		}
		if err != nil {
			if err == errWouldBlock {
				return nil
			}
			return err
		}
	}
}

// HandshakeResult is what a handshake run measured.
type HandshakeResult struct {
	Addr       string  `json:"addr"`
	Conns      int     `json:"conns"`
	Seconds    float64 `json:"seconds"`
	Handshakes uint64  `json:"handshakes"`
	PerS       float64 `json:"handshakes_per_s"`
	Errors     int     `json:"errors"`
}

// Handshakes measures how many TLS connections a server completes a
// second: cfg.Conns goroutines each connect, make a full handshake (no
// session resumption: cfg.TLS should have no ClientSessionCache), and
// close, over and over, for cfg.Warmup then cfg.Duration.
func Handshakes(cfg Config) (HandshakeResult, error) {
	res := HandshakeResult{Addr: cfg.Addr, Conns: cfg.Conns}
	if cfg.TLS == nil || cfg.Conns <= 0 {
		return res, errors.New("loadgen: a handshake run needs Config.TLS and connections")
	}
	var count atomic.Uint64
	var measuring atomic.Bool
	var firstErr atomic.Pointer[error]
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < cfg.Conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{Timeout: 5 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := tls.DialWithDialer(&d, "tcp", cfg.Addr, cfg.TLS)
				if err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				c.Close()
				if measuring.Load() {
					count.Add(1)
				}
			}
		}()
	}
	mark := cfg.Mark
	if mark == nil {
		mark = func(string) {}
	}
	time.Sleep(cfg.Warmup)
	measuring.Store(true)
	mark("start")
	t0 := time.Now()
	time.Sleep(cfg.Duration)
	n := count.Load()
	res.Seconds = time.Since(t0).Seconds()
	mark("end")
	close(stop)
	wg.Wait()
	res.Handshakes = n
	res.PerS = float64(n) / res.Seconds
	if p := firstErr.Load(); p != nil {
		res.Errors = 1
		return res, *p
	}
	return res, nil
}
