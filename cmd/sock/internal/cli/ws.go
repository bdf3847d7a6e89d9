package cli

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/spf13/pflag"
)

// WebSocket (RFC 6455) with github.com/coder/websocket: sock connect
// ws:// and wss://, sock listen --ws, and relay's ws: and ws-listen:
// addresses. The library answers pings, enforces the message size limit
// (closing with 1009) and runs the close handshake.

// wsOpts are the WebSocket flags of connect and listen.
type wsOpts struct {
	listen  bool
	path    string
	binary  bool
	maxMsg  int64
	ping    durationFlag
	headers []string
}

const defaultWSMaxMessage = 1 << 20

// addWSFlags registers the WebSocket flags of connect (conn) and listen
// (lis).
func addWSFlags(f *pflag.FlagSet, o *wsOpts, conn, lis bool) {
	if lis {
		f.BoolVar(&o.listen, "ws", false, "serve WebSocket: clients connect to ws://HOST:PORT/ (wss:// with --tls)")
		f.StringVar(&o.path, "ws-path", "", "with --ws, accept WebSocket clients on this path only (default: any path)")
	}
	f.BoolVar(&o.binary, "binary", false, "WebSocket: send stdin as binary messages as it comes and write messages as they are (default: each line of stdin a text message, each message a line)")
	f.Int64Var(&o.maxMsg, "ws-max-message", defaultWSMaxMessage, "WebSocket: the largest message to accept, in bytes; a larger one closes the connection with 1009")
	f.Var(&o.ping, "ws-ping", "WebSocket: send a ping this often (5, 500ms); no pong within that time ends the connection")
	if conn {
		f.StringArrayVar(&o.headers, "ws-header", nil, `WebSocket: add this "Name: value" header to the handshake (Origin, Authorization...); repeat for more`)
	}
}

// notWS rejects WebSocket flags on a connection that is not one.
func (o *wsOpts) notWS() error {
	switch {
	case o.binary:
		return usagef("--binary is for WebSocket (a ws:// or wss:// URL, or listen --ws)")
	case o.path != "":
		return usagef("--ws-path goes with --ws")
	case o.ping.d > 0:
		return usagef("--ws-ping is for WebSocket (a ws:// or wss:// URL, or listen --ws)")
	case len(o.headers) > 0:
		return usagef("--ws-header is for WebSocket (a ws:// or wss:// URL)")
	case o.maxMsg != defaultWSMaxMessage:
		return usagef("--ws-max-message is for WebSocket (a ws:// or wss:// URL, or listen --ws)")
	}
	return nil
}

// wsConflicts rejects the nc flags that have no meaning on a WebSocket.
func (o *netOpts) wsConflicts() error {
	flags := []struct {
		set  bool
		name string
	}{
		{o.udp, "-u"}, {o.unix, "-U"}, {o.seqpacket, "--seqpacket"}, {o.zero, "-z"},
		{o.exec != "" || o.shExec != "", "-e and -c"}, {o.broker || o.chat, "--broker and --chat"},
		{o.sendProxy || o.sendProxyV2, "--send-proxy"}, {o.crlf, "-C"}, {o.hexdump, "--hexdump"},
		{o.idle.d > 0, "-i"}, {o.source != "" || o.port != 0, "-s and -p"},
	}
	for _, f := range flags {
		if f.set {
			return usagef("%s do not apply to WebSocket", f.name)
		}
	}
	if o.ws.maxMsg < 1 {
		return usagef("--ws-max-message must be at least 1")
	}
	if o.ws.path != "" && !strings.HasPrefix(o.ws.path, "/") {
		return usagef("--ws-path %q must begin with /", o.ws.path)
	}
	return nil
}

// isWSURL reports whether connect's argument is a WebSocket URL.
func isWSURL(args []string) bool {
	if len(args) != 1 {
		return false
	}
	a := strings.ToLower(args[0])
	return strings.HasPrefix(a, "ws://") || strings.HasPrefix(a, "wss://")
}

// parseWSURL checks a ws:// or wss:// URL; errors are usage errors.
func parseWSURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, usagef("bad WebSocket URL %q: %v", s, errors.Unwrap(err))
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, usagef("bad WebSocket URL %q: want ws:// or wss://", s)
	}
	if u.Hostname() == "" {
		return nil, usagef("WebSocket URL %q has no host", s)
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, usagef("WebSocket URL %q: port %q is not a number from 1 to 65535", s, p)
		}
	}
	if u.Fragment != "" {
		return nil, usagef("WebSocket URL %q: a fragment (#...) has no meaning here", s)
	}
	return u, nil
}

// closeText names a close code.
func closeText(code websocket.StatusCode) string {
	names := map[websocket.StatusCode]string{
		1000: "normal closure", 1001: "going away", 1002: "protocol error", 1003: "unsupported data",
		1005: "no status", 1006: "abnormal closure", 1007: "invalid data", 1008: "policy violation",
		1009: "message too big", 1010: "mandatory extension", 1011: "internal error", 1012: "service restart",
		1013: "try again later", 1014: "bad gateway",
	}
	if n, ok := names[code]; ok {
		return fmt.Sprintf("%d (%s)", int(code), n)
	}
	return strconv.Itoa(int(code))
}

// wsDial opens a WebSocket to u: the TCP connection as connect makes it
// (-4, -6, -w, --proxy), TLS for wss:// from the --tls flags, the
// --ws-header headers.
func wsDial(ctx context.Context, o *netOpts, u *url.URL, subprotocols ...string) (*websocket.Conn, string, error) {
	direct := *o
	var route atomic.Value
	tr := &http.Transport{
		Proxy: nil, // --proxy, not the environment, says which proxy
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			s, err := dialTarget(ctx, &direct, addr)
			if err != nil {
				return nil, err
			}
			route.Store(direct.proxyRoute)
			return s, nil
		},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	if u.Scheme == "wss" {
		cfg, err := clientTLSConfig(o, u.Hostname())
		if err != nil {
			return nil, "", err
		}
		tr.TLSClientConfig = cfg
	}
	hdr := http.Header{}
	for _, h := range o.ws.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, "", usagef(`--ws-header %q: want "Name: value"`, h)
		}
		hdr.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if o.wait.d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.wait.d)
		defer cancel()
	}
	c, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}, HTTPHeader: hdr, Subprotocols: subprotocols})
	r, _ := route.Load().(string)
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, r, fmt.Errorf("WebSocket handshake with %s: the server answered %s, not 101 Switching Protocols", u.Redacted(), resp.Status)
		}
		var pe *proxyError
		if errors.As(err, &pe) {
			return nil, r, pe
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if ctx.Err() == context.DeadlineExceeded {
			return nil, r, fmt.Errorf("WebSocket %s: no handshake within %v", u.Redacted(), o.wait.d)
		}
		return nil, r, fmt.Errorf("WebSocket %s: %w", u.Redacted(), err)
	}
	c.SetReadLimit(o.ws.maxMsg)
	return c, r, nil
}

// runWSConnect is sock connect ws://... or wss://...
func runWSConnect(e *env, o *netOpts, raw string) error {
	if err := o.wsConflicts(); err != nil {
		return err
	}
	u, err := parseWSURL(raw)
	if err != nil {
		return err
	}
	c, route, err := wsDial(e.ctx, o, u)
	if err != nil {
		return err
	}
	how := ""
	if route != "" {
		how = " " + route
	}
	o.logf(e, 1, "connected to %s (WebSocket%s)", u.Redacted(), how)
	return wsPump(e, o, c, "the server")
}

// messageReader cuts stdin into messages: lines (without the line end) as
// text messages, or with --binary what each read returns as a binary
// message. A line that is not UTF-8 goes as a binary message; a line over
// max bytes is cut.
type messageReader struct {
	br     *bufio.Reader
	binary bool
	max    int
	buf    []byte
}

func newMessageReader(r io.Reader, binary bool, max int64) *messageReader {
	m := &messageReader{br: bufio.NewReaderSize(r, 64<<10), binary: binary, max: int(min(max, 16<<20))}
	if binary {
		m.buf = make([]byte, min(m.max, 64<<10))
	}
	return m
}

// next returns the next message; io.EOF at the end of input.
func (m *messageReader) next() (websocket.MessageType, []byte, error) {
	if m.binary {
		n, err := m.br.Read(m.buf)
		if n > 0 {
			return websocket.MessageBinary, m.buf[:n], nil
		}
		return 0, nil, err
	}
	var line []byte
	for {
		part, err := m.br.ReadSlice('\n')
		line = append(line, part...)
		if err == bufio.ErrBufferFull && len(line) < m.max {
			continue
		}
		if len(line) == 0 && err != nil {
			if err == bufio.ErrBufferFull {
				err = nil
			}
			return 0, nil, err
		}
		break
	}
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
	}
	if utf8.Valid(line) {
		return websocket.MessageText, line, nil
	}
	return websocket.MessageBinary, line, nil
}

// wsErr turns the error that ended a WebSocket's reading into the
// command's result: nil for a normal close (1000, 1001 or no status) and
// for our own end; an error naming the code otherwise.
func wsErr(err error, who string, maxMsg int64) error {
	switch code := websocket.CloseStatus(err); {
	case code == websocket.StatusNormalClosure || code == websocket.StatusGoingAway || code == websocket.StatusNoStatusRcvd:
		return nil
	case code != -1:
		var ce websocket.CloseError
		errors.As(err, &ce)
		reason := ""
		if ce.Reason != "" {
			reason = fmt.Sprintf(": %q", ce.Reason)
		}
		return fmt.Errorf("%s closed the WebSocket with %s%s", who, closeText(code), reason)
	case errors.Is(err, websocket.ErrMessageTooBig):
		return fmt.Errorf("%s sent a message over --ws-max-message %d bytes: closed the WebSocket with 1009 (message too big)", who, maxMsg)
	case errors.Is(err, net.ErrClosed), errors.Is(err, context.Canceled):
		return nil
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), peerLeft(err):
		return fmt.Errorf("%s went away without closing the WebSocket (1006, abnormal closure)", who)
	}
	return fmt.Errorf("WebSocket: %s", oneLine(err.Error()))
}

// wsPinger pings c every interval until ctx ends; a ping without a pong
// within the interval is reported on fail, once.
func wsPinger(ctx context.Context, c *websocket.Conn, every time.Duration, rtt func(time.Duration), fail func(error)) {
	if every <= 0 {
		return
	}
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			pctx, cancel := context.WithTimeout(ctx, every)
			start := time.Now()
			err := c.Ping(pctx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				fail(fmt.Errorf("no pong within %v: closed the WebSocket", every))
				return
			}
			if rtt != nil {
				rtt(time.Since(start))
			}
		}
	}()
}

// wsEOFQuiet is how long, after the end of stdin, wsPump waits for the
// peer to have sent nothing before it sends its close. A WebSocket has no
// half-close and a peer that reads our close stops sending (many, as
// relay does, drop the replies they had not sent yet), so closing at once
// lost the answers to the last lines.
const wsEOFQuiet = time.Second

// wsPump copies stdin to c as messages and c's messages to stdout, as
// pump does for a socket. At the end of stdin it waits for the peer's
// close, and sends its own (1000) once nothing has arrived for wsEOFQuiet
// (with -q, after that long; with --send-only, at once); it prints what
// arrives until the close handshake ends. When the peer closes, it stops.
func wsPump(e *env, o *netOpts, c *websocket.Conn, who string) error {
	// Not e.ctx: the library drops a connection whose read or write
	// context ends, and Ctrl-C should close it with 1001 instead.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer c.CloseNow()
	var parked atomic.Bool // the reader waits in Read for the next frame
	var last atomic.Int64  // when the last message came (UnixNano)
	readDone := make(chan error, 1)
	var msgs, bytes atomic.Int64
	go func() {
		for {
			parked.Store(true)
			typ, data, err := c.Read(ctx)
			parked.Store(false)
			if err != nil {
				readDone <- err
				return
			}
			last.Store(time.Now().UnixNano())
			msgs.Add(1)
			bytes.Add(int64(len(data)))
			if o.sendOnly {
				continue
			}
			if !o.ws.binary {
				data = append(data, '\n')
			}
			if _, err := e.stdout.Write(data); err != nil {
				readDone <- err
				return
			}
			_ = typ
		}
	}()
	failed := make(chan error, 1)
	wsPinger(ctx, c, o.ws.ping.d, func(d time.Duration) { o.logf(e, 2, "pong after %v", d.Round(time.Microsecond)) },
		func(err error) { failed <- err })
	sendDone := make(chan error, 1)
	if !o.recvOnly {
		go func() {
			m := newMessageReader(e.stdin, o.ws.binary, o.ws.maxMsg)
			for {
				typ, msg, err := m.next()
				if err != nil {
					if err == io.EOF {
						err = nil
					}
					sendDone <- err
					return
				}
				if err := c.Write(ctx, typ, msg); err != nil {
					sendDone <- err
					return
				}
			}
		}()
	}
	// closeNow sends our close once the reader waits for a frame, so that
	// the library's close handshake, which discards the messages it reads,
	// finds the reader there first and the messages sent before the
	// peer's close reach stdout.
	closing := false
	var closer sync.WaitGroup
	defer closer.Wait()
	closeNow := func(code websocket.StatusCode, reason string) {
		if closing {
			return
		}
		closing = true
		closer.Add(1)
		go func() {
			defer closer.Done()
			for i := 0; i < 100 && !parked.Load(); i++ {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(time.Millisecond)
			c.Close(code, reason)
		}()
	}
	var quit, quietC <-chan time.Time
	var eofAt time.Time
	var result error
	stop := e.ctx.Done()
	for done := false; !done; {
		select {
		case err := <-readDone:
			if result == nil {
				result = wsErr(err, who, o.ws.maxMsg)
			}
			if closing && result == nil {
				o.logf(e, 1, "closed: %s answered our close", who)
			} else if code := websocket.CloseStatus(err); code != -1 && result == nil {
				o.logf(e, 1, "%s closed the WebSocket with %s", who, closeText(code))
			}
			done = true
		case err := <-sendDone:
			sendDone = nil
			if err != nil && !peerLeft(err) && !errors.Is(err, context.Canceled) {
				if websocket.CloseStatus(err) == -1 {
					result = fmt.Errorf("reading stdin or sending: %s", oneLine(err.Error()))
				}
				closeNow(websocket.StatusInternalError, "")
				continue
			}
			switch {
			case o.sendOnly:
				closeNow(websocket.StatusNormalClosure, "")
			case o.quitSet:
				quit = time.After(o.quit.d)
			default:
				// Wait for the peer's close, or until it goes quiet.
				eofAt = time.Now()
				t := time.NewTicker(wsEOFQuiet / 10)
				defer t.Stop()
				quietC = t.C
			}
		case <-quit:
			closeNow(websocket.StatusNormalClosure, "")
		case <-quietC:
			since := eofAt
			if l := time.Unix(0, last.Load()); l.After(since) {
				since = l
			}
			if time.Since(since) >= wsEOFQuiet {
				quietC = nil
				o.logf(e, 2, "nothing from %s for %v after the end of stdin: closing", who, wsEOFQuiet)
				closeNow(websocket.StatusNormalClosure, "")
			}
		case err := <-failed:
			result = err
			c.CloseNow()
		case <-stop:
			stop = nil
			closeNow(websocket.StatusGoingAway, "")
		}
	}
	o.logf(e, 2, "%s received in %s", plural(int(msgs.Load()), "message"), plural(int(bytes.Load()), "byte"))
	return result
}

// runWSListen is sock listen --ws: a WebSocket server on [ADDR] PORT. It
// serves one client, as listen does, or with -k every client: what each
// sends goes to stdout, and each message of stdin goes to all of them.
func runWSListen(e *env, o *netOpts, args []string) error {
	if err := o.wsConflicts(); err != nil {
		return err
	}
	ls, err := listenAddr(o, args)
	if err != nil {
		return err
	}
	var tlsCfg *tls.Config
	scheme := "ws"
	if o.tls || o.tlsCert != "" || o.tlsKey != "" {
		cfg, fp, err := serverTLSConfig(o.tlsCert, o.tlsKey)
		if err != nil {
			return err
		}
		tlsCfg, scheme = cfg, "wss"
		fmt.Fprintf(e.stderr, "sock: TLS certificate %s\n", fp)
	}
	s, err := ls.listen()
	if err != nil {
		return err
	}
	var ln net.Listener = s.Listener()
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	defer ln.Close()
	bound, _ := s.Getsockname()
	path := o.ws.path
	if path == "" {
		path = "/"
	}
	o.logf(e, 1, "listening on %v (WebSocket: %s://%s%s)", bound, scheme, displayAddr(bound), path)
	hub := &wsHub{e: e, o: o, conns: map[*websocket.Conn]bool{}, ln: ln}
	hub.fanout = newRoom(fanoutRoom, func(format string, args ...any) { o.logf(e, 2, format, args...) })
	hub.fanout.warnf = func(format string, args ...any) { fmt.Fprintf(e.stderr, "sock: "+format+"\n", args...) }
	hub.fanout.stall = wsSendQStall
	srv := &http.Server{Handler: hub, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	served := make(chan struct{})
	go func() { srv.Serve(ln); close(served) }()
	defer func() { srv.Close(); <-served; hub.wg.Wait() }()
	if o.keep {
		return hub.broadcastStdin(e.ctx)
	}
	select {
	case err := <-hub.oneDone():
		return err
	case <-e.ctx.Done():
		return nil
	}
}

// wsHub is listen --ws's handler.
type wsHub struct {
	e      *env
	o      *netOpts
	ln     net.Listener
	wg     sync.WaitGroup
	fanout *room // -k: stdin to every client, through each one's queue

	mu     sync.Mutex
	conns  map[*websocket.Conn]bool
	taken  bool       // without -k: the one client came
	done   chan error // without -k: its end
	outMu  sync.Mutex
	closed bool
}

func (h *wsHub) oneDone() chan error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done == nil {
		h.done = make(chan error, 1)
	}
	return h.done
}

func (h *wsHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.o.ws.path != "" && r.URL.Path != h.o.ws.path {
		http.Error(w, "sock: no WebSocket here; try "+h.o.ws.path, http.StatusNotFound)
		return
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		h.o.logf(h.e, 1, "refused %s: %s", r.RemoteAddr, oneLine(err.Error()))
		return // Accept answered the request
	}
	c.SetReadLimit(h.o.ws.maxMsg)
	h.mu.Lock()
	switch {
	case h.closed:
		h.mu.Unlock()
		c.Close(websocket.StatusGoingAway, "shutting down")
		return
	case !h.o.keep && h.taken:
		h.mu.Unlock()
		c.Close(websocket.StatusTryAgainLater, "sock serves one client")
		return
	case h.o.keep && len(h.conns) >= h.o.maxConns:
		h.mu.Unlock()
		h.o.logf(h.e, 1, "refused %s: --max-conns %d reached", r.RemoteAddr, h.o.maxConns)
		c.Close(websocket.StatusTryAgainLater, "too many clients")
		return
	}
	h.taken = true
	h.conns[c] = true
	h.wg.Add(1)
	h.mu.Unlock()
	defer h.wg.Done()
	if !h.o.keep {
		h.ln.Close() // one client: stop listening, as nc does
	}
	h.o.logf(h.e, 1, "WebSocket client %s on %s", r.RemoteAddr, r.URL.Path)
	if !h.o.keep {
		err := wsPump(h.e, h.o, c, "the client")
		h.oneDone() <- err
		return
	}
	// Stdin reaches the client through a queue of its own, written by a
	// goroutine of its own, so that a client that does not read holds up
	// no other: it is cut off once its queue is full and it has taken
	// nothing for wsSendQStall.
	q := newQueuedConn(&wsWriter{c: c, binary: h.o.ws.binary}, func() error { return c.CloseNow() })
	q.oneEach = true
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		q.run()
	}()
	h.fanout.join(q, r.RemoteAddr)
	err = h.readClient(c)
	h.fanout.leave(q)
	q.drop()
	<-wrote
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
	if err != nil {
		fmt.Fprintf(h.e.stderr, "sock: client %s: %s\n", r.RemoteAddr, oneLine(err.Error()))
	} else {
		h.o.logf(h.e, 1, "client %s left", r.RemoteAddr)
	}
}

// readClient copies a -k client's messages to stdout until it closes.
func (h *wsHub) readClient(c *websocket.Conn) error {
	defer c.CloseNow()
	ctx := context.Background() // Ctrl-C closes with 1001 (broadcastStdin)
	failed := make(chan error, 1)
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	wsPinger(pctx, c, h.o.ws.ping.d, nil, func(err error) { failed <- err; c.CloseNow() })
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			select {
			case ferr := <-failed:
				return ferr
			default:
			}
			return wsErr(err, "the client", h.o.ws.maxMsg)
		}
		if h.o.sendOnly {
			continue
		}
		if !h.o.ws.binary {
			data = append(data, '\n')
		}
		h.outMu.Lock()
		_, err = h.e.stdout.Write(data)
		h.outMu.Unlock()
		if err != nil {
			return err
		}
	}
}

// broadcastStdin sends each message of stdin to every client (-k), until
// ctx ends; then it closes them with 1001.
func (h *wsHub) broadcastStdin(ctx context.Context) error {
	if !h.o.recvOnly {
		go func() {
			m := newMessageReader(h.e.stdin, h.o.ws.binary, h.o.ws.maxMsg)
			for {
				typ, msg, err := m.next()
				if err != nil {
					return
				}
				_ = typ // wsWriter takes the type from the bytes, as m.next does
				h.fanout.broadcast(nil, append([]byte(nil), msg...))
			}
		}()
	}
	<-ctx.Done()
	h.mu.Lock()
	h.closed = true
	for c := range h.conns {
		go c.Close(websocket.StatusGoingAway, "shutting down")
	}
	h.mu.Unlock()
	return nil
}

// wsSendQStall is how long listen --ws -k waits for a client whose queue
// is full (sendQ unread) and that takes nothing, before it cuts the
// client off; meanwhile the others get only what their queues hold. A
// client that takes bytes is waited for, so that it is slowed down rather
// than cut off.
const wsSendQStall = time.Second

// wsWriter writes each Write as one WebSocket message: binary with
// --binary, else text if it is UTF-8 (binary if not), as messageReader
// reads stdin. A write blocks until the library took the message; the
// queue's close (CloseNow) ends it.
type wsWriter struct {
	c      *websocket.Conn
	binary bool
}

func (w *wsWriter) Write(p []byte) (int, error) {
	typ := websocket.MessageBinary
	if !w.binary && utf8.Valid(p) {
		typ = websocket.MessageText
	}
	if err := w.c.Write(context.Background(), typ, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// wsEOFProtocol is the subprotocol by which two sock relays agree on a
// half-close: an empty message ends one direction's data (as a TCP FIN
// does) and the WebSocket closes (1000) once both directions ended. A
// relay's byte stream never makes an empty message otherwise. Without
// it, a WebSocket has no half-close: the end of the other side's data
// closes it.
const wsEOFProtocol = "socketkit-eof"

// wsStream is a WebSocket as relay's byte stream: reads return the bytes
// of the messages in turn, text or binary; each write is one binary
// message. The peer's close with 1000, 1001 or no status, or with
// wsEOFProtocol an empty message, is the end of the stream.
type wsStream struct {
	c         *websocket.Conn
	ctx       context.Context
	r         io.Reader
	halfClose bool
	gotEOF    atomic.Bool
}

func (s *wsStream) Read(p []byte) (int, error) {
	for {
		if s.gotEOF.Load() {
			return 0, io.EOF
		}
		if s.r == nil {
			_, r, err := s.c.Reader(s.ctx)
			if err != nil {
				if wsErr(err, "the peer", 0) == nil || errors.Is(err, net.ErrClosed) {
					return 0, io.EOF
				}
				return 0, err
			}
			s.r = r
			if s.halfClose {
				// An empty message is the peer's end of data.
				n, err := r.Read(p)
				if n == 0 && err == io.EOF {
					s.r = nil
					s.gotEOF.Store(true)
					return 0, io.EOF
				}
				if err == io.EOF {
					s.r, err = nil, nil
				}
				return n, err
			}
		}
		n, err := s.r.Read(p)
		if err == io.EOF {
			s.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (s *wsStream) Write(p []byte) (int, error) {
	if err := s.c.Write(s.ctx, websocket.MessageBinary, p); err != nil {
		// The WebSocket closed (our close, the peer's): as EPIPE is for a
		// socket.
		return 0, fmt.Errorf("%w: %v", net.ErrClosed, err)
	}
	return len(p), nil
}

// wsEndpoint makes a relay endpoint of a WebSocket. With wsEOFProtocol
// the end of the other side's data is an empty message, and the close
// (1000) follows once both directions ended; without it, the end of the
// other side's data closes the WebSocket.
func wsEndpoint(ctx context.Context, c *websocket.Conn, sp relaySpec) *endpoint {
	s := &wsStream{c: c, ctx: ctx, halfClose: c.Subprotocol() == wsEOFProtocol}
	var sentEOF atomic.Bool
	var once sync.Once
	pctx, stop := context.WithCancel(ctx)
	wsPinger(pctx, c, sp.ws.ping, nil, func(error) { c.CloseNow() })
	return &endpoint{r: s, w: s, stream: true,
		closeWrite: func() {
			if s.halfClose {
				if s.c.Write(ctx, websocket.MessageBinary, nil) == nil {
					sentEOF.Store(true)
				}
				return
			}
			once.Do(func() { stop(); c.Close(websocket.StatusNormalClosure, "") })
		},
		close: func() {
			once.Do(func() {
				stop()
				if sentEOF.Load() && s.gotEOF.Load() {
					c.Close(websocket.StatusNormalClosure, "") // both ends done: the handshake
				}
			})
			c.CloseNow()
		}}
}

// relayWS is what relay's ws: and ws-listen: addresses take from its
// flags.
type relayWS struct {
	maxMsg      int64
	ping        time.Duration
	tlsCA       string
	tlsInsecure bool
}

// parseWSRelaySpec reads ws:URL (ws:ws://..., ws:wss://..., or the URL
// alone), and ws-listen:[HOST:]PORT[/PATH] or wss-listen: (TLS with a
// self-signed certificate), with ,fork.
func parseWSRelaySpec(sp *relaySpec, typ, rest string) error {
	switch typ {
	case "ws", "wss":
		raw := rest
		if strings.HasPrefix(rest, "//") {
			raw = typ + ":" + rest // ws://... given as the address
		} else if typ == "wss" {
			return usagef("bad address %q: want ws:URL (ws:wss://HOST:PORT/PATH) or the URL itself", sp.text)
		}
		u, err := parseWSURL(raw)
		if err != nil {
			return err
		}
		sp.kind, sp.addr = "ws", u.String()
	case "ws-listen", "wss-listen":
		fields := strings.Split(rest, ",")
		for _, opt := range fields[1:] {
			switch strings.ToLower(opt) {
			case "fork":
				sp.fork = true
			case "reuseaddr":
			default:
				return usagef("unknown option %q in %q (want fork or reuseaddr)", opt, sp.text)
			}
		}
		hostport, path := fields[0], "/"
		if i := strings.IndexByte(hostport, '/'); i >= 0 {
			hostport, path = hostport[:i], hostport[i:]
		}
		if !strings.Contains(hostport, ":") || strings.HasPrefix(hostport, "[") && !strings.Contains(hostport, "]:") {
			hostport = ":" + hostport
		}
		_, port, err := net.SplitHostPort(hostport)
		if err != nil {
			return usagef("bad address %q: want %s:[HOST:]PORT[/PATH]", sp.text, typ)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return usagef("bad address %q: port %q is not a number from 0 to 65535", sp.text, port)
		}
		sp.kind, sp.listen, sp.addr, sp.wsPath, sp.wsTLS = "ws", true, hostport, path, typ == "wss-listen"
	}
	return nil
}

// dialRelayWS opens a relay's ws: address.
func dialRelayWS(e *env, sp relaySpec) (*endpoint, error) {
	u, err := parseWSURL(sp.addr)
	if err != nil {
		return nil, err
	}
	o := &netOpts{proxy: sp.proxy, tlsCA: sp.ws.tlsCA, tlsInsecure: sp.ws.tlsInsecure}
	o.wait.d = sp.wait
	if o.wait.d <= 0 {
		o.wait.d = 30 * time.Second
	}
	o.ws.maxMsg = sp.ws.maxMsg
	c, _, err := wsDial(e.ctx, o, u, wsEOFProtocol)
	if err != nil {
		return nil, err
	}
	return wsEndpoint(e.ctx, c, sp), nil
}

// wsListener is a relay's ws-listen: address: an HTTP server whose
// WebSocket clients accept returns.
type wsListener struct {
	srv    *http.Server
	conns  chan *websocket.Conn
	quit   chan struct{}
	once   sync.Once
	served chan struct{}
	sp     relaySpec
	ctx    context.Context
}

// openWSListener starts serving ws-listen:; s is its listening socket.
func openWSListener(ctx context.Context, sp relaySpec, l *listener, stderr io.Writer) error {
	var ln net.Listener = l.s.Listener()
	if sp.wsTLS {
		cfg, fp, err := serverTLSConfig("", "")
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "sock: TLS certificate %s\n", fp)
		ln = tls.NewListener(ln, cfg)
	}
	w := &wsListener{conns: make(chan *websocket.Conn), quit: make(chan struct{}), served: make(chan struct{}), sp: sp, ctx: ctx}
	w.srv = &http.Server{Handler: w, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { w.srv.Serve(ln); close(w.served) }()
	l.ws = w
	return nil
}

func (w *wsListener) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.URL.Path != w.sp.wsPath {
		http.Error(rw, "sock: no WebSocket here; try "+w.sp.wsPath, http.StatusNotFound)
		return
	}
	c, err := websocket.Accept(rw, r, &websocket.AcceptOptions{InsecureSkipVerify: true, Subprotocols: []string{wsEOFProtocol}})
	if err != nil {
		return
	}
	c.SetReadLimit(w.sp.ws.maxMsg)
	select {
	case w.conns <- c:
	case <-w.quit:
		c.Close(websocket.StatusTryAgainLater, "not accepting")
	}
}

func (w *wsListener) accept() (*endpoint, error) {
	select {
	case c := <-w.conns:
		return wsEndpoint(w.ctx, c, w.sp), nil
	case <-w.quit:
		return nil, net.ErrClosed
	}
}

func (w *wsListener) close() {
	w.once.Do(func() {
		close(w.quit)
		w.srv.Close()
		<-w.served
	})
}
