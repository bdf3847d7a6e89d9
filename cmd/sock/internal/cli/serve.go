package cli

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/socketkit/socketkit/proxyproto"
	"github.com/socketkit/socketkit/socket"
	ss "github.com/socketkit/socketkit/socketserver"
)

type serveOpts struct {
	addr, proto, dispatcher string
	engine                  string
	verbose                 bool
	loops                   int
	reusePort               bool
	workers, maxConns       int
	idle                    durationFlag
	tls                     bool
	tlsCert, tlsKey         string
	gracefulRestart         bool
	pidFile                 string
	proxyFrom               []string
	inetd                   bool
	metricsAddr             string
	addrGiven, protoGiven   bool // --addr and --proto were given
}

// protoNetwork is the Go network name (socket.ParseNetwork's) of a
// --proto.
func protoNetwork(proto string) (string, error) {
	network := proto
	switch proto {
	case "seqpacket":
		network = "unixpacket"
	case "unixpacket":
		network = "" // we call it seqpacket
	}
	if _, _, err := socket.ParseNetwork(network); err != nil {
		return "", usagef("unknown --proto %q (want tcp, udp, unix, unixgram or seqpacket; or tcp4, tcp6, udp4, udp6)", proto)
	}
	return network, nil
}

func newServe(e *env) *cobra.Command {
	var o serveOpts
	names := make([]string, len(services))
	for i, s := range services {
		names[i] = s.name
	}
	cmd := &cobra.Command{
		Use:   "serve SERVICE",
		Short: "Serve echo, discard, chargen, daytime, time or chat",
		Long: `serve runs one of the classic services on the socketserver package until
SIGINT or SIGTERM, which shut it down gracefully (a second signal forces).

Services:
` + serviceList() + `
--proto picks the transport: tcp, udp, unix, unixgram or seqpacket (tcp4,
tcp6, udp4 and udp6 too). --dispatcher picks the concurrency: synchronous
(one request at a time, like Python's TCPServer), goroutines (one per
request, like ThreadingMixIn; the default), pool (--workers goroutines) or
prefork (--workers processes forked at the start, each serving one
connection at a time, so at most --workers clients are served at once and
the others wait in the listen queue; Python's ForkingMixIn forks a process
for each request instead). --engine loop serves with
the event-loop engine instead (tcp, udp and unix): --loops event loops, each
on its own thread, on epoll; --engine uring runs the loops on io_uring
(Linux 6.1 or later), and --engine auto on io_uring where it works and on
epoll elsewhere (-v says which, and why). On the engine --tls is the
engine's own TLS: handshakes and records on the loops, no goroutine per
connection (a failed handshake is said on stderr); --proxy-protocol is not
available yet: it runs on --engine goroutines.

Under systemd socket activation (LISTEN_FDS, as a .socket unit or
systemd-socket-activate passes them) sock serve serves the sockets it is
given, stream and datagram, one or several, instead of binding --addr;
--addr then selects one of them by name (FileDescriptorName=) or address.
With Accept=yes systemd passes one connection instead: sock serve --inetd
serves it (also a socket on standard input, as inetd passes it) and exits.

--graceful-restart: SIGHUP starts a new sock on the same sockets; once it
serves, this one stops accepting, finishes its requests and exits, on
every --engine and --dispatcher. Connections arriving meanwhile wait in
the listen queue, which the sockets keep: none is refused.`,
		Example: `  sock serve echo                                   # tcp on 127.0.0.1:6254
  sock serve daytime --proto udp --addr 127.0.0.1:1313
  sock serve chat --addr :6254 --dispatcher goroutines
  sock serve echo --proto unix --addr /tmp/echo.sock
  sock serve echo --proto seqpacket --addr @echo
  sock serve echo --dispatcher prefork --workers 4
  sock serve echo --tls                             # self-signed certificate
  sock serve echo --engine loop --loops 2           # the epoll event-loop engine
  sock serve echo --engine auto -v                  # io_uring if it works here; says why not
  sock serve echo --engine loop --tls --tls-cert c.pem --tls-key k.pem
  sock serve echo --graceful-restart &              # kill -HUP $! upgrades in place
  systemd-socket-activate -l 6254 sock serve echo   # serve the socket systemd passes
  systemd-socket-activate -a -l 6254 sock serve echo --inetd   # a sock per connection
  sock serve chat --proxy-protocol 10.0.0.0/8       # behind HAProxy send-proxy(-v2)`,
		Args:      rangeArgs(1, 1),
		ValidArgs: names,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.addrGiven, o.protoGiven = cmd.Flags().Changed("addr"), cmd.Flags().Changed("proto")
			if !o.protoGiven && looksLikePath(o.addr) {
				o.proto = "unix" // --addr /path or @name: a Unix stream socket
			}
			if o.pidFile != "" && !o.gracefulRestart {
				return usagef("--pid-file goes with --graceful-restart")
			}
			if o.inetd {
				if o.gracefulRestart || cmd.Flags().Changed("dispatcher") || cmd.Flags().Changed("engine") {
					return usagef("--inetd serves the one connection it is given; no --graceful-restart, --dispatcher or --engine")
				}
				return serveInetd(e, args[0], &o)
			}
			switch o.engine {
			case "loop", "epoll", "uring", "io_uring", "auto":
				if cmd.Flags().Changed("dispatcher") {
					return usagef("--dispatcher is for --engine goroutines")
				}
				if len(o.proxyFrom) > 0 {
					return usagef("--proxy-protocol runs on --engine goroutines")
				}
				if o.gracefulRestart && o.reusePort {
					return usagef("--graceful-restart hands one listening socket to the next sock; drop --reuseport")
				}
				return serveLoop(e, args[0], &o)
			case "goroutines":
				if cmd.Flags().Changed("loops") || cmd.Flags().Changed("reuseport") {
					return usagef("--loops and --reuseport are for --engine loop, uring or auto")
				}
				return runServe(e, args[0], &o)
			}
			return usagef("unknown --engine %q (want goroutines, loop, uring or auto)", o.engine)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "", `address: host:port (default 127.0.0.1:6254), or a path or @name for the unix protocols (default @sock-SERVICE)`)
	f.StringVar(&o.proto, "proto", "tcp", "transport: tcp, udp, unix, unixgram, seqpacket (or tcp4, tcp6, udp4, udp6)")
	f.StringVar(&o.dispatcher, "dispatcher", "goroutines", "concurrency: synchronous, goroutines, pool or prefork")
	f.StringVar(&o.engine, "engine", "goroutines", "goroutines (socketserver with --dispatcher), or the event-loop engine (no --proxy-protocol) on epoll (loop), on io_uring (uring), or on io_uring where it works and epoll elsewhere (auto)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "with the event-loop engine: say which backend serves and, if it is not the one asked for, why")
	f.IntVar(&o.loops, "loops", 0, "with --engine loop: event loops (default GOMAXPROCS)")
	f.BoolVar(&o.reusePort, "reuseport", false, "with --engine loop: one SO_REUSEPORT listener per loop instead of one shared")
	f.IntVar(&o.workers, "workers", 0, "goroutines for pool, processes for prefork (each serves one connection at a time; default GOMAXPROCS); cap for goroutines (0: none)")
	f.IntVar(&o.maxConns, "max-conns", 0, "close connections beyond this many at once (0: no cap)")
	f.Var(&o.idle, "idle-timeout", "close a connection silent for this long (5, 500ms, 2m; 0: never)")
	f.BoolVar(&o.tls, "tls", false, "serve over TLS (stream protocols); without --tls-cert, a self-signed certificate")
	f.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate file (PEM)")
	f.StringVar(&o.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	f.StringVar(&o.pidFile, "pid-file", "", "with --graceful-restart: keep the serving process's pid in this file (the new one's after each upgrade)")
	f.StringSliceVar(&o.proxyFrom, "proxy-protocol", nil, "expect a PROXY protocol header (v1 or v2, as HAProxy send-proxy sends) from peers in these prefixes (10.0.0.0/8, 127.0.0.1, or any), and refuse other peers; the services then see the real client")
	f.BoolVar(&o.gracefulRestart, "graceful-restart", false, "on SIGHUP start a new sock that takes over the listening sockets, then finish the requests in flight and exit: a restart that refuses no connection (tcp and unix, or the sockets systemd passed; every --engine and --dispatcher)")
	f.StringVar(&o.metricsAddr, "metrics", "", "serve Prometheus metrics at http://ADDR/metrics (127.0.0.1:9464): requests, connections, payload bytes, errors, per loop on the engine, and the listeners' accept queues")
	f.BoolVar(&o.inetd, "inetd", false, "serve the one connection systemd passes with Accept=yes (descriptor 3), or standard input if it is a socket (inetd), then exit")
	return cmd
}

// parsePrefixes reads --proxy-protocol's list: prefixes, bare addresses
// (one host) and "any".
func parsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if s == "any" {
			out = append(out, netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0"))
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, usagef("--proxy-protocol %q: not a prefix (10.0.0.0/8), an address or any", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// runServe serves a service with socketserver (goroutines, pool,
// synchronous or prefork), on --addr, on the sockets systemd passed, or
// on those the sock it replaces handed down; with --graceful-restart,
// SIGHUP starts a new sock on the same sockets (cloudflare/tableflip),
// and once it serves this one stops accepting, finishes its requests and
// exits. Connections waiting in a listen queue belong to the socket, not
// to the process, so none is refused.
func runServe(e *env, name string, o *serveOpts) error {
	child := ss.IsPreforkChild()
	if child {
		// A worker stops when its parent says so (SIGTERM). A terminal's
		// Ctrl-C reaches every process of the foreground group: the
		// parent decides, and must not see its workers die of it.
		signal.Ignore(syscall.SIGINT)
	}
	svc, ok := findService(name)
	if !ok {
		return usagef("unknown service %q (want %s)", name, strings.Join(serviceNames(), ", "))
	}
	network, err := protoNetwork(o.proto)
	if err != nil {
		return err
	}
	addr := o.serveAddr(name, network)
	if _, _, err := makeDispatcher(o.dispatcher, o.workers); err != nil {
		return err
	}
	upg, err := o.newUpgrader(child, network)
	if err != nil {
		return err
	}
	if upg != nil {
		defer upg.Stop()
	}
	var socks []inherited
	if !child {
		if socks, err = o.acquire(e, upg, network, addr); err != nil {
			return err
		}
	}
	var fingerprint string
	var tlsCfg *tls.Config
	if o.tls || o.tlsCert != "" || o.tlsKey != "" {
		if tlsCfg, fingerprint, err = serverTLSConfig(o.tlsCert, o.tlsKey); err != nil {
			closeInherited(socks)
			return err
		}
	}
	// One server per socket: --addr's, or each inherited one.
	var srvs []*ss.Server
	closeAll := func() {
		for _, srv := range srvs {
			srv.Close()
		}
	}
	n := max(1, len(socks))
	for i := 0; i < n; i++ {
		srv, err := o.newServer(e, svc, network, addr, tlsCfg)
		if err == nil {
			if socks != nil {
				if err = srv.Adopt(socks[i].sock); err != nil {
					socks[i].sock.Close()
				}
			} else {
				err = listenErr(srv.Bind())
			}
		}
		if err == nil {
			srvs = append(srvs, srv)
			err = o.checkStream(srv.Socket())
		}
		if err == nil {
			err = srv.Activate()
		}
		if err != nil {
			closeInherited(socks[min(i+1, len(socks)):])
			closeAll()
			return err
		}
	}
	if !child {
		extra := ""
		if fingerprint != "" {
			extra = "; TLS certificate " + fingerprint
		}
		for i, srv := range srvs {
			from := ""
			if socks != nil && socks[i].fd >= 0 {
				from = ", from systemd " + socks[i].label()
			}
			fmt.Fprintf(e.stderr, "sock: serving %s on %v (%s, %s%s)%s; Ctrl-C stops\n", name, srv.Address(), servedProto(srv), o.dispatcher, from, extra)
		}
	}
	if o.metricsAddr != "" && !child {
		stop, err := startMetrics(e, o.metricsAddr, upg, serverCollectors(srvs))
		if err != nil {
			closeAll()
			return err
		}
		defer stop()
	}
	rs := make([]runner, len(srvs))
	for i, srv := range srvs {
		rs[i] = runner{
			serve:    func() error { return srv.Serve(e.ctx) },
			shutdown: srv.Shutdown,
			closed:   func(err error) bool { return errors.Is(err, ss.ErrServerClosed) },
		}
	}
	err = runAll(e, rs, upg, o.pidFile, child, "shutting down; waiting for requests in flight (signal again to force)")
	if !child {
		var st ss.Stats
		for _, srv := range srvs {
			addStats(&st, srv.Stats())
		}
		fmt.Fprintln(e.stderr, "sock: "+summary(st))
	}
	return err
}

// checkStream refuses --tls and --proxy-protocol on a datagram socket.
func (o *serveOpts) checkStream(s *socket.Socket) error {
	if s.Type() != socket.SOCK_DGRAM {
		return nil
	}
	switch {
	case o.tls || o.tlsCert != "" || o.tlsKey != "":
		return usagef("--tls needs a stream protocol (tcp, unix or seqpacket), not %s", socketProto(s))
	case len(o.proxyFrom) > 0:
		return usagef("--proxy-protocol needs a stream protocol (tcp, unix or seqpacket), not %s", socketProto(s))
	}
	return nil
}

// addStats adds o to st.
func addStats(st *ss.Stats, o ss.Stats) {
	st.Accepted += o.Accepted
	st.Active += o.Active
	st.Rejected += o.Rejected
	st.Errors += o.Errors
	st.AcceptErrors += o.AcceptErrors
	st.Truncated += o.Truncated
	st.BytesIn += o.BytesIn
	st.BytesOut += o.BytesOut
}

// serveAddr is --addr, or the default of the protocol.
func (o *serveOpts) serveAddr(name, network string) string {
	if o.addr != "" {
		return o.addr
	}
	if strings.HasPrefix(network, "unix") {
		return "@sock-" + name
	}
	return "127.0.0.1:6254"
}

// servedProto is the protocol a server serves, as --proto names it.
func servedProto(srv *ss.Server) string {
	if s := srv.Socket(); s != nil {
		return socketProto(s)
	}
	return "?"
}

// newServer makes the socketserver.Server of sock serve (not yet bound).
func (o *serveOpts) newServer(e *env, svc service, network, addr string, tlsCfg *tls.Config) (*ss.Server, error) {
	disp, prefork, err := makeDispatcher(o.dispatcher, o.workers)
	if err != nil {
		return nil, err
	}
	srv := &ss.Server{
		Network: network, Addr: addr, Handler: svc.handler(), Dispatcher: disp, Prefork: prefork,
		AllowReuseAddress: true, MaxConnections: o.maxConns, IdleTimeout: o.idle.d,
		Logger: slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	srv.TLSConfig = tlsCfg
	if len(o.proxyFrom) > 0 {
		prefixes, err := parsePrefixes(o.proxyFrom)
		if err != nil {
			return nil, err
		}
		srv.ProxyProtocol = proxyproto.TrustOnly(prefixes...)
	}
	return srv, nil
}

// summary is the last line of sock serve: what the server served. A
// prefork parent serves nothing itself; its Stats are the sums of what
// its workers served.
func summary(st ss.Stats) string {
	return fmt.Sprintf("served %s (%d rejected, %d errors), %d bytes in, %d out",
		plural(int(st.Accepted), "request"), st.Rejected, st.Errors, st.BytesIn, st.BytesOut)
}

// looksLikePath reports whether addr names a Unix socket.
func looksLikePath(addr string) bool {
	return strings.HasPrefix(addr, "/") || strings.HasPrefix(addr, "./") || strings.HasPrefix(addr, "../") || strings.HasPrefix(addr, "@")
}

func serviceNames() []string {
	var n []string
	for _, s := range services {
		n = append(n, s.name)
	}
	return n
}

// makeDispatcher turns --dispatcher and --workers into where requests run:
// a Dispatcher, and for prefork the worker processes (each serving one
// request at a time, as Python's forked child does).
func makeDispatcher(name string, workers int) (ss.Dispatcher, *ss.Prefork, error) {
	if workers < 0 {
		return nil, nil, usagef("--workers must not be negative")
	}
	switch name {
	case "synchronous", "sync":
		return ss.Synchronous{}, nil, nil
	case "goroutines", "threading":
		return &ss.Goroutines{MaxConcurrent: workers}, nil, nil
	case "pool":
		if workers == 0 {
			workers = 4 * runtime.GOMAXPROCS(0)
		}
		return ss.WorkerPool(workers), nil, nil
	case "prefork", "forking":
		return ss.Synchronous{}, &ss.Prefork{Children: workers}, nil
	}
	return nil, nil, usagef("unknown --dispatcher %q (want synchronous, goroutines, pool or prefork)", name)
}

// durationFlag is a flag that takes a Go duration ("500ms", "2m") or bare
// seconds ("5", "0.5"), as nc and ncat do.
type durationFlag struct{ d time.Duration }

func (f *durationFlag) String() string {
	if f.d == 0 {
		return ""
	}
	return f.d.String()
}

func (f *durationFlag) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	f.d = d
	return nil
}

func (f *durationFlag) Type() string { return "duration" }

func parseDuration(s string) (time.Duration, error) {
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		if secs < 0 || secs > 1e9 || secs != secs {
			return 0, fmt.Errorf("time %q out of range", s)
		}
		return time.Duration(secs * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad time %q: want seconds (5, 0.5) or a duration (500ms, 2m)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative time %q", s)
	}
	return d, nil
}
