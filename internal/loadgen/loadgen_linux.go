//go:build linux

package loadgen

import (
	"crypto/tls"
	"fmt"
	"math"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socketkit/socketkit/internal/hist"
)

// Run connects, drives the load and returns what it measured. It locks the
// calling goroutine to its OS thread for the run.
func Run(cfg Config) (Result, error) {
	if cfg.Conns <= 0 || cfg.Size <= 0 || cfg.Depth <= 0 {
		return Result{}, fmt.Errorf("loadgen: connections, size and depth must be positive")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	conns, err := dial(cfg.Addr, cfg.Conns, cfg.SrcIPs, cfg.TLS)
	defer closeAll(conns) // on every path: a failed run must not leak its sockets
	if err != nil {
		return Result{Addr: cfg.Addr, Conns: cfg.Conns, Size: cfg.Size, Depth: cfg.Depth}, err
	}
	res, err := run(conns, cfg.Size, cfg.Depth, cfg.Warmup, cfg.Duration, cfg.Count, cfg.Mark)
	res.Addr, res.Conns, res.Size, res.Depth = cfg.Addr, cfg.Conns, cfg.Size, cfg.Depth
	return res, err
}

// Hold connects cfg.Conns connections, sends nothing, and keeps them open
// for d (idle-memory measurements). It returns how many it opened.
func Hold(cfg Config, d time.Duration) (int, error) {
	conns, err := dial(cfg.Addr, cfg.Conns, cfg.SrcIPs, cfg.TLS)
	defer closeAll(conns)
	if err != nil {
		return len(conns), err
	}
	time.Sleep(d)
	return len(conns), nil
}

func closeAll(conns []*conn) {
	for _, c := range conns {
		if !c.closed {
			unix.Close(c.fd)
			c.closed = true
		}
	}
}

// patternLen is prime, so different connections' offsets do not line up
// with message boundaries.
const patternLen = 251

var pattern [2 * patternLen]byte

func init() {
	for i := range pattern {
		pattern[i] = byte((i%patternLen)*131 + 7)
	}
}

type conn struct {
	fd      int
	id      int
	sent    int64 // bytes written
	recvd   int64 // bytes received and verified
	queued  int64 // bytes the run wants written so far (sent <= queued)
	stamps  []int64
	head    int // ring of send times of messages in flight
	n       int
	wantOut bool // EPOLLOUT armed
	closed  bool
	tls     *tlsClient // with Config.TLS
}

// dial connects n sockets, blocking (loopback completes at once and the
// listen queue takes the burst), makes the TLS handshake if tlsCfg is
// set, then makes each non-blocking.
func dial(addr string, n, srcIPs int, tlsCfg *tls.Config) ([]*conn, error) {
	var sa unix.Sockaddr
	family := unix.AF_INET
	if strings.HasPrefix(addr, "/") || strings.HasPrefix(addr, "@") {
		family = unix.AF_UNIX
		sa = &unix.SockaddrUnix{Name: strings.Replace(addr, "@", "\x00", 1)}
	} else {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			host, port, err2 := net.SplitHostPort(addr)
			if err2 != nil {
				return nil, err
			}
			ips, err2 := net.LookupIP(host)
			if err2 != nil || len(ips) == 0 {
				return nil, fmt.Errorf("resolve %s: %v", host, err2)
			}
			ap, err = netip.ParseAddrPort(net.JoinHostPort(ips[0].String(), port))
			if err != nil {
				return nil, err
			}
		}
		if ap.Addr().Is4() {
			sa = &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}
		} else {
			family = unix.AF_INET6
			sa = &unix.SockaddrInet6{Addr: ap.Addr().As16(), Port: int(ap.Port())}
		}
	}
	conns := make([]*conn, 0, n)
	for i := 0; i < n; i++ {
		fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return conns, fmt.Errorf("socket %d: %v", i, err)
		}
		if family != unix.AF_UNIX {
			unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
			if srcIPs > 0 && family == unix.AF_INET {
				src := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, byte(1 + i%srcIPs)}}
				unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
				if err := unix.Bind(fd, src); err != nil {
					unix.Close(fd)
					return conns, fmt.Errorf("bind source %d: %v", i, err)
				}
			}
		}
		// A blocking connect: loopback completes at once, and the listen
		// queue takes the burst.
		for {
			err = unix.Connect(fd, sa)
			if err != unix.EINTR {
				break
			}
		}
		if err != nil {
			unix.Close(fd)
			return conns, fmt.Errorf("connect %d: %v", i, err)
		}
		var tc *tlsClient
		if tlsCfg != nil {
			if tc, err = handshake(fd, tlsCfg); err != nil {
				unix.Close(fd)
				return conns, fmt.Errorf("connection %d: %v", i, err)
			}
		}
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(fd)
			return conns, err
		}
		conns = append(conns, &conn{fd: fd, id: i, tls: tc})
	}
	return conns, nil
}

// verify checks b against the pattern at stream offset off of connection id.
func verify(id int, off int64, b []byte) bool {
	for len(b) > 0 {
		p := int((off + int64(id)*17) % patternLen)
		n := len(b)
		if n > patternLen {
			n = patternLen
		}
		if string(b[:n]) != string(pattern[p:p+n]) {
			return false
		}
		b, off = b[n:], off+int64(n)
	}
	return true
}

func run(conns []*conn, size, depth int, warm, dur time.Duration, count int64, mark func(string)) (Result, error) {
	var res Result
	if mark == nil {
		mark = func(string) {}
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return res, err
	}
	defer unix.Close(ep)
	byFd := make(map[int]*conn, len(conns))
	for _, c := range conns {
		byFd[c.fd] = c
		c.stamps = make([]int64, depth)
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(c.fd)}); err != nil {
			return res, err
		}
	}
	out := make([]byte, 64<<10)
	in := make([]byte, 256<<10)
	plain := make([]byte, 64<<10) // TLS: decrypted records
	var h hist.H
	start := time.Now()
	measureFrom := start.Add(warm)
	end := measureFrom.Add(dur)
	if count > 0 && dur <= 0 {
		end = start.Add(24 * time.Hour)
	} else if count > 0 {
		end = start.Add(dur) // a cap: from the start, with no warm-up
	}
	var msgs, total uint64
	stopping := false
	now := func() int64 { return int64(time.Since(start)) }

	// queue adds one message to c's output and records its send time.
	// more says whether another message may be issued: with a count,
	// exactly count messages go out in all.
	var issued int64
	more := func() bool { return count <= 0 || issued < count }
	queue := func(c *conn) {
		issued++
		c.queued += int64(size)
		c.stamps[(c.head+c.n)%depth] = now()
		c.n++
	}
	// flush writes what is queued and not yet sent.
	flush := func(c *conn) error {
		if c.tls != nil {
			return flushTLS(c, ep, out)
		}
		for c.sent < c.queued {
			n := int(c.queued - c.sent)
			if n > len(out) {
				n = len(out)
			}
			// Fill out with the pattern at offset c.sent.
			for i := 0; i < n; {
				p := int((c.sent + int64(i) + int64(c.id)*17) % patternLen)
				i += copy(out[i:n], pattern[p:p+patternLen])
			}
			w, err := unix.Write(c.fd, out[:n])
			if err == unix.EAGAIN {
				if !c.wantOut {
					c.wantOut = true
					unix.EpollCtl(ep, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT, Fd: int32(c.fd)})
				}
				return nil
			}
			if err != nil {
				return fmt.Errorf("conn %d: write: %v", c.id, err)
			}
			c.sent += int64(w)
		}
		if c.wantOut {
			c.wantOut = false
			unix.EpollCtl(ep, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(c.fd)})
		}
		return nil
	}
	for _, c := range conns {
		for i := 0; i < depth && more(); i++ {
			queue(c)
		}
		if err := flush(c); err != nil {
			return res, err
		}
	}
	events := make([]unix.EpollEvent, 1024)
	inflight := int(issued)
	var measuredStart, measuredEnd time.Time
	// result is what was measured: at the end, and on an error after the
	// start (a server that stops answering still gets its figures).
	result := func() Result {
		for _, c := range conns {
			res.Verified += c.recvd
		}
		if measuredEnd.IsZero() {
			measuredEnd = time.Now()
		}
		if measuredStart.IsZero() || count > 0 {
			measuredStart = start
			msgs = total
		}
		secs := measuredEnd.Sub(measuredStart).Seconds()
		res.Seconds = secs
		res.Msgs = msgs
		res.AllMsgs = total
		if secs > 0 {
			res.MsgsPerS = float64(msgs) / secs
			res.MBPerS = float64(msgs) * float64(size) / secs / 1e6
		}
		us := func(d time.Duration) float64 { return math.Round(float64(d)/100) / 10 }
		res.P50us, res.P99us, res.P999us, res.MaxUs = us(h.Quantile(0.5)), us(h.Quantile(0.99)), us(h.Quantile(0.999)), us(h.Max())
		res.Hist = &h
		return res
	}
	for inflight > 0 {
		t := time.Now()
		if !stopping && (t.After(end) || (count > 0 && int64(total) >= count)) {
			stopping = true
			measuredEnd = t
			mark("end")
		}
		if stopping && t.Sub(measuredEnd) > 5*time.Second {
			return result(), fmt.Errorf("%d messages still in flight 5s after the end", inflight)
		}
		n, err := unix.EpollWait(ep, events, 100)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return result(), err
		}
		for _, ev := range events[:n] {
			c := byFd[int(ev.Fd)]
			if ev.Events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 && ev.Events&unix.EPOLLIN == 0 {
				return result(), fmt.Errorf("conn %d: closed by the server", c.id)
			}
			if ev.Events&unix.EPOLLOUT != 0 {
				if err := flush(c); err != nil {
					return result(), err
				}
			}
			if ev.Events&unix.EPOLLIN == 0 {
				continue
			}
			r, err := unix.Read(c.fd, in)
			if err == unix.EAGAIN {
				continue
			}
			if err != nil {
				return result(), fmt.Errorf("conn %d: read: %v", c.id, err)
			}
			if r == 0 {
				return result(), fmt.Errorf("conn %d: the server closed the connection", c.id)
			}
			before := c.recvd / int64(size)
			check := func(b []byte) error {
				if !verify(c.id, c.recvd, b) {
					return fmt.Errorf("conn %d: wrong bytes at stream offset %d: echo corrupted, reordered or duplicated", c.id, c.recvd)
				}
				if c.recvd+int64(len(b)) > c.sent {
					return fmt.Errorf("conn %d: received more than sent", c.id)
				}
				c.recvd += int64(len(b))
				return nil
			}
			if c.tls != nil {
				err = c.tls.decrypt(in[:r], plain, check)
			} else {
				err = check(in[:r])
			}
			if err != nil {
				return result(), err
			}
			done := int(c.recvd/int64(size) - before)
			tn := now()
			for i := 0; i < done; i++ {
				sentAt := c.stamps[c.head]
				c.head = (c.head + 1) % depth
				c.n--
				inflight--
				total++
				if !stopping && t.After(measureFrom) {
					if measuredStart.IsZero() {
						measuredStart = t
						mark("start")
					}
					msgs++
					h.Record(time.Duration(tn - sentAt))
				}
				if !stopping && more() {
					queue(c)
					inflight++
				}
			}
			if err := flush(c); err != nil {
				return result(), err
			}
		}
	}
	return result(), nil
}

// flushTLS encrypts what is queued and not yet sent, and writes the
// records out.
func flushTLS(c *conn, ep int, out []byte) error {
	for c.sent < c.queued {
		n := int(c.queued - c.sent)
		if n > len(out) {
			n = len(out)
		}
		for i := 0; i < n; {
			p := int((c.sent + int64(i) + int64(c.id)*17) % patternLen)
			i += copy(out[i:n], pattern[p:p+patternLen])
		}
		if _, err := c.tls.tc.Write(out[:n]); err != nil {
			return fmt.Errorf("conn %d: TLS write: %v", c.id, err)
		}
		c.sent += int64(n)
	}
	for len(c.tls.pending()) > 0 {
		w, err := unix.Write(c.fd, c.tls.pending())
		if err == unix.EAGAIN {
			if !c.wantOut {
				c.wantOut = true
				unix.EpollCtl(ep, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT, Fd: int32(c.fd)})
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("conn %d: write: %v", c.id, err)
		}
		c.tls.wrote(w)
	}
	if c.wantOut {
		c.wantOut = false
		unix.EpollCtl(ep, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(c.fd)})
	}
	return nil
}
