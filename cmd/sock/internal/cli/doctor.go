package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/socketkit/socketkit/cmd/sock/internal/sockdiag"
	"github.com/socketkit/socketkit/socket"
)

func newDoctor(e *env) *cobra.Command {
	var (
		useTLS, asJSON bool
		timeout        = 3 * time.Second
		serverName     string
	)
	cmd := &cobra.Command{
		Use:   "doctor TARGET",
		Short: "Diagnose a port or an address: who holds it, its queues, and why a connection fails",
		Long: `doctor looks at TARGET and says in plain words what is going on.

For a local port (TARGET is PORT, or HOST:PORT with an address of this
machine): which process holds it (name and pid), how many TCP sockets are on
it in each state (LISTEN, ESTABLISHED, TIME_WAIT, CLOSE_WAIT...), the listener's
accept queue and its limit (full means the program does not call accept()
fast enough and new clients wait or time out), and the listen overflows since
boot (TcpExtListenOverflows in /proc/net/netstat). The evidence comes from
NETLINK_SOCK_DIAG, as sock ss shows it.

For HOST:PORT it resolves HOST and tries to connect to every address, with
the time each took and the outcome in plain words: connected; refused
(nothing listens there); timed out (a firewall drops the packets, the host is
down, or the listener's queue is full); unreachable (no route, or no answer on
the local network); reset. With --tls it also runs a TLS handshake and says
what the server presented and whether it verified. Each finding ends with the
next command to run. doctor exits 1 when no address could be connected to.`,
		Example: `  sock doctor 6254                  # who holds local port 6254, in which states
  sock doctor 127.0.0.1:6254        # the same, and try to connect
  sock doctor example.com:443 --tls
  sock doctor localhost:8080 --json`,
		Args: rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			target := args[0]
			if len(args) == 2 {
				target = net.JoinHostPort(args[0], args[1])
			}
			if timeout <= 0 {
				return usagef("--timeout must be positive")
			}
			rep, err := runDoctor(e.ctx, target, doctorOpts{tls: useTLS, timeout: timeout, serverName: serverName})
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				printDoctor(e.stdout, rep)
			}
			return rep.failure()
		},
	}
	f := cmd.Flags()
	f.BoolVar(&useTLS, "tls", false, "run a TLS handshake on each connection")
	f.StringVar(&serverName, "servername", "", "TLS server name to send and verify (default: the host)")
	f.DurationVarP(&timeout, "timeout", "w", timeout, "time to wait for each connection")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

type doctorOpts struct {
	tls        bool
	timeout    time.Duration
	serverName string
}

// DoctorReport is what sock doctor found; --json prints it.
type DoctorReport struct {
	Target string       `json:"target"`
	Host   string       `json:"host,omitempty"`
	Port   int          `json:"port"`
	Local  *DoctorLocal `json:"local,omitempty"`
	// ResolveError is set when HOST did not resolve.
	ResolveError string      `json:"resolve_error,omitempty"`
	Tries        []DoctorTry `json:"tries,omitempty"`
	Findings     []string    `json:"findings"`
	Next         []string    `json:"next"`
	errno        syscall.Errno
	failed       bool
}

// DoctorLocal is the local port's part of the report.
type DoctorLocal struct {
	Listeners []DoctorListener `json:"listeners"`
	// States counts TCP sockets whose local port is the port, by state
	// (kernel names: LISTEN, ESTABLISHED, TIME_WAIT...); ClientStates those
	// on this machine connected to the port.
	States       map[string]int   `json:"states"`
	ClientStates map[string]int   `json:"client_states"`
	UDP          []DoctorListener `json:"udp,omitempty"`
	// Listen overflows and drops since boot, network-namespace wide.
	ListenOverflows uint64 `json:"listen_overflows"`
	ListenDrops     uint64 `json:"listen_drops"`
}

// DoctorListener is a socket bound to the port.
type DoctorListener struct {
	Address     string           `json:"address"`
	AcceptQueue uint32           `json:"accept_queue"`
	Limit       uint32           `json:"accept_queue_limit"`
	Full        bool             `json:"full"`
	Owners      []sockdiag.Owner `json:"owners"`
}

// DoctorTry is one connection attempt.
type DoctorTry struct {
	Address  string  `json:"address"`
	Millis   float64 `json:"ms"`
	Outcome  string  `json:"outcome"` // connected, refused, timeout, unreachable, reset, error
	Errno    string  `json:"errno,omitempty"`
	Words    string  `json:"words"`
	TLS      string  `json:"tls,omitempty"`
	TLSError string  `json:"tls_error,omitempty"`
}

func (r *DoctorReport) find(format string, args ...any) {
	r.Findings = append(r.Findings, fmt.Sprintf(format, args...))
}
func (r *DoctorReport) next(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	for _, n := range r.Next {
		if n == s {
			return
		}
	}
	r.Next = append(r.Next, s)
}

// failure is the error doctor exits with: nil when some address connected
// (or only a local port was asked about).
func (r *DoctorReport) failure() error {
	if !r.failed {
		return nil
	}
	err := fmt.Errorf("doctor: could not connect to %s", r.Target)
	if r.errno != 0 {
		err = fmt.Errorf("doctor: could not connect to %s: %w", r.Target, os.NewSyscallError("connect", r.errno))
	} else if len(r.Tries) > 0 && r.Tries[len(r.Tries)-1].Outcome == "timeout" {
		err = fmt.Errorf("doctor: could not connect to %s: %w", r.Target, os.ErrDeadlineExceeded)
	}
	return err
}

// parseDoctorTarget splits TARGET into host (empty for a bare port) and port.
func parseDoctorTarget(t string) (string, int, error) {
	if p, err := strconv.Atoi(t); err == nil {
		if p < 1 || p > 65535 {
			return "", 0, usagef("port %d out of range 1-65535", p)
		}
		return "", p, nil
	}
	host, ps, err := net.SplitHostPort(t)
	if err != nil {
		return "", 0, usagef("doctor wants PORT or HOST:PORT ([ADDR]:PORT for IPv6), got %q", t)
	}
	p, err := strconv.Atoi(ps)
	if err != nil || p < 1 || p > 65535 {
		return "", 0, usagef("port %q out of range 1-65535", ps)
	}
	if host == "" {
		return "", 0, usagef("doctor wants PORT or HOST:PORT, got %q", t)
	}
	return host, p, nil
}

func runDoctor(ctx context.Context, target string, o doctorOpts) (*DoctorReport, error) {
	host, port, err := parseDoctorTarget(target)
	if err != nil {
		return nil, err
	}
	r := &DoctorReport{Target: target, Host: host, Port: port, Findings: []string{}, Next: []string{}}
	var addrs []netip.Addr
	if host != "" {
		rctx, cancel := context.WithTimeout(ctx, o.timeout+2*time.Second)
		ips, err := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
		cancel()
		if err != nil {
			r.ResolveError = err.Error()
			r.find("%s does not resolve: %v", host, err)
			r.next("sock resolve %s", host)
			r.next("sock explain EAI_NONAME")
			r.failed = true
			return r, nil
		}
		for _, ip := range ips {
			addrs = append(addrs, ip.Unmap())
		}
	}
	local := host == ""
	for _, a := range addrs {
		if isLocalAddr(a) {
			local = true
		}
	}
	if local {
		if err := doctorLocal(r, port); err != nil {
			return nil, err
		}
	}
	if host == "" {
		return r, nil
	}
	connected := false
	for _, a := range addrs {
		t := doctorTry(ctx, r, netip.AddrPortFrom(a, uint16(port)), host, o)
		r.Tries = append(r.Tries, t)
		if t.Outcome == "connected" {
			connected = true
		}
	}
	if !connected {
		r.failed = true
	}
	return r, nil
}

// isLocalAddr reports whether a is loopback or an address of this machine
// (in the calling thread's network namespace).
func isLocalAddr(a netip.Addr) bool {
	if a.IsLoopback() || a.IsUnspecified() {
		return true
	}
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ia := range ifaddrs {
		if p, err := netip.ParsePrefix(ia.String()); err == nil && p.Addr().Unmap() == a {
			return true
		}
	}
	return false
}

func doctorLocal(r *DoctorReport, port int) error {
	socks, err := sockdiag.Dump(sockdiag.Request{TCP: true, UDP: true}, true)
	if err != nil {
		return err
	}
	l := &DoctorLocal{States: map[string]int{}, ClientStates: map[string]int{}}
	r.Local = l
	for _, s := range socks {
		switch {
		case s.Netid == sockdiag.TCP && int(s.Local.Port()) == port:
			l.States[s.State.String()]++
			if s.State == sockdiag.LISTEN {
				l.Listeners = append(l.Listeners, DoctorListener{Address: s.LocalString(), AcceptQueue: s.RecvQ, Limit: s.SendQ,
					Full: s.RecvQ > s.SendQ, Owners: s.Owners})
			}
		case s.Netid == sockdiag.TCP && int(s.Peer.Port()) == port:
			l.ClientStates[s.State.String()]++
		case s.Netid == sockdiag.UDP && int(s.Local.Port()) == port:
			l.UDP = append(l.UDP, DoctorListener{Address: s.LocalString(), Owners: s.Owners})
		}
	}
	if ns, err := sockdiag.Netstat(); err == nil {
		l.ListenOverflows, l.ListenDrops = ns["ListenOverflows"], ns["ListenDrops"]
	}

	// Findings.
	if len(l.Listeners) == 0 {
		r.find("nothing listens on TCP port %d: a connection to it is refused", port)
		if n := l.States["TIME_WAIT"]; n > 0 {
			r.find("%s on port %d are in TIME_WAIT (a server here closed them first): a new server binding port %d needs SO_REUSEADDR",
				countOf(n, "connection", "connections"), port, port)
			r.next("sock explain EADDRINUSE")
		}
		r.next("sock ss --state listen    (what does listen, and on which port?)")
	}
	for _, ln := range l.Listeners {
		who := "a process this user cannot see (run as root to name it)"
		if len(ln.Owners) > 0 {
			who = ownersText(ln.Owners)
		}
		r.find("TCP port %d is held by %s, listening on %s", port, who, ln.Address)
		switch {
		case ln.Full:
			r.find("its accept queue is FULL: %d connections wait for accept(), the limit is %d (listen backlog %d, the kernel allows one more): "+
				"the program is not calling accept() fast enough; new clients' SYNs are dropped, so they wait and time out", ln.AcceptQueue, ln.Limit, ln.Limit)
			if len(ln.Owners) > 0 {
				r.next("sock ss --pid %d    (what is that process doing with its connections?)", ln.Owners[0].PID)
			}
			r.next("sock demo backlog    (what a full accept queue does)")
		case ln.AcceptQueue > 0:
			r.find("its accept queue holds %d of at most %d: connections are waiting for accept()", ln.AcceptQueue, ln.Limit+1)
		default:
			r.find("its accept queue is empty (limit %d): the program accepts as fast as clients come", ln.Limit)
		}
	}
	for _, u := range l.UDP {
		who := "a process this user cannot see"
		if len(u.Owners) > 0 {
			who = ownersText(u.Owners)
		}
		r.find("UDP port %d is bound by %s on %s", port, who, u.Address)
	}
	r.find("TCP sockets on port %d by state: %s", port, stateCounts(l.States))
	if len(l.ClientStates) > 0 {
		r.find("connections from this machine to port %d by state: %s", port, stateCounts(l.ClientStates))
	}
	if n := l.States["CLOSE_WAIT"]; n > 0 {
		r.find("%s in CLOSE_WAIT: the peer closed, and the program here has not closed its side (a missing close()?)",
			countOf(n, "connection is", "connections are"))
		r.next("sock demo halfclose")
	}
	r.find("listen overflows since boot (TcpExtListenOverflows): %d; SYNs dropped by listeners (ListenDrops): %d",
		l.ListenOverflows, l.ListenDrops)
	r.next("sock ss --port %d", port)
	return nil
}

func ownersText(os []sockdiag.Owner) string {
	var parts []string
	seen := map[int]bool{}
	for _, o := range os {
		if !seen[o.PID] {
			seen[o.PID] = true
			parts = append(parts, fmt.Sprintf("%s (pid %d)", o.Name, o.PID))
		}
	}
	return strings.Join(parts, ", ")
}

func stateCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	order := []string{"LISTEN", "ESTABLISHED", "TIME_WAIT", "CLOSE_WAIT", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "LAST_ACK", "CLOSING", "CLOSE"}
	var parts []string
	done := map[string]bool{}
	for _, k := range order {
		if n, ok := m[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
			done[k] = true
		}
	}
	var rest []string
	for k := range m {
		if !done[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// doctorTry connects to one address and says what happened.
func doctorTry(ctx context.Context, r *DoctorReport, ap netip.AddrPort, host string, o doctorOpts) DoctorTry {
	t := DoctorTry{Address: ap.String()}
	fam := socket.AF_INET
	if ap.Addr().Is6() {
		fam = socket.AF_INET6
	}
	s, err := socket.New(fam, socket.SOCK_STREAM, 0)
	if err != nil {
		t.Outcome, t.Words = "error", shortErr(err)
		return t
	}
	defer s.Close()
	s.SetTimeout(o.timeout)
	start := time.Now()
	cctx, cancel := context.WithCancel(ctx)
	err = s.ConnectContext(cctx, socket.InetAddr(ap))
	cancel()
	t.Millis = float64(time.Since(start).Microseconds()) / 1000
	en := errnoOf(err)
	if en != 0 {
		t.Errno = errnoText(en)
		r.errno = en
	}
	addr := ap.Addr().String()
	switch {
	case err == nil:
		t.Outcome = "connected"
		t.Words = fmt.Sprintf("connected in %.1f ms: something listens on %s", t.Millis, t.Address)
		if o.tls {
			doctorTLS(&t, r, s, host, o)
		}
	case en == syscall.ECONNREFUSED:
		t.Outcome = "refused"
		t.Words = fmt.Sprintf("refused after %.1f ms: the host answered, but nothing listens on port %d there (or a firewall rejects)", t.Millis, ap.Port())
		r.next("on %s: sock ss --state listen    (is the server running, and on which address and port?)", addr)
		r.next("sock explain ECONNREFUSED")
	case errors.Is(err, os.ErrDeadlineExceeded) || en == syscall.ETIMEDOUT:
		t.Outcome = "timeout"
		t.Words = fmt.Sprintf("timed out after %.1f s: no answer to the SYN: a firewall drops it, the host is down, or its listener's accept queue is full", t.Millis/1000)
		if r.Local != nil {
			for _, ln := range r.Local.Listeners {
				if ln.Full {
					t.Words += fmt.Sprintf(" (here it is: the accept queue of %s is full)", ln.Address)
				}
			}
		}
		if !isLocalAddr(ap.Addr()) {
			r.next("ip route get %s; sock ping %s    (is there a route, does the host answer?)", addr, addr)
		}
		r.next("sock explain timeout")
	case en == syscall.ENETUNREACH:
		t.Outcome = "unreachable"
		t.Words = "unreachable: this machine has no route to " + addr + "'s network, so no packet was sent"
		r.next("ip route get %s    (and ip route: is there a default route?)", addr)
		r.next("sock explain ENETUNREACH")
	case en == syscall.EHOSTUNREACH || en == syscall.EHOSTDOWN:
		t.Outcome = "unreachable"
		t.Words = "unreachable: no answer from " + addr + " on its network (ARP/NDP failed) or a router said host unreachable"
		r.next("ip neigh show %s; ip route get %s", addr, addr)
		r.next("sock explain EHOSTUNREACH")
	case en == syscall.ECONNRESET:
		t.Outcome = "reset"
		t.Words = "reset during the handshake: something answered with RST"
		r.next("sock explain ECONNRESET")
	case errors.Is(err, context.Canceled):
		t.Outcome, t.Words = "error", "interrupted"
	default:
		t.Outcome = "error"
		t.Words = shortErr(err)
		if en != 0 {
			r.next("sock explain %s", nameOf(en))
		}
	}
	return t
}

func nameOf(en syscall.Errno) string {
	if x, ok := explanationOf(en); ok {
		return x.name()
	}
	return strconv.Itoa(int(en))
}

// doctorTLS runs a TLS handshake on a connected socket.
func doctorTLS(t *DoctorTry, r *DoctorReport, s *socket.Socket, host string, o doctorOpts) {
	name := o.serverName
	if name == "" {
		name = host
	}
	nc, err := s.NetConn()
	if err != nil {
		t.TLSError = err.Error()
		return
	}
	s.SetDeadline(time.Now().Add(o.timeout))
	var peer []*x509.Certificate
	cfg := &tls.Config{ServerName: name, InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error { peer = cs.PeerCertificates; return nil }}
	tc := tls.Client(nc, cfg)
	if err := tc.Handshake(); err != nil {
		t.TLSError = "handshake failed: " + err.Error()
		r.next("openssl s_client -connect %s -servername %s", t.Address, name)
		return
	}
	cs := tc.ConnectionState()
	desc := fmt.Sprintf("%s, %s", tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite))
	if len(peer) > 0 {
		leaf := peer[0]
		desc += fmt.Sprintf("; certificate for %q issued by %q, valid until %s", leaf.Subject.CommonName, leaf.Issuer.CommonName, leaf.NotAfter.Format("2006-01-02"))
		inter := x509.NewCertPool()
		for _, c := range peer[1:] {
			inter.AddCert(c)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Intermediates: inter}); err != nil {
			t.TLSError = "the certificate does not verify for " + name + ": " + err.Error()
			r.next("openssl s_client -connect %s -servername %s -showcerts", t.Address, name)
		} else {
			desc += "; verified for " + name
		}
	}
	t.TLS = desc
}

func printDoctor(w io.Writer, r *DoctorReport) {
	fmt.Fprintf(w, "sock doctor %s\n", r.Target)
	if len(r.Tries) > 0 {
		fmt.Fprintf(w, "\nConnecting to %s, every address it resolves to:\n", r.Target)
		for _, t := range r.Tries {
			fmt.Fprintf(w, "  %-28s %s\n", t.Address, t.Words)
			if t.Errno != "" {
				fmt.Fprintf(w, "  %-28s errno %s\n", "", t.Errno)
			}
			if t.TLS != "" {
				fmt.Fprintf(w, "  %-28s TLS: %s\n", "", t.TLS)
			}
			if t.TLSError != "" {
				fmt.Fprintf(w, "  %-28s TLS: %s\n", "", t.TLSError)
			}
		}
	}
	if len(r.Findings) > 0 {
		fmt.Fprintf(w, "\nFindings:\n")
		for _, f := range r.Findings {
			fmt.Fprintf(w, "  - %s\n", f)
		}
	}
	if len(r.Next) > 0 {
		fmt.Fprintf(w, "\nNext:\n")
		for _, n := range r.Next {
			fmt.Fprintf(w, "  $ %s\n", n)
		}
	}
}
