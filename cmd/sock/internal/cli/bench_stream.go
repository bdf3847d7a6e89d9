package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/socketkit/socketkit/socket"
)

// sock bench --stream and --server: a throughput test in the manner of
// iperf3. A control connection (JSON lines) carries the test's parameters,
// the start, the senders' counts and the receivers' results; the data go
// on TCP connections of their own to the same port, or as UDP datagrams to
// the same port number, each with a sequence number and its send time so
// that the receiver counts losses and the jitter (RFC 3550 §6.4.1, as
// iperf3 computes it).

const (
	streamMagic      = "SKSTRM01" // the first bytes of a TCP data connection
	streamHeaderLen  = 32         // magic, cookie, stream index, reserved
	udpHeaderLen     = 32         // cookie, index, flags, sequence, send time
	udpHello         = 1          // a datagram that registers a stream
	defaultTCPLen    = 128 << 10
	defaultUDPLen    = 1460
	defaultUDPRate   = 1e6 // bits a second, as iperf3
	streamStartLimit = 10 * time.Second
	udpDrain         = 250 * time.Millisecond // the tail of a UDP test
	maxCtlLine       = 64 << 10               // the longest control message
	maxStreamMemory  = 64 << 20               // streams × length, all streams of a test
	resultsLimit     = 30 * time.Second       // the server's wait for its streams' ends after "done"
)

// streamOpts are the flags of the stream test.
type streamOpts struct {
	stream, server bool
	addr           string
	time           durationFlag
	reverse, bidir bool
	udp            bool
	rate           rateFlag
	length         sizeFlag
	interval       durationFlag
}

func addStreamFlags(f *pflag.FlagSet, o *streamOpts) {
	o.time.d, o.interval.d = 10*time.Second, time.Second
	f.BoolVar(&o.stream, "stream", false, "a throughput test against sock bench --server, as iperf3: -t, -P streams, -R, --bidir, -u -b, -l, -i")
	f.BoolVar(&o.server, "server", false, "serve stream tests (sock bench --stream) on --addr, one at a time, until Ctrl-C")
	f.StringVar(&o.addr, "addr", "127.0.0.1:5201", "with --server, the address to serve on (TCP, and UDP on the same port)")
	f.VarP(&o.time, "time", "t", "with --stream, how long to send (10, 10s)")
	f.BoolVarP(&o.reverse, "reverse", "R", false, "with --stream, the server sends and this client receives")
	f.BoolVar(&o.bidir, "bidir", false, "with --stream, both ways at once: -P streams each way")
	f.BoolVarP(&o.udp, "udp", "u", false, "with --stream, UDP at the rate of -b (1 Mbit/s by default), counting losses and the jitter")
	f.VarP(&o.rate, "bitrate", "b", "with --stream, the target rate in bits a second, all streams together (500K, 100M, 1G; 0: as fast as possible); TCP is unpaced without it")
	f.VarP(&o.length, "length", "l", "with --stream, bytes a write (TCP, default 128K) or a datagram (UDP, default 1460)")
	f.VarP(&o.interval, "interval", "i", "with --stream, print a line this often (0: none)")
}

// rateFlag is a rate in bits a second with iperf3's suffixes (K, M, G in
// powers of 1000).
type rateFlag struct {
	bps float64
	set bool
}

func (f *rateFlag) String() string {
	if !f.set {
		return ""
	}
	return formatRate(f.bps)
}

func (f *rateFlag) Set(s string) error {
	v, err := parseSuffixed(s, 1000)
	if err != nil {
		return fmt.Errorf("bad rate %q: want bits a second, as 500K, 100M, 1G", s)
	}
	f.bps, f.set = v, true
	return nil
}

func (f *rateFlag) Type() string { return "rate" }

// sizeFlag is a size in bytes with K and M in powers of 1024, as iperf3's
// -l.
type sizeFlag struct{ n int }

func (f *sizeFlag) String() string {
	if f.n == 0 {
		return ""
	}
	return strconv.Itoa(f.n)
}

func (f *sizeFlag) Set(s string) error {
	v, err := parseSuffixed(s, 1024)
	if err != nil || v < 1 || v > 64<<20 || v != math.Trunc(v) {
		return fmt.Errorf("bad length %q: want bytes from 1 to 64M (1460, 128K)", s)
	}
	f.n = int(v)
	return nil
}

func (f *sizeFlag) Type() string { return "bytes" }

func parseSuffixed(s string, unit float64) (float64, error) {
	mult := 1.0
	if s != "" {
		switch s[len(s)-1] {
		case 'k', 'K':
			mult = unit
		case 'm', 'M':
			mult = unit * unit
		case 'g', 'G':
			mult = unit * unit * unit
		}
		if mult != 1 {
			s = s[:len(s)-1]
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, errors.New("bad number")
	}
	return v * mult, nil
}

// streamFlagNames are the flags that belong to the stream test only.
var streamFlagNames = []string{"time", "reverse", "bidir", "udp", "bitrate", "length", "interval", "addr"}

// echoFlagNames are the echo benchmark's own.
var echoFlagNames = []string{"conns", "size", "duration", "warmup", "png"}

// checkStreamFlags rejects flags of the other mode.
func checkStreamFlags(cmd *cobra.Command, o *streamOpts) error {
	changed := func(names []string) string {
		for _, n := range names {
			if f := cmd.Flags().Lookup(n); f != nil && f.Changed {
				if f.Shorthand != "" {
					return "-" + f.Shorthand
				}
				return "--" + n
			}
		}
		return ""
	}
	switch {
	case o.stream && o.server:
		return usagef("--stream and --server exclude each other: run the server in one place and the test in another")
	case !o.stream && !o.server:
		if f := changed(streamFlagNames); f != "" {
			return usagef("%s belongs to the stream test: add --stream (or --server)", f)
		}
		return nil
	}
	if f := changed(echoFlagNames); f != "" {
		return usagef("%s belongs to the echo benchmark, not to --stream or --server", f)
	}
	if o.server {
		if f := changed(streamFlagNames[:len(streamFlagNames)-1]); f != "" {
			return usagef("%s is for the client (--stream): the client says what to test", f)
		}
		if f := changed([]string{"parallel", "json"}); f != "" {
			return usagef("%s is for the client (--stream)", f)
		}
		return nil
	}
	if f := changed([]string{"addr"}); f != "" {
		return usagef("--addr is for --server; the client takes HOST PORT")
	}
	return nil
}

// streamParams is what a client asks of the server.
type streamParams struct {
	Version int     `json:"version"`
	Cookie  string  `json:"cookie"`
	Proto   string  `json:"proto"`
	Streams int     `json:"streams"` // each way
	Seconds float64 `json:"seconds"`
	Reverse bool    `json:"reverse"`
	Bidir   bool    `json:"bidir"`
	Len     int     `json:"len"`
	Rate    float64 `json:"rate"`
}

// up reports whether stream i carries data from the client to the server.
func (p *streamParams) up(i int) bool {
	if p.Bidir {
		return i < p.Streams
	}
	return !p.Reverse
}

func (p *streamParams) total() int {
	if p.Bidir {
		return 2 * p.Streams
	}
	return p.Streams
}

func (p *streamParams) check() error {
	switch {
	case p.Version != 1:
		return fmt.Errorf("protocol version %d (this sock speaks 1)", p.Version)
	case len(p.Cookie) != 32:
		return errors.New("bad cookie")
	case p.Proto != "tcp" && p.Proto != "udp":
		return fmt.Errorf("protocol %q", p.Proto)
	case p.Streams < 1 || p.Streams > 128:
		return fmt.Errorf("%d streams (1 to 128)", p.Streams)
	case p.Seconds <= 0 || p.Seconds > 86400:
		return fmt.Errorf("%v seconds", p.Seconds)
	case p.Len < 1 || p.Len > 64<<20, p.Proto == "udp" && (p.Len < udpHeaderLen || p.Len > 65507):
		return fmt.Errorf("length %d", p.Len)
	case p.Rate < 0:
		return fmt.Errorf("rate %v", p.Rate)
	case p.total()*p.Len > maxStreamMemory:
		return fmt.Errorf("%d streams of %d bytes: at most 64 MiB in all (streams × length)", p.total(), p.Len)
	}
	return nil
}

// streamCount is one stream's figures in the control messages.
type streamCount struct {
	Bytes      int64   `json:"bytes"`
	Packets    int64   `json:"packets,omitempty"`
	OutOfOrder int64   `json:"out_of_order,omitempty"`
	JitterMs   float64 `json:"jitter_ms,omitempty"`
	Seconds    float64 `json:"seconds"`
}

// ctlMsg is a control message.
type ctlMsg struct {
	Cmd    string        `json:"cmd"` // test, ok, start, done, results, error
	Params *streamParams `json:"params,omitempty"`
	Error  string        `json:"error,omitempty"`
	Counts []streamCount `json:"counts,omitempty"` // done: the client's; results: the server's, per stream
}

// ctl is a control connection: JSON lines.
type ctl struct {
	s   *socket.Socket
	r   *bufio.Reader
	enc *json.Encoder
}

func newCtl(s *socket.Socket) *ctl {
	return &ctl{s: s, r: bufio.NewReader(s), enc: json.NewEncoder(s)}
}

func (c *ctl) send(m ctlMsg) error { return c.enc.Encode(m) }

// errNotCtl is a peer whose first byte is not a JSON object's.
type errNotCtl struct{ first byte }

func (e errNotCtl) Error() string {
	return fmt.Sprintf("it sent 0x%02x, not a JSON control line", e.first)
}

// errCtlLong is a control line over maxCtlLine.
var errCtlLong = fmt.Errorf("a control line over %d KiB", maxCtlLine>>10)

// recv reads one control message within d: at most maxCtlLine bytes, the
// first of them '{' (checked as soon as it comes).
func (c *ctl) recv(d time.Duration) (ctlMsg, error) {
	var m ctlMsg
	c.s.SetReadDeadline(time.Now().Add(d))
	first, err := c.r.Peek(1)
	if err == nil && first[0] != '{' {
		return m, errNotCtl{first[0]}
	}
	var line []byte
	for err == nil {
		var chunk []byte
		chunk, err = c.r.ReadSlice('\n')
		if len(line)+len(chunk) > maxCtlLine {
			return m, errCtlLong
		}
		line = append(line, chunk...)
		if err == bufio.ErrBufferFull {
			err = nil
			continue
		}
		if err == nil {
			break
		}
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return m, err
	}
	if err := json.Unmarshal(line, &m); err != nil {
		return m, fmt.Errorf("bad control message: %w", err)
	}
	return m, nil
}

// counter is a stream's running byte count, read by the interval ticker.
type counter struct{ bytes, packets atomic.Int64 }

// udpStats is a UDP receiver's accounting for one stream.
type udpStats struct {
	mu          sync.Mutex
	packets     int64
	bytes       int64
	maxSeq      int64
	outOfOrder  int64
	jitter      float64 // seconds, RFC 3550
	prevTransit float64
	havePrev    bool
	last        time.Time
	// at the last interval line
	ivPackets, ivMaxSeq int64
}

func newUDPStats() *udpStats { return &udpStats{maxSeq: -1, ivMaxSeq: -1} }

// add counts a datagram with sequence number seq sent at sent (Unix ns)
// that arrived at now.
func (u *udpStats) add(n int, seq int64, sent int64, now time.Time) {
	u.mu.Lock()
	u.packets++
	u.bytes += int64(n)
	if seq <= u.maxSeq {
		u.outOfOrder++
	} else {
		u.maxSeq = seq
	}
	transit := float64(now.UnixNano()-sent) / 1e9
	if u.havePrev {
		d := math.Abs(transit - u.prevTransit)
		u.jitter += (d - u.jitter) / 16
	}
	u.prevTransit, u.havePrev, u.last = transit, true, now
	u.mu.Unlock()
}

// interval returns the datagrams received and lost since the last call,
// and the jitter now.
func (u *udpStats) interval() (packets, lost int64, jitterMs float64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	packets = u.packets - u.ivPackets
	lost = (u.maxSeq - u.ivMaxSeq) - packets
	if lost < 0 {
		lost = 0
	}
	u.ivPackets, u.ivMaxSeq = u.packets, u.maxSeq
	return packets, lost, u.jitter * 1000
}

func (u *udpStats) count(start time.Time) streamCount {
	u.mu.Lock()
	defer u.mu.Unlock()
	sc := streamCount{Bytes: u.bytes, Packets: u.packets, OutOfOrder: u.outOfOrder, JitterMs: u.jitter * 1000}
	if !u.last.IsZero() {
		sc.Seconds = u.last.Sub(start).Seconds()
	}
	return sc
}

// streamSend sends blocks of buf on the TCP connection s until end, and
// counts them into c; then it shuts the sending side down.
func streamSend(s *socket.Socket, buf []byte, end time.Time, c *counter) error {
	s.SetWriteDeadline(end)
	for time.Now().Before(end) {
		n, err := s.Write(buf)
		c.bytes.Add(int64(n))
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			return err
		}
	}
	s.SetWriteDeadline(time.Time{})
	return s.CloseWrite()
}

// udpSend sends datagrams of buf with send until end or until stop is
// closed, at rate bits a second (0: unpaced), each with its sequence
// number and send time, and counts them into c.
func udpSend(send func([]byte) (int, error), buf []byte, rate float64, start, end time.Time, stop <-chan struct{}, c *counter) error {
	var gap time.Duration
	if rate > 0 {
		gap = time.Duration(float64(len(buf)) * 8 / rate * 1e9)
	}
	pause := time.NewTimer(time.Hour)
	defer pause.Stop()
	next := start
	for seq := int64(0); ; seq++ {
		select {
		case <-stop:
			return nil
		default:
		}
		now := time.Now()
		if !now.Before(end) {
			return nil
		}
		if gap > 0 {
			// Sleep only when more than a millisecond ahead; behind, send
			// at once to catch up (iperf3 paces on a 1 ms timer too).
			if ahead := next.Sub(now); ahead > time.Millisecond {
				pause.Reset(ahead)
				select {
				case <-stop:
					return nil
				case <-pause.C:
				}
				now = time.Now()
			}
			next = next.Add(gap)
		}
		binary.BigEndian.PutUint64(buf[16:], uint64(seq))
		binary.BigEndian.PutUint64(buf[24:], uint64(now.UnixNano()))
		n, err := send(buf)
		if err != nil {
			if errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ECONNREFUSED) {
				continue // lost here rather than on the way; counted as sent
			}
			return err
		}
		c.bytes.Add(int64(n))
		c.packets.Add(1)
	}
}

// udpDatagram fills the fixed part of a UDP test datagram.
func udpDatagram(buf []byte, cookie []byte, index int, flags uint32) {
	copy(buf[0:8], cookie[:8])
	binary.BigEndian.PutUint32(buf[8:], uint32(index))
	binary.BigEndian.PutUint32(buf[12:], flags)
}

// --- the server ---------------------------------------------------------

// streamServer serves stream tests, one at a time.
type streamServer struct {
	e    *env
	tcp  *socket.Socket
	udp  *socket.Socket
	mu   sync.Mutex
	cur  *serverTest
	busy bool
	wg   sync.WaitGroup
}

// serverTest is the test in progress.
type serverTest struct {
	p       streamParams
	cookie  []byte
	conns   []*socket.Socket // TCP data connections by index
	peers   []netip.AddrPort // UDP: where each stream's hello came from
	udp     []*udpStats
	have    int
	ready   chan struct{}
	quit    chan struct{} // closed when the test ends early: stops every stream
	started atomic.Bool
	start   time.Time
}

func runStreamServer(e *env, o *streamOpts) error {
	host, port, err := net.SplitHostPort(o.addr)
	if err != nil {
		return usagef("--addr %q: want host:port", o.addr)
	}
	lopts := &socket.ListenOptions{DualStack: host == "" && socket.HasDualStackIPv6() || strings.Contains(host, ":")}
	tcp, err := socket.Listen("tcp", o.addr, lopts)
	if err != nil {
		return listenErr(err)
	}
	defer tcp.Close()
	if port == "0" {
		sa, _ := tcp.Getsockname()
		ap, _ := socket.AddrPortOf(sa)
		port = strconv.Itoa(int(ap.Port()))
	}
	udp, err := socket.Listen("udp", net.JoinHostPort(host, port), &socket.ListenOptions{DualStack: lopts.DualStack})
	if err != nil {
		return fmt.Errorf("UDP on the same port: %w", listenErr(err))
	}
	defer udp.Close()
	srv := &streamServer{e: e, tcp: tcp, udp: udp}
	bound, _ := tcp.Getsockname()
	fmt.Fprintf(e.stderr, "sock: bench server on %v (tcp and udp); Ctrl-C stops\n", displayAddr(bound))
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	stop := make(chan struct{})
	go func() {
		select {
		case <-sigs:
		case <-e.ctx.Done():
		case <-stop:
		}
		tcp.Close()
		udp.Close()
	}()
	defer close(stop)
	srv.wg.Add(1)
	go srv.readUDP()
	defer srv.wg.Wait()
	for {
		c, _, err := tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED) {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		srv.wg.Add(1)
		go func() {
			defer srv.wg.Done()
			srv.serveConn(c)
		}()
	}
}

// serveConn tells a control connection ({...) from a data connection
// (the magic) by its first byte.
// A peer that is neither is refused with one line in the log (a peer
// that closes without sending a byte, as a port check, is not logged).
func (srv *streamServer) serveConn(c *socket.Socket) {
	c.SetDeadline(time.Now().Add(streamStartLimit))
	refuse := func(format string, args ...any) {
		peer, _ := c.Getpeername()
		fmt.Fprintf(srv.e.stderr, "sock: bench server: client %s: refused: %s\n", displayAddr(peer), fmt.Sprintf(format, args...))
		c.Close()
	}
	var first [1]byte
	if n, err := c.Recv(first[:], socket.MSG_PEEK); n == 0 || err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			refuse("it sent nothing in %v", streamStartLimit)
			return
		}
		c.Close()
		return
	}
	if first[0] == '{' {
		defer c.Close()
		srv.control(c)
		return
	}
	var hdr [streamHeaderLen]byte
	n, err := io.ReadFull(c, hdr[:])
	switch {
	case n == streamHeaderLen && string(hdr[:8]) == streamMagic:
	case looksLikeIperf3(hdr[:n]):
		refuse("it is not sock bench --stream but iperf3 -c, perhaps (its protocol is not spoken here; use iperf3 -s with it)")
		return
	case err != nil && n < len(streamMagic):
		refuse("neither a control line nor a stream: %d bytes (%q), then %v", n, hdr[:n], err)
		return
	default:
		refuse("neither a control line nor a stream: it began %q", hdr[:n])
		return
	}
	index := int(binary.BigEndian.Uint32(hdr[24:]))
	srv.mu.Lock()
	t := srv.cur
	if t == nil || string(t.cookie) != string(hdr[8:24]) || t.p.Proto != "tcp" || index >= t.p.total() || t.conns[index] != nil {
		srv.mu.Unlock()
		refuse("a stream that belongs to no test in progress (stream %d)", index)
		return
	}
	c.SetDeadline(time.Time{})
	t.conns[index] = c
	t.have++
	if t.have == t.p.total() {
		close(t.ready)
	}
	srv.mu.Unlock()
}

// looksLikeIperf3 reports whether b is the start of an iperf3 client's
// cookie: 36 characters of the base32 alphabet iperf3 draws from, then a
// NUL.
func looksLikeIperf3(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// readUDP takes every datagram of the UDP socket: hellos register a
// stream's sender; the rest are counted for the test in progress.
func (srv *streamServer) readUDP() {
	defer srv.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := srv.udp.RecvfromAddrPort(buf, 0)
		now := time.Now()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if n < udpHeaderLen {
			continue
		}
		srv.mu.Lock()
		t := srv.cur
		srv.mu.Unlock()
		if t == nil || t.p.Proto != "udp" || string(t.cookie[:8]) != string(buf[:8]) {
			continue
		}
		index := int(binary.BigEndian.Uint32(buf[8:]))
		if index >= t.p.total() {
			continue
		}
		if binary.BigEndian.Uint32(buf[12:])&udpHello != 0 {
			srv.mu.Lock()
			if !t.peers[index].IsValid() {
				t.peers[index] = from
				t.have++
				if t.have == t.p.total() {
					close(t.ready)
				}
			}
			srv.mu.Unlock()
			srv.udp.SendtoAddrPort(buf[:udpHeaderLen], 0, from) // the acknowledgement
			continue
		}
		if t.started.Load() && t.p.up(index) {
			seq := int64(binary.BigEndian.Uint64(buf[16:]))
			sent := int64(binary.BigEndian.Uint64(buf[24:]))
			t.udp[index].add(n, seq, sent, now)
		}
	}
}

// control runs one test for a client.
func (srv *streamServer) control(c *socket.Socket) {
	cc := newCtl(c)
	peer, _ := c.Getpeername()
	logf := func(format string, args ...any) {
		fmt.Fprintf(srv.e.stderr, "sock: bench server: client %s: %s\n", displayAddr(peer), fmt.Sprintf(format, args...))
	}
	m, err := cc.recv(streamStartLimit)
	if err != nil || m.Cmd != "test" || m.Params == nil {
		if err == nil {
			err = fmt.Errorf("it sent %q", m.Cmd)
		}
		logf("refused: expected a test request: %v", err)
		cc.send(ctlMsg{Cmd: "error", Error: "expected a test request"})
		return
	}
	p := *m.Params
	if err := p.check(); err != nil {
		logf("refused: bad test: %v", err)
		cc.send(ctlMsg{Cmd: "error", Error: "bad test: " + err.Error()})
		return
	}
	cookie, _ := hex.DecodeString(p.Cookie)
	t := &serverTest{p: p, cookie: cookie, conns: make([]*socket.Socket, p.total()), peers: make([]netip.AddrPort, p.total()),
		udp: make([]*udpStats, p.total()), ready: make(chan struct{}), quit: make(chan struct{})}
	for i := range t.udp {
		t.udp[i] = newUDPStats()
	}
	srv.mu.Lock()
	if srv.busy {
		srv.mu.Unlock()
		cc.send(ctlMsg{Cmd: "error", Error: "the server is busy with another test; try again when it ends"})
		return
	}
	srv.busy, srv.cur = true, t
	srv.mu.Unlock()
	// release frees the server for the next test: before the results go
	// out, so that a client that starts its next test as soon as it has
	// them is not told the server is busy.
	var releaseOnce sync.Once
	release := func() {
		releaseOnce.Do(func() {
			srv.mu.Lock()
			srv.busy, srv.cur = false, nil
			for _, s := range t.conns {
				if s != nil {
					s.Close()
				}
			}
			srv.mu.Unlock()
		})
	}
	defer release()
	if err := cc.send(ctlMsg{Cmd: "ok"}); err != nil {
		return
	}
	select {
	case <-t.ready:
	case <-time.After(streamStartLimit):
		logf("refused: not every stream arrived within 10s")
		cc.send(ctlMsg{Cmd: "error", Error: "not every stream arrived within 10s"})
		return
	}
	c.SetDeadline(time.Time{})
	fmt.Fprintf(srv.e.stderr, "sock: bench server: %s test from %s starts: %s, %.1fs\n", p.Proto, displayAddr(peer), plural(p.Streams, "stream"), p.Seconds)
	t.start = time.Now()
	t.started.Store(true)
	if err := cc.send(ctlMsg{Cmd: "start"}); err != nil {
		return
	}
	end := t.start.Add(time.Duration(p.Seconds * float64(time.Second)))
	counts := make([]streamCount, p.total())
	counters := make([]counter, p.total())
	var work sync.WaitGroup
	for i := 0; i < p.total(); i++ {
		work.Add(1)
		go func() {
			defer work.Done()
			switch {
			case p.Proto == "tcp" && p.up(i):
				n, last := streamDrain(t.conns[i])
				counts[i] = streamCount{Bytes: n, Seconds: last.Sub(t.start).Seconds()}
			case p.Proto == "tcp":
				buf := make([]byte, p.Len)
				rand.Read(buf)
				streamSend(t.conns[i], buf, end, &counters[i])
				counts[i] = streamCount{Bytes: counters[i].bytes.Load(), Seconds: time.Since(t.start).Seconds()}
			case !p.up(i):
				buf := make([]byte, p.Len)
				rand.Read(buf)
				udpDatagram(buf, cookie, i, 0)
				// From the port the client's socket is connected to.
				to := t.peers[i]
				send := func(b []byte) (int, error) { return srv.udp.SendtoAddrPort(b, 0, to) }
				udpSend(send, buf, p.Rate/float64(p.Streams), t.start, end, t.quit, &counters[i])
				counts[i] = streamCount{Bytes: counters[i].bytes.Load(), Packets: counters[i].packets.Load(), Seconds: time.Since(t.start).Seconds()}
			}
		}()
	}
	// The client's "done" comes when its senders have finished: at the
	// end, and streamStartLimit later at the most. A client that closes
	// the control connection (or sends anything else) ends the test at
	// once: every stream, TCP and UDP, stops.
	m, err = cc.recv(time.Until(end) + streamStartLimit)
	if err != nil || m.Cmd != "done" {
		close(t.quit)
		for _, s := range t.conns {
			if s != nil {
				s.Close() // ends the drains and the senders
			}
		}
		work.Wait()
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET):
			logf("the client left during the test; its streams are stopped")
		case errors.Is(err, os.ErrDeadlineExceeded):
			logf("no \"done\" from the client %v after the end; the test is stopped", streamStartLimit)
		case err != nil:
			logf("the test is stopped: %v", err)
		default:
			logf("the test is stopped: it sent %q, not \"done\"", m.Cmd)
		}
		return
	}
	c.SetReadDeadline(time.Time{})
	if p.Proto == "udp" {
		time.Sleep(udpDrain)
		for i := range counts {
			if p.up(i) {
				counts[i] = t.udp[i].count(t.start)
			}
		}
	}
	finished := make(chan struct{})
	go func() { work.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(resultsLimit): // a client that never ends its streams
		for _, s := range t.conns {
			if s != nil {
				s.Close()
			}
		}
		<-finished
	}
	t.started.Store(false)
	release()
	cc.send(ctlMsg{Cmd: "results", Counts: counts})
	var up, down int64
	for i, sc := range counts {
		if p.up(i) {
			up += sc.Bytes
		} else {
			down += sc.Bytes
		}
	}
	fmt.Fprintf(srv.e.stderr, "sock: bench server: %s test from %s ends: received %s, sent %s\n",
		p.Proto, displayAddr(peer), formatBytes(up), formatBytes(down))
}

// streamDrain reads s until EOF and returns the bytes and the time of the
// last one.
func streamDrain(s *socket.Socket) (int64, time.Time) {
	var c counter
	last := streamDrainCount(s, &c)
	return c.bytes.Load(), last
}

// streamDrainCount reads s until EOF, counting into c.
func streamDrainCount(s *socket.Socket, c *counter) time.Time {
	buf := make([]byte, 256<<10)
	var last time.Time
	for {
		n, err := s.Read(buf)
		if n > 0 {
			c.bytes.Add(int64(n))
			last = time.Now()
		}
		if err != nil {
			return last
		}
	}
}

// --- the client ---------------------------------------------------------

// streamReport is the result in iperf3's JSON shape (the fields that
// apply).
type streamReport struct {
	Start struct {
		ConnectingTo struct {
			Host string `json:"host"`
			Port int    `json:"port"`
		} `json:"connecting_to"`
		TestStart struct {
			Protocol      string  `json:"protocol"`
			NumStreams    int     `json:"num_streams"`
			Blksize       int     `json:"blksize"`
			Duration      float64 `json:"duration"`
			Reverse       int     `json:"reverse"`
			Bidir         int     `json:"bidir"`
			TargetBitrate float64 `json:"target_bitrate"`
		} `json:"test_start"`
	} `json:"start"`
	Intervals []streamInterval `json:"intervals"`
	End       streamEnd        `json:"end"`
}

type streamInterval struct {
	Sum             *streamSum `json:"sum"`
	SumBidirReverse *streamSum `json:"sum_bidir_reverse,omitempty"`
}

type streamSum struct {
	Start         float64  `json:"start"`
	End           float64  `json:"end"`
	Seconds       float64  `json:"seconds"`
	Bytes         int64    `json:"bytes"`
	BitsPerSecond float64  `json:"bits_per_second"`
	JitterMs      *float64 `json:"jitter_ms,omitempty"`
	LostPackets   *int64   `json:"lost_packets,omitempty"`
	Packets       *int64   `json:"packets,omitempty"`
	LostPercent   *float64 `json:"lost_percent,omitempty"`
	OutOfOrder    *int64   `json:"out_of_order,omitempty"`
	Sender        bool     `json:"sender"`
}

type streamEnd struct {
	Streams                 []streamEndStream `json:"streams"`
	Sum                     *streamSum        `json:"sum,omitempty"` // UDP: the receiver's view, as iperf3
	SumSent                 *streamSum        `json:"sum_sent"`
	SumReceived             *streamSum        `json:"sum_received"`
	SumSentBidirReverse     *streamSum        `json:"sum_sent_bidir_reverse,omitempty"`
	SumReceivedBidirReverse *streamSum        `json:"sum_received_bidir_reverse,omitempty"`
}

type streamEndStream struct {
	ID       int        `json:"id"`
	Sender   *streamSum `json:"sender"`
	Receiver *streamSum `json:"receiver"`
}

func runStreamClient(e *env, o *streamOpts, parallel int, asJSON bool, args []string) error {
	if len(args) == 0 {
		return usagef("--stream takes HOST PORT (of sock bench --server)")
	}
	no := &netOpts{}
	target, err := connectTarget(no, args)
	if err != nil {
		return err
	}
	if parallel < 1 || parallel > 128 {
		return usagef("-P must be from 1 to 128")
	}
	if o.time.d <= 0 {
		return usagef("-t must be more than 0")
	}
	if o.reverse && o.bidir {
		return usagef("-R and --bidir exclude each other")
	}
	p := streamParams{Version: 1, Proto: "tcp", Streams: parallel, Seconds: o.time.d.Seconds(), Reverse: o.reverse, Bidir: o.bidir, Len: o.length.n}
	if o.udp {
		p.Proto, p.Rate = "udp", defaultUDPRate
		if p.Len == 0 {
			p.Len = defaultUDPLen
		}
		if p.Len < udpHeaderLen || p.Len > 65507 {
			return usagef("-l with -u: from %d to 65507 bytes", udpHeaderLen)
		}
	} else if p.Len == 0 {
		p.Len = defaultTCPLen
	}
	if o.rate.set {
		p.Rate = o.rate.bps
	}
	if !o.udp && p.Rate > 0 {
		return usagef("-b paces UDP (-u); TCP runs as fast as it goes")
	}
	if p.total()*p.Len > maxStreamMemory {
		return usagef("-P %d streams of -l %d bytes: at most 64 MiB in all (streams × length, each way)", p.Streams, p.Len)
	}
	cookie := make([]byte, 16)
	rand.Read(cookie)
	p.Cookie = hex.EncodeToString(cookie)

	host, portStr, _ := net.SplitHostPort(target)
	ips, err := net.DefaultResolver.LookupNetIP(e.ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return fmt.Errorf("unknown host %s", host)
	}
	addr := netip.AddrPortFrom(ips[0].Unmap(), 0)
	port, _ := strconv.Atoi(portStr)
	addr = netip.AddrPortFrom(addr.Addr(), uint16(port))
	dctx, cancel := context.WithTimeout(e.ctx, streamStartLimit)
	defer cancel()
	cs, err := socket.CreateConnection(dctx, addr.String(), nil)
	if err != nil {
		return err
	}
	defer cs.Close()
	stopCtl := context.AfterFunc(e.ctx, func() { cs.Close() })
	defer stopCtl()
	cc := newCtl(cs)
	if err := cc.send(ctlMsg{Cmd: "test", Params: &p}); err != nil {
		return err
	}
	cs.SetDeadline(time.Now().Add(streamStartLimit))
	m, err := cc.recv(streamStartLimit)
	if err != nil {
		var nc errNotCtl
		if errors.As(err, &nc) {
			return fmt.Errorf("%v is not sock bench --server: %v (an iperf3 server, perhaps: its protocol is not spoken here; use iperf3 -c with it)", addr, err)
		}
		return fmt.Errorf("%v does not answer as sock bench --server: %v", addr, err)
	}
	switch m.Cmd {
	case "ok":
	case "error":
		return fmt.Errorf("the server refused the test: %s", m.Error)
	default:
		return fmt.Errorf("%v does not answer as sock bench --server (it said %q)", addr, m.Cmd)
	}
	n := p.total()
	socks := make([]*socket.Socket, n)
	defer func() {
		for _, s := range socks {
			if s != nil {
				s.Close()
			}
		}
	}()
	// The data streams.
	helloDone := make(chan struct{})
	var helloWG sync.WaitGroup
	for i := 0; i < n; i++ {
		if p.Proto == "tcp" {
			s, err := socket.CreateConnection(dctx, addr.String(), nil)
			if err != nil {
				return fmt.Errorf("stream %d: %w", i, err)
			}
			socks[i] = s
			hdr := make([]byte, streamHeaderLen)
			copy(hdr, streamMagic)
			copy(hdr[8:], cookie)
			binary.BigEndian.PutUint32(hdr[24:], uint32(i))
			if _, err := s.Sendall(hdr, 0); err != nil {
				return fmt.Errorf("stream %d: %w", i, err)
			}
			continue
		}
		s, err := socket.CreateConnection(dctx, addr.String(), &socket.DialOptions{Type: socket.SOCK_DGRAM})
		if err != nil {
			return fmt.Errorf("stream %d: %w", i, err)
		}
		socks[i] = s
		hello := make([]byte, udpHeaderLen)
		udpDatagram(hello, cookie, i, udpHello)
		helloWG.Add(1)
		go func() { // until the start: a hello may be lost
			defer helloWG.Done()
			t := time.NewTicker(50 * time.Millisecond)
			defer t.Stop()
			for {
				s.Send(hello, 0)
				select {
				case <-helloDone:
					return
				case <-t.C:
				}
			}
		}()
	}
	m, err = cc.recv(streamStartLimit + 5*time.Second) // the server waits streamStartLimit for the streams
	close(helloDone)
	helloWG.Wait()
	if err != nil {
		return fmt.Errorf("waiting for the start: %v", err)
	}
	if m.Cmd == "error" {
		return fmt.Errorf("the server: %s", m.Error)
	}
	cs.SetDeadline(time.Time{})
	start := time.Now()
	end := start.Add(o.time.d)

	counters := make([]counter, n)
	udps := make([]*udpStats, n)
	var senders, receivers sync.WaitGroup
	var sendErr atomic.Value
	lasts := make([]time.Time, n)
	for i := 0; i < n; i++ {
		s := socks[i]
		if p.up(i) {
			senders.Add(1)
			go func() {
				defer senders.Done()
				buf := make([]byte, p.Len)
				rand.Read(buf)
				rate := 0.0
				if p.Proto == "udp" {
					udpDatagram(buf, cookie, i, 0)
					rate = p.Rate / float64(p.Streams)
				}
				var err error
				if p.Proto == "udp" {
					err = udpSend(func(b []byte) (int, error) { return s.Send(b, 0) }, buf, rate, start, end, nil, &counters[i])
				} else {
					err = streamSend(s, buf, end, &counters[i])
				}
				if err != nil && !peerLeft(err) {
					sendErr.Store(err)
				}
			}()
			continue
		}
		receivers.Add(1)
		if p.Proto == "tcp" {
			go func() {
				defer receivers.Done()
				lasts[i] = streamDrainCount(s, &counters[i])
			}()
			continue
		}
		udps[i] = newUDPStats()
		go func() {
			defer receivers.Done()
			buf := make([]byte, 65536)
			for {
				n, err := s.Recv(buf, 0)
				now := time.Now()
				if err != nil {
					if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
						return
					}
					continue // ECONNREFUSED from an ICMP error, and the like
				}
				if n < udpHeaderLen || string(buf[:8]) != string(cookie[:8]) || binary.BigEndian.Uint32(buf[12:])&udpHello != 0 {
					continue
				}
				udps[i].add(n, int64(binary.BigEndian.Uint64(buf[16:])), int64(binary.BigEndian.Uint64(buf[24:])), now)
				counters[i].bytes.Store(udps[i].bytes)
			}
		}()
	}

	rep := &streamReport{}
	rep.Start.ConnectingTo.Host, rep.Start.ConnectingTo.Port = host, port
	ts := &rep.Start.TestStart
	ts.Protocol, ts.NumStreams, ts.Blksize, ts.Duration = strings.ToUpper(p.Proto), p.Streams, p.Len, p.Seconds
	ts.Reverse, ts.Bidir, ts.TargetBitrate = btoi(p.Reverse), btoi(p.Bidir), p.Rate
	out := e.stdout
	if !asJSON {
		what := plural(p.Streams, "stream")
		switch {
		case p.Bidir:
			what += " each way"
		case p.Reverse:
			what += ", reverse: the server sends"
		}
		rate := ""
		if p.Proto == "udp" {
			rate = ", target " + formatRate(p.Rate) + "/sec"
		}
		fmt.Fprintf(out, "Connecting to host %s, port %d (%s, %s, %d-byte %s%s)\n", host, port, p.Proto, what,
			p.Len, map[string]string{"tcp": "writes", "udp": "datagrams"}[p.Proto], rate)
		fmt.Fprintln(out, "[ ID]  Interval          Transfer     Bitrate")
	}

	// Interval lines until the senders are done.
	sendersDone := make(chan struct{})
	go func() { senders.Wait(); close(sendersDone) }()
	var tick <-chan time.Time
	if o.interval.d > 0 {
		t := time.NewTicker(o.interval.d)
		defer t.Stop()
		tick = t.C
	}
	prev := make([]int64, n)
	prevPackets := make([]int64, n)
	ivStart := start
	timer := time.NewTimer(time.Until(end))
	defer timer.Stop()
	interval := func(now time.Time) {
		var groups []*streamSum
		for _, up := range directions(&p) {
			sum := &streamSum{Start: ivStart.Sub(start).Seconds(), End: now.Sub(start).Seconds(), Sender: up}
			sum.Seconds = sum.End - sum.Start
			var pk, lost int64
			jit := 0.0
			for i := 0; i < n; i++ {
				if p.up(i) != up {
					continue
				}
				b := counters[i].bytes.Load()
				sum.Bytes += b - prev[i]
				prev[i] = b
				if p.Proto == "udp" {
					if up {
						pkt := counters[i].packets.Load()
						pk += pkt - prevPackets[i]
						prevPackets[i] = pkt
					} else {
						ip, il, ij := udps[i].interval()
						pk, lost, jit = pk+ip, lost+il, math.Max(jit, ij)
					}
				}
			}
			if sum.Seconds > 0 {
				sum.BitsPerSecond = float64(sum.Bytes) * 8 / sum.Seconds
			}
			if p.Proto == "udp" {
				sum.Packets = &pk
				if !up {
					total := pk + lost // expected, by the sequence numbers
					sum.Packets, sum.LostPackets, sum.JitterMs = &total, &lost, &jit
				}
			}
			groups = append(groups, sum)
		}
		iv := streamInterval{Sum: groups[0]}
		if len(groups) > 1 {
			iv.SumBidirReverse = groups[1]
		}
		rep.Intervals = append(rep.Intervals, iv)
		if !asJSON {
			for k, g := range groups {
				fmt.Fprintln(out, streamLine(&p, directions(&p)[k], g, ""))
			}
		}
		ivStart = now
	}
	for running := true; running; {
		select {
		case now := <-tick:
			if now.Before(end) {
				interval(now)
			}
		case <-timer.C:
			running = false
		case <-e.ctx.Done():
			for _, s := range socks {
				s.Close()
			}
			senders.Wait()
			receivers.Wait()
			return nil
		}
	}
	<-sendersDone
	if now := time.Now(); now.Sub(ivStart) > o.interval.d/10 && o.interval.d > 0 {
		interval(now)
	}
	sent := make([]streamCount, n)
	for i := 0; i < n; i++ {
		if p.up(i) {
			sent[i] = streamCount{Bytes: counters[i].bytes.Load(), Packets: counters[i].packets.Load(), Seconds: o.time.d.Seconds()}
		}
	}
	if err := cc.send(ctlMsg{Cmd: "done", Counts: sent}); err != nil {
		return fmt.Errorf("the server went away: %v", err)
	}
	m, err = cc.recv(udpDrain + resultsLimit + streamStartLimit)
	if err != nil {
		return fmt.Errorf("no results from the server: %v", err)
	}
	if m.Cmd != "results" || len(m.Counts) != n {
		return fmt.Errorf("the server: %s", m.Error)
	}
	// The receivers here: TCP streams end with the server's senders; UDP
	// gets a moment for the tail.
	if p.Proto == "udp" {
		time.Sleep(udpDrain)
		for i, s := range socks {
			if !p.up(i) {
				s.Close()
			}
		}
	} else {
		// The server's senders have ended; a server that does not end
		// its streams is not waited for long.
		for i, s := range socks {
			if !p.up(i) {
				s.SetReadDeadline(time.Now().Add(streamStartLimit))
			}
		}
	}
	receivers.Wait()
	if err, _ := sendErr.Load().(error); err != nil {
		return err
	}

	// The summary: per stream and in sum, each direction.
	for i := 0; i < n; i++ {
		es := streamEndStream{ID: i + 1}
		var snd, rcv streamCount
		if p.up(i) {
			snd, rcv = sent[i], m.Counts[i]
		} else {
			snd = m.Counts[i]
			if p.Proto == "tcp" {
				rcv = streamCount{Bytes: counters[i].bytes.Load()}
				if !lasts[i].IsZero() {
					rcv.Seconds = lasts[i].Sub(start).Seconds()
				}
			} else {
				rcv = udps[i].count(start)
			}
		}
		es.Sender = countSum(&p, snd, snd, true)
		es.Receiver = countSum(&p, snd, rcv, false)
		rep.End.Streams = append(rep.End.Streams, es)
	}
	for k, up := range directions(&p) {
		var snd, rcv []*streamSum
		for _, es := range rep.End.Streams {
			if p.up(es.ID-1) == up {
				snd, rcv = append(snd, es.Sender), append(rcv, es.Receiver)
			}
		}
		ssent, srecv := sumStreams(snd), sumStreams(rcv)
		if k == 0 {
			rep.End.SumSent, rep.End.SumReceived = ssent, srecv
			if p.Proto == "udp" {
				rep.End.Sum = srecv
			}
		} else {
			rep.End.SumSentBidirReverse, rep.End.SumReceivedBidirReverse = ssent, srecv
		}
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintln(out, "- - - - - - - - - - - - - - - - - - - - - - - - -")
	pairs := [][2]*streamSum{{rep.End.SumSent, rep.End.SumReceived}}
	if rep.End.SumSentBidirReverse != nil {
		pairs = append(pairs, [2]*streamSum{rep.End.SumSentBidirReverse, rep.End.SumReceivedBidirReverse})
	}
	for k, pr := range pairs {
		fmt.Fprintln(out, streamLine(&p, directions(&p)[k], pr[0], "  sender"))
		fmt.Fprintln(out, streamLine(&p, directions(&p)[k], pr[1], "  receiver"))
	}
	return nil
}

// directions lists the directions of a test, the client's sending first
// (as iperf3's "sum" and "sum_bidir_reverse").
func directions(p *streamParams) []bool {
	switch {
	case p.Bidir:
		return []bool{true, false}
	case p.Reverse:
		return []bool{false}
	}
	return []bool{true}
}

// countSum turns a stream's counts into a summary: the sender's bytes and
// packets, or the receiver's with the losses against what was sent.
func countSum(p *streamParams, sent, c streamCount, sender bool) *streamSum {
	sum := &streamSum{End: c.Seconds, Seconds: c.Seconds, Bytes: c.Bytes, Sender: sender}
	if sender || sum.Seconds < p.Seconds {
		// A receiver's time is until its last byte; it reports over the
		// test's time at least, as iperf3 does.
		sum.End, sum.Seconds = math.Max(sum.Seconds, p.Seconds), math.Max(sum.Seconds, p.Seconds)
	}
	sum.BitsPerSecond = float64(sum.Bytes) * 8 / sum.Seconds
	if p.Proto == "udp" {
		pk := sent.Packets
		sum.Packets = &pk
		if !sender {
			lost := max(sent.Packets-c.Packets, 0)
			jit, ooo := c.JitterMs, c.OutOfOrder
			pct := 0.0
			if pk > 0 {
				pct = float64(lost) * 100 / float64(pk)
			}
			sum.LostPackets, sum.JitterMs, sum.OutOfOrder, sum.LostPercent = &lost, &jit, &ooo, &pct
		}
	}
	return sum
}

// sumStreams adds streams' summaries up: bytes, packets and losses
// summed, the time the longest, the jitter averaged over the streams (as
// iperf3 does).
func sumStreams(ss []*streamSum) *streamSum {
	if len(ss) == 0 {
		return nil
	}
	out := &streamSum{Sender: ss[0].Sender}
	var packets, lost, ooo int64
	jitter := 0.0
	for _, s := range ss {
		out.Bytes += s.Bytes
		out.End, out.Seconds = math.Max(out.End, s.End), math.Max(out.Seconds, s.Seconds)
		if s.Packets != nil {
			packets += *s.Packets
			out.Packets = &packets
		}
		if s.LostPackets != nil {
			lost += *s.LostPackets
			out.LostPackets = &lost
		}
		if s.OutOfOrder != nil {
			ooo += *s.OutOfOrder
			out.OutOfOrder = &ooo
		}
		if s.JitterMs != nil {
			jitter += *s.JitterMs / float64(len(ss))
			out.JitterMs = &jitter
		}
	}
	if out.Seconds > 0 {
		out.BitsPerSecond = float64(out.Bytes) * 8 / out.Seconds
	}
	if out.Packets != nil && out.LostPackets != nil {
		pct := 0.0
		if packets > 0 {
			pct = float64(lost) * 100 / float64(packets)
		}
		out.LostPercent = &pct
	}
	return out
}

// streamLine is an interval or summary line in iperf3's layout.
func streamLine(p *streamParams, up bool, s *streamSum, role string) string {
	id := "[SUM]"
	if p.Bidir {
		id = map[bool]string{true: "[TX-C]", false: "[RX-C]"}[up]
	}
	line := fmt.Sprintf("%-6s %6.2f-%-6.2f sec  %10s  %s/sec", id, s.Start, s.End, formatBytes(s.Bytes), formatRate(s.BitsPerSecond))
	if p.Proto == "udp" {
		switch {
		case s.LostPackets != nil:
			pct := 0.0
			if *s.Packets > 0 {
				pct = float64(*s.LostPackets) * 100 / float64(*s.Packets)
			}
			if s.LostPercent != nil {
				pct = *s.LostPercent
			}
			line += fmt.Sprintf("  %7.3f ms  %d/%d (%.2g%%)", *s.JitterMs, *s.LostPackets, *s.Packets, pct)
		case s.Packets != nil:
			line += fmt.Sprintf("  %d datagrams", *s.Packets)
		}
	}
	return line + role
}

// formatBytes is iperf3's Transfer column: powers of 1024.
func formatBytes(n int64) string {
	f := float64(n)
	for _, u := range []string{"Bytes", "KBytes", "MBytes", "GBytes"} {
		if f < 1000 || u == "GBytes" {
			return threeDigits(f) + " " + u
		}
		f /= 1024
	}
	return ""
}

// formatRate is iperf3's Bitrate column: powers of 1000.
func formatRate(bps float64) string {
	for _, u := range []string{"bits", "Kbits", "Mbits", "Gbits"} {
		if bps < 1000 || u == "Gbits" {
			return threeDigits(bps) + " " + u
		}
		bps /= 1000
	}
	return ""
}

// threeDigits prints as iperf3 does: 9.99, 99.9, 999.
func threeDigits(f float64) string {
	switch {
	case f < 9.995:
		return fmt.Sprintf("%.2f", f)
	case f < 99.95:
		return fmt.Sprintf("%.1f", f)
	}
	return fmt.Sprintf("%.0f", f)
}
