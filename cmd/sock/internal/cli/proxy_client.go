package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/proxy"

	"github.com/socketkit/socketkit/socket"
)

// The upstream proxies of sock connect --proxy and sock relay --proxy:
// SOCKS5 (RFC 1928, user and password RFC 1929) through
// golang.org/x/net/proxy, SOCKS4 and SOCKS4a, and HTTP CONNECT (RFC 9110
// §9.3.6) written here. Every handshake runs on the *socket.Socket
// connected to the proxy and reads exactly the proxy's reply, so what
// follows is that same socket: splice, CloseWrite, TLS and -e work on it
// as on a direct connection.

// proxyAuthEnv holds USER:PASSWORD for a proxy URL without them, so that
// a password need not appear in the command line (ps shows it).
const proxyAuthEnv = "SOCK_PROXY_AUTH"

// proxyHandshakeTimeout bounds a proxy's handshake when -w does not.
const proxyHandshakeTimeout = 30 * time.Second

// upstream is a parsed proxy URL.
type upstream struct {
	scheme   string // socks5, socks4, socks4a, http
	addr     string // host:port of the proxy
	user     string
	password string
	hasAuth  bool
}

// String is the URL without the credentials, for messages.
func (u *upstream) String() string {
	s := u.scheme
	if s == "socks5" {
		s = "socks5h" // names are resolved by the proxy
	}
	if u.hasAuth {
		return s + "://" + u.user + ":***@" + u.addr
	}
	return s + "://" + u.addr
}

// parseProxyURL reads a proxy URL: socks5://, socks5h:// (the same: names
// are always resolved by the proxy), socks4://, socks4a://, http://, with
// USER:PASSWORD@ optional; without them, $SOCK_PROXY_AUTH supplies them.
// A URL without a scheme is http://, as curl takes it. Errors are usage
// errors.
func parseProxyURL(s string) (*upstream, error) {
	raw := s
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, usagef("bad proxy URL %q: %v", raw, errors.Unwrap(err))
	}
	up := &upstream{}
	defPort := "1080"
	switch strings.ToLower(u.Scheme) {
	case "socks5", "socks5h":
		up.scheme = "socks5"
	case "socks4":
		up.scheme = "socks4"
	case "socks4a":
		up.scheme = "socks4a"
	case "http":
		up.scheme, defPort = "http", "3128"
	case "https":
		return nil, usagef("proxy URL %q: TLS to the proxy (https://) is not supported; use http:// (the tunnel still carries TLS end to end)", raw)
	default:
		return nil, usagef("proxy URL %q: unknown scheme %q (want socks5://, socks4a://, socks4:// or http://)", raw, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, usagef("proxy URL %q has no host", raw)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, usagef("proxy URL %q: want SCHEME://[USER:PASSWORD@]HOST[:PORT] and nothing after", raw)
	}
	port := u.Port()
	if port == "" {
		if strings.HasSuffix(u.Host, ":") {
			return nil, usagef("proxy URL %q: empty port", raw)
		}
		port = defPort
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return nil, usagef("proxy URL %q: port %q is not a number from 1 to 65535", raw, port)
	}
	up.addr = net.JoinHostPort(u.Hostname(), port)
	if u.User != nil {
		up.user, up.hasAuth = u.User.Username(), true
		up.password, _ = u.User.Password()
	} else if v := os.Getenv(proxyAuthEnv); v != "" {
		user, pass, ok := strings.Cut(v, ":")
		if !ok {
			return nil, usagef("$%s must be USER:PASSWORD", proxyAuthEnv)
		}
		up.user, up.password, up.hasAuth = user, pass, true
	}
	if up.hasAuth {
		switch {
		case up.scheme == "socks5" && (up.user == "" || len(up.user) > 255 || len(up.password) > 255):
			return nil, usagef("proxy %s: SOCKS5 wants a user name of 1 to 255 bytes and a password of at most 255", up)
		case (up.scheme == "socks4" || up.scheme == "socks4a") && up.password != "":
			return nil, usagef("proxy %s: SOCKS4 sends a user id only, no password", up)
		case up.scheme == "http" && strings.Contains(up.user, ":"):
			return nil, usagef("proxy %s: a user name for HTTP Basic authentication cannot contain ':'", up)
		}
	}
	return up, nil
}

// proxyFromEnv is --proxy env: the proxy for target from ALL_PROXY, then
// HTTPS_PROXY (lower case first, as curl reads them), unless NO_PROXY
// names target's host. nil means connect directly.
func proxyFromEnv(target string) (*upstream, string, error) {
	host, port, _ := net.SplitHostPort(target)
	if name, v := envProxyVar("no_proxy", "NO_PROXY"); v != "" && noProxyMatch(v, host, port) {
		return nil, name + " names " + host, nil
	}
	for _, names := range [][2]string{{"all_proxy", "ALL_PROXY"}, {"https_proxy", "HTTPS_PROXY"}} {
		if name, v := envProxyVar(names[0], names[1]); v != "" {
			up, err := parseProxyURL(v)
			if err != nil {
				return nil, "", usagef("$%s: %v", name, err)
			}
			return up, "$" + name, nil
		}
	}
	return nil, "no ALL_PROXY or HTTPS_PROXY is set", nil
}

func envProxyVar(names ...string) (string, string) {
	for _, n := range names {
		if v := strings.TrimSpace(os.Getenv(n)); v != "" {
			return n, v
		}
	}
	return "", ""
}

// noProxyMatch reports whether NO_PROXY's list names host (and port): "*"
// names every host; a name names itself and its subdomains (a leading dot
// is optional); an address names itself; a prefix (10.0.0.0/8) names the
// addresses in it; an entry with :PORT names that port only. Loopback is
// not implied: list it to reach it directly.
func noProxyMatch(list, host, port string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	addr, addrErr := netip.ParseAddr(host)
	for _, e := range strings.Split(list, ",") {
		e = strings.ToLower(strings.TrimSpace(e))
		if e == "" {
			continue
		}
		if e == "*" {
			return true
		}
		if p, err := netip.ParsePrefix(e); err == nil {
			if addrErr == nil && p.Contains(addr.Unmap()) {
				return true
			}
			continue
		}
		ehost, eport := e, ""
		if h, p, err := net.SplitHostPort(e); err == nil {
			ehost, eport = h, p
		} else if strings.HasPrefix(e, "[") && strings.HasSuffix(e, "]") {
			ehost = e[1 : len(e)-1]
		}
		if eport != "" && eport != port {
			continue
		}
		if a, err := netip.ParseAddr(ehost); err == nil {
			if addrErr == nil && a.Unmap() == addr.Unmap() {
				return true
			}
			continue
		}
		ehost = strings.TrimPrefix(strings.TrimSuffix(ehost, "."), "*")
		ehost = strings.TrimPrefix(ehost, ".")
		if ehost != "" && (host == ehost || strings.HasSuffix(host, "."+ehost)) {
			return true
		}
	}
	return false
}

// proxyDialer connects to targets through an upstream proxy.
type proxyDialer struct {
	up *upstream
	// dial connects to the proxy itself (the source address, -4 and -6
	// of the command apply to that connection).
	dial func(ctx context.Context, addr string) (*socket.Socket, error)
}

// proxyError is an error of the proxy or its handshake: one line that
// names the proxy.
type proxyError struct {
	up  *upstream
	msg string
	err error
}

func (e *proxyError) Error() string { return "proxy " + e.up.String() + ": " + e.msg }
func (e *proxyError) Unwrap() error { return e.err }

func (d *proxyDialer) fail(err error, format string, args ...any) error {
	return &proxyError{up: d.up, msg: fmt.Sprintf(format, args...), err: err}
}

// DialContext connects to the proxy and asks it for target (host:port);
// the name in target is resolved by the proxy, except with socks4://.
func (d *proxyDialer) DialContext(ctx context.Context, target string) (*socket.Socket, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, proxyHandshakeTimeout)
		defer cancel()
	}
	s, err := d.dial(ctx, d.up.addr)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, d.fail(err, "no connection to the proxy within the timeout")
		}
		return nil, d.fail(err, "cannot connect to the proxy: %s", errText(err))
	}
	// The handshake obeys ctx: its deadline, and its end (Ctrl-C).
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { s.SetDeadline(time.Unix(1, 0)) })
	switch d.up.scheme {
	case "socks5":
		err = d.socks5(ctx, s, target)
	case "socks4", "socks4a":
		err = d.socks4(ctx, s, target)
	case "http":
		err = d.httpConnect(s, target)
	}
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = s.SetDeadline(time.Time{})
	}
	if err != nil {
		s.Close()
		var pe *proxyError
		if errors.As(err, &pe) {
			return nil, err
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if ctx.Err() == context.Canceled {
				return nil, ctx.Err()
			}
			return nil, d.fail(err, "no answer to the %s handshake within the timeout", d.up.scheme)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || peerLeft(err) {
			return nil, d.fail(err, "the proxy closed the connection during the %s handshake (is it a %s proxy?)", d.up.scheme, d.up.scheme)
		}
		return nil, d.fail(err, "%s", errText(err))
	}
	return s, nil
}

// errText is err's message without the operation and address prefixes
// that the proxy's own message makes redundant.
func errText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return oneLine(err.Error())
}

// socks5 is the SOCKS5 handshake, by golang.org/x/net/proxy on our socket.
func (d *proxyDialer) socks5(ctx context.Context, s *socket.Socket, target string) error {
	var auth *proxy.Auth
	if d.up.hasAuth {
		auth = &proxy.Auth{User: d.up.user, Password: d.up.password}
	}
	pd, err := proxy.SOCKS5("tcp", d.up.addr, auth, nil)
	if err != nil {
		return err
	}
	wc, ok := pd.(interface {
		DialWithConn(ctx context.Context, c net.Conn, network, address string) (net.Addr, error)
	})
	if !ok {
		return errors.New("golang.org/x/net/proxy: the SOCKS5 dialer has no DialWithConn")
	}
	_, err = wc.DialWithConn(ctx, s, "tcp", target)
	if err == nil {
		return nil
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		err = oe.Err
	}
	msg := err.Error()
	switch {
	case msg == "no acceptable authentication methods" && !d.up.hasAuth:
		return d.fail(err, "the proxy wants a user and password (give them as socks5://USER:PASSWORD@HOST:PORT or in $%s)", proxyAuthEnv)
	case msg == "no acceptable authentication methods":
		return d.fail(err, "the proxy accepts no authentication method offered (none, user and password)")
	case msg == "username/password authentication failed":
		return d.fail(err, "authentication failed: wrong user or password")
	case strings.HasPrefix(msg, "unknown error "):
		return d.fail(err, "the proxy could not connect to %s: %s", target, strings.TrimPrefix(msg, "unknown error "))
	}
	return err
}

// socks4Reasons are the SOCKS4 reply codes other than 90 (granted).
var socks4Reasons = map[byte]string{
	91: "request rejected or failed",
	92: "request rejected: the proxy cannot reach the client's identd",
	93: "request rejected: identd reports a different user id",
}

// socks4 is the SOCKS4 handshake, or SOCKS4a's with a name for the proxy
// to resolve.
func (d *proxyDialer) socks4(ctx context.Context, s *socket.Socket, target string) error {
	host, portStr, err := net.SplitHostPort(target)
	if err != nil {
		return err
	}
	port, _ := strconv.Atoi(portStr)
	req := []byte{4, 1, byte(port >> 8), byte(port)}
	var name string
	ip, err := netip.ParseAddr(host)
	switch {
	case err == nil && ip.Unmap().Is4():
		a := ip.Unmap().As4()
		req = append(req, a[:]...)
	case err == nil:
		return d.fail(nil, "SOCKS4 carries IPv4 addresses only, not %s", host)
	case d.up.scheme == "socks4a":
		req = append(req, 0, 0, 0, 1) // 0.0.0.x: the name follows the user id
		name = host
	default:
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
		if err != nil || len(ips) == 0 {
			return d.fail(err, "socks4:// needs %s resolved here, to IPv4, and it does not resolve (socks4a:// lets the proxy resolve it)", host)
		}
		a := ips[0].Unmap().As4()
		req = append(req, a[:]...)
	}
	req = append(req, d.up.user...)
	req = append(req, 0)
	if name != "" {
		req = append(req, name...)
		req = append(req, 0)
	}
	if _, err := s.Sendall(req, 0); err != nil {
		return err
	}
	var rep [8]byte
	if _, err := io.ReadFull(s, rep[:]); err != nil {
		return err
	}
	if rep[0] != 0 {
		return d.fail(nil, "not a SOCKS4 reply (version byte %d)", rep[0])
	}
	if rep[1] != 90 {
		why, ok := socks4Reasons[rep[1]]
		if !ok {
			why = fmt.Sprintf("reply code %d", rep[1])
		}
		return d.fail(nil, "the proxy refused %s: %s", target, why)
	}
	return nil
}

// maxProxyHeader bounds the header of an HTTP proxy's answer.
const maxProxyHeader = 64 << 10

// httpConnect asks an HTTP proxy for a tunnel with CONNECT and reads its
// answer's header, and nothing after it.
func (d *proxyDialer) httpConnect(s *socket.Socket, target string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "CONNECT %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sock\r\n", target, target)
	if d.up.hasAuth {
		cred := base64.StdEncoding.EncodeToString([]byte(d.up.user + ":" + d.up.password))
		fmt.Fprintf(&b, "Proxy-Authorization: Basic %s\r\n", cred)
	}
	b.WriteString("\r\n")
	if _, err := s.Sendall([]byte(b.String()), 0); err != nil {
		return err
	}
	head, err := readHTTPHead(s, maxProxyHeader)
	if err != nil {
		if errors.Is(err, errHeadTooLong) {
			return d.fail(err, "the proxy's answer has a header over %d bytes", maxProxyHeader)
		}
		return err
	}
	line, _, _ := strings.Cut(string(head), "\r\n")
	proto, rest, _ := strings.Cut(line, " ")
	code, reason, _ := strings.Cut(rest, " ")
	if !strings.HasPrefix(proto, "HTTP/1.") || len(code) != 3 {
		return d.fail(nil, "not an HTTP answer: %q", clip(line, 60))
	}
	if code[0] == '2' {
		return nil
	}
	why := code + " " + reason
	switch code {
	case "407", "401": // tinyproxy answers wrong credentials with 401
		if d.up.hasAuth {
			return d.fail(nil, "%s: wrong user or password", why)
		}
		return d.fail(nil, "%s: the proxy wants a user and password (give them as http://USER:PASSWORD@HOST:PORT or in $%s)", why, proxyAuthEnv)
	}
	return d.fail(nil, "the proxy refused CONNECT %s: %s", target, why)
}

var errHeadTooLong = errors.New("header too long")

// readHTTPHead reads an HTTP header up to and including its blank line,
// and not a byte more: it peeks (MSG_PEEK) at what has arrived and
// consumes only the header, so that bytes the peer sent after it stay in
// the socket for whoever reads next. Lines may end in CRLF or, as Go's
// net/http and most servers accept, a bare LF.
func readHTTPHead(s *socket.Socket, max int) ([]byte, error) {
	var head []byte
	buf := make([]byte, 4096)
	for {
		n, err := s.Recv(buf, socket.MSG_PEEK)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, io.ErrUnexpectedEOF
		}
		// The end ("\n\n" or "\n\r\n") may straddle what was consumed
		// before.
		keep := min(len(head), 2)
		joined := append(head[len(head)-keep:len(head):len(head)], buf[:n]...)
		take, found := n, false
		if i := headEnd(joined); i >= 0 {
			take, found = i-keep, true
		}
		if len(head)+take > max {
			return nil, errHeadTooLong
		}
		m, err := io.ReadFull(s, buf[:take])
		head = append(head, buf[:m]...)
		if err != nil {
			return nil, err
		}
		if found {
			return head, nil
		}
	}
}

// headEnd returns the length of the HTTP header at the start of b, up to
// and including the blank line ("\r\n" or "\n" after a line's "\n")
// that ends it, or -1 if b holds no blank line yet.
func headEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		k := i + j + 1 // after the line end
		if k < len(b) && b[k] == '\n' {
			return k + 1
		}
		if k+1 < len(b) && b[k] == '\r' && b[k+1] == '\n' {
			return k + 2
		}
		i = k
	}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// dialViaProxy is dialTarget with --proxy: the connection to the proxy
// takes the command's -4, -6, -s, -p and -w; route says which way it went.
func dialViaProxy(ctx context.Context, o *netOpts, target string) (s *socket.Socket, route string, err error) {
	direct := *o
	direct.proxy = ""
	var up *upstream
	if o.proxy == "env" {
		var why string
		up, why, err = proxyFromEnv(target)
		if err != nil {
			return nil, "", err
		}
		if up == nil {
			s, err := dialTarget(ctx, &direct, target)
			return s, "directly (--proxy env: " + why + ")", err
		}
		route = "through proxy " + up.String() + " (--proxy env: " + why + ")"
	} else {
		if up, err = parseProxyURL(o.proxy); err != nil {
			return nil, "", err
		}
		route = "through proxy " + up.String()
	}
	if o.wait.d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.wait.d)
		defer cancel()
	}
	d := &proxyDialer{up: up, dial: func(ctx context.Context, addr string) (*socket.Socket, error) {
		return dialTarget(ctx, &direct, addr)
	}}
	s, err = d.DialContext(ctx, target)
	return s, route, err
}

// relayProxy gives relay's --proxy to its connecting tcp: addresses; it is
// a usage error when there is none.
func relayProxy(proxyURL string, specs ...*relaySpec) error {
	if proxyURL == "" {
		return nil
	}
	if proxyURL != "env" {
		if _, err := parseProxyURL(proxyURL); err != nil {
			return err
		}
	}
	n := 0
	for _, sp := range specs {
		if (sp.kind == "tcp" || sp.kind == "ws") && !sp.listen {
			sp.proxy = proxyURL
			n++
		}
	}
	if n == 0 {
		return usagef("--proxy applies to connecting tcp: and ws: addresses, and neither address is one")
	}
	return nil
}

// dialRelayProxy connects a relay's tcp: address through its proxy.
func dialRelayProxy(ctx context.Context, sp relaySpec) (*socket.Socket, error) {
	o := &netOpts{proxy: sp.proxy, v4: sp.family == socket.AF_INET, v6: sp.family == socket.AF_INET6}
	o.wait.d = sp.wait
	if o.wait.d <= 0 {
		o.wait.d = 30 * time.Second
	}
	s, _, err := dialViaProxy(ctx, o, sp.addr)
	return s, err
}
