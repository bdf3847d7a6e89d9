package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/socketkit/socketkit/socket"
	ss "github.com/socketkit/socketkit/socketserver"
)

// sock proxy: a SOCKS5 (RFC 1928, RFC 1929) and HTTP proxy (CONNECT, and
// plain http:// requests forwarded one per connection) on one port of a
// socketserver.Server. The first byte tells them apart: a SOCKS5 client
// begins with its version, 5; an HTTP request with a method's letter.

// proxyHandshakeLimit bounds a client's handshake (greeting, request,
// header).
const proxyHandshakeLimit = 10 * time.Second

type proxyServerOpts struct {
	addr         string
	allow        []string
	auth         string
	maxConns     int
	maxPerClient int
	wait         durationFlag
	idle         durationFlag
	verbose      int
}

func newProxy(e *env) *cobra.Command {
	o := proxyServerOpts{addr: "127.0.0.1:1080", maxPerClient: 64}
	o.wait.d = 10 * time.Second
	cmd := &cobra.Command{
		Use:   "proxy [--addr ADDR]",
		Short: "Serve SOCKS5 and HTTP CONNECT on one port, to allowed networks only",
		Long: `proxy serves SOCKS5 and HTTP proxy clients on one port, told apart by their
first byte (a SOCKS5 client sends 5 first, an HTTP client a method's letter):
SOCKS5 CONNECT with names resolved here (socks5h://, curl --socks5-hostname),
HTTP CONNECT tunnels, and plain http:// requests (curl -x without -p), each
forwarded on a connection of its own. Tunnels copy with splice(2), as sock
relay does.

Destinations must be in --allow, loopback only by default, so that a test or
a mistaken run relays nowhere else; a name is resolved first and only its
allowed addresses are tried. --auth USER:PASSWORD (or --auth env, from
$SOCK_PROXY_AUTH) asks SOCKS5 clients for that user and password (RFC 1929)
and HTTP clients for Basic credentials (Proxy-Authorization). Each client
address may have --max-per-client connections at once; one more is turned
away at once (in its protocol if it speaks within 250ms), so that it holds
no --max-conns slot.

Refusals are answered in the client's protocol (a SOCKS5 reply code; HTTP
403 outside --allow, 407 without the right credentials, 429 over the limit,
502 and 504 when the destination cannot be reached) and logged on stderr, one
line each; -v logs every tunnel too.`,
		Example: `  sock proxy                                        # 127.0.0.1:1080, to loopback only
  curl --socks5-hostname 127.0.0.1:1080 http://localhost:8000/
  curl -x http://127.0.0.1:1080 http://localhost:8000/
  sock connect --proxy socks5://127.0.0.1:1080 localhost 6254
  sock proxy --addr :1080 --allow 10.0.0.0/8 --allow 127.0.0.0/8 --max-per-client 16
  SOCK_PROXY_AUTH=bob:secret sock proxy --auth env   # curl -x http://bob:secret@127.0.0.1:1080 ...`,
		Args: rangeArgs(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProxyServer(e, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", o.addr, "address to listen on (host:port)")
	f.StringArrayVar(&o.allow, "allow", nil, "destinations allowed: a prefix (10.0.0.0/8), an address, or any; repeat for more (default: loopback, 127.0.0.0/8 and ::1)")
	f.StringVar(&o.auth, "auth", "", "require this USER:PASSWORD of clients; env: take it from $"+proxyAuthEnv)
	f.IntVar(&o.maxConns, "max-conns", 1024, "connections at once, all clients together (0: no cap)")
	f.IntVar(&o.maxPerClient, "max-per-client", o.maxPerClient, "connections at once from one client address (0: no cap)")
	f.VarP(&o.wait, "wait", "w", "connect timeout to a destination")
	f.VarP(&o.idle, "idle-timeout", "i", "close a tunnel after this long without data (0: never)")
	f.CountVarP(&o.verbose, "verbose", "v", "log every tunnel, not only refusals")
	return cmd
}

// proxyServer is the handler of sock proxy.
type proxyServer struct {
	e            *env
	allow        []netip.Prefix
	allowText    string
	user, pass   string
	auth         bool
	maxPerClient int
	wait, idle   time.Duration
	verbose      int

	logMu   sync.Mutex
	mu      sync.Mutex
	clients map[netip.Addr]int

	tunnels, refused atomic.Int64
}

// parseAllow reads --allow: prefixes, addresses, any.
func parseAllow(list []string) ([]netip.Prefix, string, error) {
	if len(list) == 0 {
		list = []string{"127.0.0.0/8", "::1"}
	}
	var out []netip.Prefix
	for _, s := range list {
		for _, s := range strings.Split(s, ",") {
			s = strings.TrimSpace(s)
			switch {
			case s == "any":
				out = append(out, netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0"))
			case strings.Contains(s, "/"):
				p, err := netip.ParsePrefix(s)
				if err != nil {
					return nil, "", usagef("--allow %q: not a prefix (10.0.0.0/8), an address or any", s)
				}
				out = append(out, p.Masked())
			default:
				a, err := netip.ParseAddr(s)
				if err != nil {
					return nil, "", usagef("--allow %q: not a prefix (10.0.0.0/8), an address or any", s)
				}
				out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			}
		}
	}
	texts := make([]string, len(out))
	for i, p := range out {
		texts[i] = p.String()
	}
	return out, strings.Join(texts, ", "), nil
}

func runProxyServer(e *env, o *proxyServerOpts) error {
	allow, allowText, err := parseAllow(o.allow)
	if err != nil {
		return err
	}
	if o.maxConns < 0 || o.maxPerClient < 0 {
		return usagef("--max-conns and --max-per-client must not be negative")
	}
	if o.wait.d <= 0 {
		return usagef("-w must be more than 0")
	}
	p := &proxyServer{e: e, allow: allow, allowText: allowText, maxPerClient: o.maxPerClient,
		wait: o.wait.d, idle: o.idle.d, verbose: o.verbose, clients: map[netip.Addr]int{}}
	if o.auth != "" {
		cred := o.auth
		if cred == "env" {
			cred = os.Getenv(proxyAuthEnv)
			if cred == "" {
				return usagef("--auth env: $%s is not set (want USER:PASSWORD)", proxyAuthEnv)
			}
		}
		user, pass, ok := strings.Cut(cred, ":")
		if !ok || user == "" || len(user) > 255 || len(pass) > 255 {
			return usagef("--auth wants USER:PASSWORD, a user of 1 to 255 bytes and a password of at most 255")
		}
		p.user, p.pass, p.auth = user, pass, true
	}
	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		return usagef("--addr %q: want host:port", o.addr)
	}
	srv := &ss.Server{
		Network: "tcp", Addr: o.addr, Handler: p, Dispatcher: &ss.Goroutines{},
		AllowReuseAddress: true, MaxConnections: o.maxConns, BlockOnClose: true,
		Logger: slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if err := srv.Bind(); err != nil {
		return listenErr(err)
	}
	if err := srv.Activate(); err != nil {
		srv.Close()
		return err
	}
	authText := "no authentication"
	if p.auth {
		authText = "user " + p.user
	}
	fmt.Fprintf(e.stderr, "sock: proxy (SOCKS5 and HTTP) on %v, to %s; %s; Ctrl-C stops\n", srv.Address(), allowText, authText)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(e.ctx) }()
	select {
	case err := <-served:
		srv.Close()
		if err != nil && !errors.Is(err, ss.ErrServerClosed) {
			return err
		}
	case <-sigs:
	case <-e.ctx.Done():
	}
	srv.Close() // ends the tunnels; BlockOnClose waits for their handlers
	if err := <-served; err != nil && !errors.Is(err, ss.ErrServerClosed) && e.ctx.Err() == nil {
		return err
	}
	fmt.Fprintf(e.stderr, "sock: proxy stopped: %s, %d refused\n", plural(int(p.tunnels.Load()), "tunnel"), p.refused.Load())
	return nil
}

func (p *proxyServer) logf(format string, args ...any) {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	fmt.Fprintf(p.e.stderr, "sock: proxy: "+format+"\n", args...)
}

// refusal is why a request is turned away, in words for the log and as
// the reply of each protocol.
type refusal struct {
	why       string
	socksCode byte
	httpCode  int
}

func (r *refusal) Error() string { return r.why }

var socks5Replies = map[byte]string{
	1: "general SOCKS server failure", 2: "connection not allowed by ruleset", 3: "network unreachable",
	4: "host unreachable", 5: "connection refused", 6: "TTL expired", 7: "command not supported",
	8: "address type not supported",
}

// enter counts a connection of the client at addr; it reports whether the
// client is over --max-per-client with it (Handle then turns it away
// before its handshake).
func (p *proxyServer) enter(a netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clients[a]++
	return p.maxPerClient > 0 && p.clients[a] > p.maxPerClient
}

func (p *proxyServer) leave(a netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.clients[a]--; p.clients[a] <= 0 {
		delete(p.clients, a)
	}
}

// proxyReq is one client's request, as the log shows it.
type proxyReq struct {
	client string
	proto  string // socks5, http CONNECT, http GET...
	target string // host:port as the client named it
}

func (q *proxyReq) String() string { return q.client + ": " + q.proto + " " + q.target }

// Handle serves one client connection.
func (p *proxyServer) Handle(ctx context.Context, r *ss.Request) error {
	s := r.Socket
	ap, _ := socket.AddrPortOf(r.ClientAddr)
	ip := ap.Addr().Unmap()
	over := p.enter(ip)
	defer p.leave(ip)
	q := &proxyReq{client: displayAddr(r.ClientAddr)}
	limit := proxyHandshakeLimit
	if over {
		// Turned away at once, so that it holds no --max-conns slot:
		// answered in its protocol if its first bytes come at once.
		limit = proxyOverWait
	}
	s.SetDeadline(time.Now().Add(limit))
	var first [1]byte
	n, err := s.Recv(first[:], socket.MSG_PEEK)
	if over {
		p.refuseOver(s, q, n == 1 && err == nil, first[0])
		return nil
	}
	if n == 0 || err != nil {
		return nil // gone, or silent for the whole handshake time
	}
	switch c := first[0]; {
	case c == 5:
		q.proto = "socks5"
		return p.socks5(ctx, s, q)
	case c == 4:
		// A SOCKS4 client: answer in its protocol (request rejected).
		s.Sendall([]byte{0, 91, 0, 0, 0, 0, 0, 0}, 0)
		p.refuse(&proxyReq{client: q.client, proto: "socks4"}, &refusal{why: "SOCKS4 is not served here (SOCKS5 and HTTP are)"}, "reply 91, request rejected")
	case c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z':
		return p.http(ctx, s, q)
	default:
		p.refuse(&proxyReq{client: q.client, proto: "?"}, &refusal{why: fmt.Sprintf("neither SOCKS5 nor HTTP (first byte 0x%02x)", c)}, "closed")
	}
	return nil
}

// proxyOverWait is how long a connection over --max-per-client is given
// to send its first bytes, so that its refusal can be in its protocol.
const proxyOverWait = 250 * time.Millisecond

// refuseOver turns away a connection over --max-per-client before its
// handshake: a SOCKS5 client is told reply 2 (connection not allowed by
// ruleset) right after the method selection, without waiting for its
// request, or no acceptable methods if it offers no method without
// authentication; an HTTP client 429; a SOCKS4 client reply 91 (it is
// never served); a client that sent nothing within
// proxyOverWait (spoke tells) is closed.
func (p *proxyServer) refuseOver(s *socket.Socket, q *proxyReq, spoke bool, first byte) {
	rf := &refusal{why: fmt.Sprintf("over --max-per-client %d", p.maxPerClient), socksCode: 2, httpCode: http.StatusTooManyRequests}
	switch {
	case !spoke:
		q.proto = "?"
		p.refuse(q, rf, "closed")
	case first == 5:
		q.proto = "socks5"
		var hdr [2]byte
		methods := make([]byte, 255)
		if _, err := io.ReadFull(s, hdr[:]); err != nil {
			p.refuse(q, rf, "closed")
			return
		}
		if _, err := io.ReadFull(s, methods[:hdr[1]]); err != nil {
			p.refuse(q, rf, "closed")
			return
		}
		if bytes.IndexByte(methods[:hdr[1]], 0) < 0 {
			s.Sendall([]byte{5, 0xff}, 0)
			p.refuse(q, rf, "no acceptable methods")
		} else {
			s.Sendall([]byte{5, 0, 5, rf.socksCode, 0, 1, 0, 0, 0, 0, 0, 0}, 0)
			p.refuse(q, rf, fmt.Sprintf("reply %d, %s", rf.socksCode, socks5Replies[rf.socksCode]))
		}
		drainClose(s)
	case first >= 'A' && first <= 'Z' || first >= 'a' && first <= 'z':
		q.proto = "http"
		p.httpRefuse(s, q, rf)
	case first == 4:
		q.proto = "socks4"
		s.Sendall([]byte{0, 91, 0, 0, 0, 0, 0, 0}, 0)
		p.refuse(q, &refusal{why: "SOCKS4 is not served here (SOCKS5 and HTTP are)"}, "reply 91, request rejected")
		drainClose(s)
	default:
		q.proto = "?"
		p.refuse(q, rf, "closed")
	}
}

// drainClose ends our sending side and takes what the client still sends
// for a moment before the close, so that unread data does not turn the
// close into a reset that could destroy the answer before the client
// reads it.
func drainClose(s *socket.Socket) {
	s.CloseWrite()
	s.SetDeadline(time.Now().Add(time.Second))
	io.Copy(io.Discard, onlyReader{s})
}

// refuse logs a refusal.
func (p *proxyServer) refuse(q *proxyReq, rf *refusal, answer string) {
	p.refused.Add(1)
	target := ""
	if q.target != "" {
		target = " " + q.target
	}
	p.logf("refused %s (%s%s): %s (%s)", q.client, q.proto, target, rf.why, answer)
}

// dial resolves target (host:port), keeps the addresses --allow admits and
// connects to the first that answers.
func (p *proxyServer) dial(ctx context.Context, q *proxyReq, host string, port int) (*socket.Socket, *refusal) {
	if port < 1 || port > 65535 {
		return nil, &refusal{why: fmt.Sprintf("port %d", port), socksCode: 1, httpCode: http.StatusBadRequest}
	}
	ctx, cancel := context.WithTimeout(ctx, p.wait)
	defer cancel()
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		addrs = []netip.Addr{a.Unmap()}
	} else {
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil || len(ips) == 0 {
			return nil, &refusal{why: "cannot resolve " + host, socksCode: 4, httpCode: http.StatusBadGateway}
		}
		for _, ip := range ips {
			addrs = append(addrs, ip.Unmap())
		}
	}
	allowed := slices.DeleteFunc(slices.Clone(addrs), func(a netip.Addr) bool {
		return !slices.ContainsFunc(p.allow, func(pf netip.Prefix) bool { return pf.Contains(a) })
	})
	if len(allowed) == 0 {
		what := addrs[0].String()
		if len(addrs) > 1 || addrs[0].String() != strings.Trim(host, "[]") {
			what = fmt.Sprintf("%s (%v)", host, addrs)
		}
		return nil, &refusal{why: fmt.Sprintf("%s is outside --allow (%s)", what, p.allowText), socksCode: 2, httpCode: http.StatusForbidden}
	}
	var last error
	for _, a := range allowed {
		s, err := socket.CreateConnection(ctx, netip.AddrPortFrom(a, uint16(port)).String(), nil)
		if err == nil {
			return s, nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	rf := &refusal{why: "cannot connect: " + errText(last), socksCode: 1, httpCode: http.StatusBadGateway}
	switch {
	case ctx.Err() != nil || errors.Is(last, os.ErrDeadlineExceeded):
		rf.why, rf.socksCode, rf.httpCode = fmt.Sprintf("no connection within %v", p.wait), 4, http.StatusGatewayTimeout
	case errors.Is(last, syscall.ECONNREFUSED):
		rf.socksCode = 5
	case errors.Is(last, syscall.ENETUNREACH):
		rf.socksCode = 3
	case errors.Is(last, syscall.EHOSTUNREACH):
		rf.socksCode = 4
	}
	return nil, rf
}

// tunnel copies between the client and the destination until both are
// done, with splice(2) as sock relay does.
func (p *proxyServer) tunnel(ctx context.Context, client, dst *socket.Socket, q *proxyReq) error {
	p.tunnels.Add(1)
	if p.verbose > 0 {
		peer, _ := dst.Getpeername()
		p.logf("%s -> %v", q, displayAddr(peer))
	}
	client.SetDeadline(time.Time{})
	err := quietIdle(copyBoth(ctx, socketEndpoint(client), socketEndpoint(dst), p.idle))
	if p.verbose > 0 {
		p.logf("%s closed", q)
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// socks5 serves a SOCKS5 client: method selection, user and password if
// asked for, then CONNECT.
func (p *proxyServer) socks5(ctx context.Context, s *socket.Socket, q *proxyReq) error {
	var hdr [2]byte
	if _, err := io.ReadFull(s, hdr[:]); err != nil {
		return nil
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(s, methods); err != nil {
		return nil
	}
	want := byte(0) // no authentication
	if p.auth {
		want = 2 // user and password
	}
	if bytes.IndexByte(methods, want) < 0 {
		s.Sendall([]byte{5, 0xff}, 0)
		why := "the client offers no method without authentication"
		if p.auth {
			why = "the client offers no user and password (--auth is set)"
		}
		p.refuse(q, &refusal{why: why}, "no acceptable methods")
		return nil
	}
	if _, err := s.Sendall([]byte{5, want}, 0); err != nil {
		return nil
	}
	if p.auth {
		user, pass, err := readSocks5Auth(s)
		if err != nil {
			return nil
		}
		if !p.credentialsOK(user, pass) {
			s.Sendall([]byte{1, 1}, 0)
			p.refuse(q, &refusal{why: fmt.Sprintf("wrong user or password (user %q)", user)}, "authentication failed")
			return nil
		}
		if _, err := s.Sendall([]byte{1, 0}, 0); err != nil {
			return nil
		}
	}
	var req [4]byte
	if _, err := io.ReadFull(s, req[:]); err != nil {
		return nil
	}
	var host string
	switch req[3] {
	case 1, 4:
		b := make([]byte, map[byte]int{1: 4, 4: 16}[req[3]])
		if _, err := io.ReadFull(s, b); err != nil {
			return nil
		}
		a, _ := netip.AddrFromSlice(b)
		host = a.Unmap().String()
	case 3:
		var l [1]byte
		if _, err := io.ReadFull(s, l[:]); err != nil {
			return nil
		}
		b := make([]byte, l[0])
		if _, err := io.ReadFull(s, b); err != nil {
			return nil
		}
		host = string(b)
	default:
		p.socks5Refuse(s, q, &refusal{why: fmt.Sprintf("address type %d", req[3]), socksCode: 8})
		return nil
	}
	var portb [2]byte
	if _, err := io.ReadFull(s, portb[:]); err != nil {
		return nil
	}
	port := int(binary.BigEndian.Uint16(portb[:]))
	q.target = net.JoinHostPort(host, strconv.Itoa(port))
	if req[0] != 5 {
		p.socks5Refuse(s, q, &refusal{why: fmt.Sprintf("request version %d", req[0]), socksCode: 1})
		return nil
	}
	if req[1] != 1 {
		names := map[byte]string{2: "BIND", 3: "UDP ASSOCIATE"}
		p.socks5Refuse(s, q, &refusal{why: fmt.Sprintf("command %d %s (only CONNECT is served)", req[1], names[req[1]]), socksCode: 7})
		return nil
	}
	q.proto = "socks5 CONNECT"
	dst, rf := p.dial(ctx, q, host, port)
	if rf != nil {
		p.socks5Refuse(s, q, rf)
		return nil
	}
	defer dst.Close()
	rep := []byte{5, 0, 0}
	bound, _ := socket.AddrPortOf(mustSockname(dst))
	if a := bound.Addr().Unmap(); a.Is4() {
		rep = append(rep, 1)
		rep = append(rep, a.AsSlice()...)
	} else {
		rep = append(rep, 4)
		b := a.As16()
		rep = append(rep, b[:]...)
	}
	rep = binary.BigEndian.AppendUint16(rep, bound.Port())
	if _, err := s.Sendall(rep, 0); err != nil {
		return nil
	}
	return p.tunnel(ctx, s, dst, q)
}

func mustSockname(s *socket.Socket) socket.Sockaddr {
	sa, _ := s.Getsockname()
	return sa
}

// socks5Refuse answers a request with a failure reply and logs it.
func (p *proxyServer) socks5Refuse(s *socket.Socket, q *proxyReq, rf *refusal) {
	s.Sendall([]byte{5, rf.socksCode, 0, 1, 0, 0, 0, 0, 0, 0}, 0)
	p.refuse(q, rf, fmt.Sprintf("reply %d, %s", rf.socksCode, socks5Replies[rf.socksCode]))
}

// readSocks5Auth reads RFC 1929's user and password.
func readSocks5Auth(s *socket.Socket) (string, string, error) {
	var b [2]byte
	if _, err := io.ReadFull(s, b[:]); err != nil {
		return "", "", err
	}
	if b[0] != 1 {
		return "", "", fmt.Errorf("user/password version %d", b[0])
	}
	user := make([]byte, b[1])
	if _, err := io.ReadFull(s, user); err != nil {
		return "", "", err
	}
	if _, err := io.ReadFull(s, b[:1]); err != nil {
		return "", "", err
	}
	pass := make([]byte, b[0])
	if _, err := io.ReadFull(s, pass); err != nil {
		return "", "", err
	}
	return string(user), string(pass), nil
}

func (p *proxyServer) credentialsOK(user, pass string) bool {
	u := subtle.ConstantTimeCompare([]byte(user), []byte(p.user))
	w := subtle.ConstantTimeCompare([]byte(pass), []byte(p.pass))
	return u&w == 1
}

// hopHeaders are not forwarded with a plain http:// request.
var hopHeaders = []string{"Proxy-Authorization", "Proxy-Connection", "Connection", "Keep-Alive", "Te", "Trailer", "Upgrade", "Proxy-Authenticate"}

// http serves an HTTP proxy client: CONNECT host:port, or one plain
// http:// request forwarded with "Connection: close".
func (p *proxyServer) http(ctx context.Context, s *socket.Socket, q *proxyReq) error {
	q.proto = "http"
	head, err := readHTTPHead(s, maxProxyHeader)
	if err != nil {
		switch {
		case errors.Is(err, errHeadTooLong):
			p.httpRefuse(s, q, &refusal{why: "request header over 64 KiB", httpCode: http.StatusRequestHeaderFieldsTooLarge})
		case errors.Is(err, os.ErrDeadlineExceeded):
			s.SetDeadline(time.Now().Add(time.Second)) // for the answer
			p.httpRefuse(s, q, &refusal{why: fmt.Sprintf("no complete request header within %v", proxyHandshakeLimit), httpCode: http.StatusRequestTimeout})
		}
		return nil
	}
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		p.httpRefuse(s, q, &refusal{why: "bad request: " + oneLine(err.Error()), httpCode: http.StatusBadRequest})
		return nil
	}
	q.proto = "http " + req.Method
	if p.auth && !p.httpCredentialsOK(req.Header.Get("Proxy-Authorization")) {
		rf := &refusal{why: "no credentials", httpCode: http.StatusProxyAuthRequired}
		if req.Header.Get("Proxy-Authorization") != "" {
			rf.why = "wrong user or password"
		}
		q.target = req.Host
		p.httpRefuse(s, q, rf)
		return nil
	}
	var hostport string
	if req.Method == http.MethodConnect {
		hostport = req.Host
		q.target = hostport
	} else {
		if req.URL.Scheme != "http" || req.URL.Host == "" {
			q.target = req.RequestURI
			why := "not a proxy request (want CONNECT host:port or an http:// URL)"
			if req.URL.Scheme != "" {
				why = fmt.Sprintf("%s:// URLs are not forwarded (use CONNECT)", req.URL.Scheme)
			}
			p.httpRefuse(s, q, &refusal{why: why, httpCode: http.StatusBadRequest})
			return nil
		}
		hostport = req.URL.Host
		if req.URL.Port() == "" {
			hostport = net.JoinHostPort(req.URL.Hostname(), "80")
		}
		q.target = req.URL.String()
	}
	host, portStr, err := net.SplitHostPort(hostport)
	port, perr := strconv.Atoi(portStr)
	if err != nil || perr != nil {
		p.httpRefuse(s, q, &refusal{why: fmt.Sprintf("bad host:port %q", hostport), httpCode: http.StatusBadRequest})
		return nil
	}
	dst, rf := p.dial(ctx, q, host, port)
	if rf != nil {
		p.httpRefuse(s, q, rf)
		return nil
	}
	defer dst.Close()
	if req.Method == http.MethodConnect {
		if _, err := s.Sendall([]byte("HTTP/1.1 200 Connection established\r\n\r\n"), 0); err != nil {
			return nil
		}
		return p.tunnel(ctx, s, dst, q)
	}
	// The request in origin form, without the hop-by-hop headers, on a
	// connection of its own: "Connection: close", so the server ends it
	// after its answer. The body follows from the client's socket as is.
	for _, name := range req.Header.Values("Connection") {
		for _, h := range strings.Split(name, ",") {
			req.Header.Del(strings.TrimSpace(h))
		}
	}
	for _, h := range hopHeaders {
		req.Header.Del(h)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s %s\r\nHost: %s\r\n", req.Method, req.URL.RequestURI(), req.Proto, req.Host)
	if req.ContentLength > 0 && req.Header.Get("Content-Length") == "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", req.ContentLength)
	}
	for _, te := range req.TransferEncoding {
		fmt.Fprintf(&b, "Transfer-Encoding: %s\r\n", te)
	}
	req.Header.Write(&b)
	b.WriteString("Connection: close\r\n\r\n")
	if _, err := dst.Sendall(b.Bytes(), 0); err != nil {
		p.httpRefuse(s, q, &refusal{why: "sending the request: " + errText(err), httpCode: http.StatusBadGateway})
		return nil
	}
	return p.tunnel(ctx, s, dst, q)
}

func (p *proxyServer) httpCredentialsOK(h string) bool {
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return false
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	return ok && p.credentialsOK(user, pass)
}

// httpRefuse answers with an HTTP error and logs it.
func (p *proxyServer) httpRefuse(s *socket.Socket, q *proxyReq, rf *refusal) {
	status := fmt.Sprintf("%d %s", rf.httpCode, http.StatusText(rf.httpCode))
	body := "sock proxy: " + rf.why + "\n"
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n", status, len(body))
	if rf.httpCode == http.StatusProxyAuthRequired {
		b.WriteString("Proxy-Authenticate: Basic realm=\"sock proxy\"\r\n")
	}
	b.WriteString("\r\n" + body)
	s.Sendall([]byte(b.String()), 0)
	p.refuse(q, rf, status)
	drainClose(s) // what the client still sends (a body)
}
