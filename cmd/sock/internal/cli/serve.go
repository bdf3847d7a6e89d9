package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cloudflare/tableflip"
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
prefork (--workers processes, like ForkingMixIn). --engine loop serves with
the event-loop engine instead (tcp, udp and unix): --loops event loops, each
on its own thread, on epoll; --engine uring runs the loops on io_uring
(Linux 6.1 or later), and --engine auto on io_uring where it works and on
epoll elsewhere (-v says which, and why). On the engine --tls is the
engine's own TLS: handshakes and records on the loops, no goroutine per
connection (a failed handshake is said on stderr); --graceful-restart
and --proxy-protocol are not available yet: they run on --engine goroutines.`,
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
  sock serve chat --proxy-protocol 10.0.0.0/8       # behind HAProxy send-proxy(-v2)`,
		Args:      rangeArgs(1, 1),
		ValidArgs: names,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("proto") && looksLikePath(o.addr) {
				o.proto = "unix" // --addr /path or @name: a Unix stream socket
			}
			switch o.engine {
			case "loop", "epoll", "uring", "io_uring", "auto":
				if cmd.Flags().Changed("dispatcher") {
					return usagef("--dispatcher is for --engine goroutines")
				}
				if o.gracefulRestart {
					return usagef("--graceful-restart runs on --engine goroutines (the default), not yet on the event-loop engine, which cannot hand its listeners to a new process; drop --engine loop to restart without refusing a connection")
				}
				if len(o.proxyFrom) > 0 {
					return usagef("--proxy-protocol runs on --engine goroutines")
				}
				return serveLoop(e, args[0], &o)
			case "goroutines":
				if cmd.Flags().Changed("loops") || cmd.Flags().Changed("reuseport") {
					return usagef("--loops and --reuseport are for --engine loop, uring or auto")
				}
				if o.gracefulRestart {
					return serveRestartable(e, args[0], &o)
				}
				if o.pidFile != "" {
					return usagef("--pid-file goes with --graceful-restart")
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
	f.StringVar(&o.engine, "engine", "goroutines", "goroutines (socketserver with --dispatcher), or the event-loop engine (no --graceful-restart or --proxy-protocol) on epoll (loop), on io_uring (uring), or on io_uring where it works and epoll elsewhere (auto)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "with the event-loop engine: say which backend serves and, if it is not the one asked for, why")
	f.IntVar(&o.loops, "loops", 0, "with --engine loop: event loops (default GOMAXPROCS)")
	f.BoolVar(&o.reusePort, "reuseport", false, "with --engine loop: one SO_REUSEPORT listener per loop instead of one shared")
	f.IntVar(&o.workers, "workers", 0, "goroutines for pool, processes for prefork (default GOMAXPROCS); cap for goroutines (0: none)")
	f.IntVar(&o.maxConns, "max-conns", 0, "close connections beyond this many at once (0: no cap)")
	f.Var(&o.idle, "idle-timeout", "close a connection silent for this long (5, 500ms, 2m; 0: never)")
	f.BoolVar(&o.tls, "tls", false, "serve over TLS (stream protocols); without --tls-cert, a self-signed certificate")
	f.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate file (PEM)")
	f.StringVar(&o.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	f.StringVar(&o.pidFile, "pid-file", "", "with --graceful-restart: keep the serving process's pid in this file (the new one's after each upgrade)")
	f.StringSliceVar(&o.proxyFrom, "proxy-protocol", nil, "expect a PROXY protocol header (v1 or v2, as HAProxy send-proxy sends) from peers in these prefixes (10.0.0.0/8, 127.0.0.1, or any), and refuse other peers; the services then see the real client")
	f.BoolVar(&o.gracefulRestart, "graceful-restart", false, "on SIGHUP start a new sock that takes over the listening socket, then finish the requests in flight and exit: a restart that refuses no connection (tcp and unix; --engine goroutines only)")
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

func runServe(e *env, name string, o *serveOpts) error { return runServeWith(e, name, o, nil) }

// serveRestartable is runServe with zero-downtime upgrades: SIGHUP starts
// a new copy of this program that inherits the listening socket (through
// cloudflare/tableflip); once it is serving, this one stops accepting,
// finishes its requests and exits. Connections waiting in the listen
// queue belong to the socket, not to the process, so none is refused.
func serveRestartable(e *env, name string, o *serveOpts) error {
	if o.dispatcher == "prefork" {
		return usagef("--graceful-restart and --dispatcher prefork do not mix")
	}
	switch network, _ := protoNetwork(o.proto); network {
	case "tcp", "tcp4", "tcp6", "unix":
	default:
		return usagef("--graceful-restart serves tcp and unix, not %s", o.proto)
	}
	upg, err := tableflip.New(tableflip.Options{PIDFile: o.pidFile})
	if err != nil {
		return err
	}
	defer upg.Stop()
	return runServeWith(e, name, o, upg)
}

// inherit takes the listening socket from the upgrader: the parent's, or
// a new one on the first start.
func inherit(upg *tableflip.Upgrader, network, addr string) (*socket.Socket, error) {
	ln, err := upg.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false) // the file outlives this process
	}
	defer ln.Close() // the socket lives on in the dup and in the upgrader
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("sock: listener %T has no descriptor", ln)
	}
	return socket.FromConn(sc)
}

func runServeWith(e *env, name string, o *serveOpts, upg *tableflip.Upgrader) error {
	if ss.IsPreforkChild() {
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
	unixProto := strings.HasPrefix(network, "unix")
	addr := o.addr
	if addr == "" {
		addr = "127.0.0.1:6254"
		if unixProto {
			addr = "@sock-" + name
		}
	}
	disp, prefork, err := makeDispatcher(o.dispatcher, o.workers)
	if err != nil {
		return err
	}
	srv := &ss.Server{
		Network: network, Addr: addr, Handler: svc.handler(), Dispatcher: disp, Prefork: prefork,
		AllowReuseAddress: true, MaxConnections: o.maxConns, IdleTimeout: o.idle.d,
		Logger: slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	stream := network != "udp" && network != "udp4" && network != "udp6" && network != "unixgram"
	fingerprint := ""
	if o.tls || o.tlsCert != "" || o.tlsKey != "" {
		if !stream {
			return usagef("--tls needs a stream protocol (tcp, unix or seqpacket), not %s", o.proto)
		}
		cfg, fp, err := serverTLSConfig(o.tlsCert, o.tlsKey)
		if err != nil {
			return err
		}
		srv.TLSConfig, fingerprint = cfg, fp
	}
	if len(o.proxyFrom) > 0 {
		if !stream {
			return usagef("--proxy-protocol needs a stream protocol (tcp, unix or seqpacket), not %s", o.proto)
		}
		prefixes, err := parsePrefixes(o.proxyFrom)
		if err != nil {
			return err
		}
		srv.ProxyProtocol = proxyproto.TrustOnly(prefixes...)
	}
	if upg != nil {
		sock, err := inherit(upg, network, addr)
		if err != nil {
			return listenErr(err)
		}
		if err := srv.Adopt(sock); err != nil {
			sock.Close()
			return err
		}
	} else if err := srv.Bind(); err != nil {
		return listenErr(err)
	}
	if err := srv.Activate(); err != nil {
		srv.Close()
		return err
	}
	child := ss.IsPreforkChild()
	if !child {
		extra := ""
		if fingerprint != "" {
			extra = "; TLS certificate " + fingerprint
		}
		fmt.Fprintf(e.stderr, "sock: serving %s on %v (%s, %s)%s; Ctrl-C stops\n", name, srv.Address(), o.proto, o.dispatcher, extra)
	}

	sigs := make(chan os.Signal, 2)
	if child {
		signal.Notify(sigs, syscall.SIGTERM)
	} else {
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	}
	defer signal.Stop(sigs)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(e.ctx) }()
	var upgraded <-chan struct{}
	if upg != nil {
		upgraded = upg.Exit()
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		stopHup := make(chan struct{})
		defer func() { signal.Stop(hup); close(stopHup) }()
		go func() {
			for {
				select {
				case <-hup:
				case <-stopHup:
					return
				}
				fmt.Fprintf(e.stderr, "sock: SIGHUP: starting a new sock (pid %d hands over)\n", os.Getpid())
				if err := upg.Upgrade(); err != nil {
					fmt.Fprintln(e.stderr, "sock: upgrade failed; still serving:", err)
				}
			}
		}()
		if err := upg.Ready(); err != nil {
			srv.Close()
			return err
		}
	}
	select {
	case err := <-served:
		if errors.Is(err, ss.ErrServerClosed) {
			return nil
		}
		return err
	case <-sigs:
	case <-e.ctx.Done():
	case <-upgraded:
		fmt.Fprintf(e.stderr, "sock: the new sock is serving; pid %d finishes its requests\n", os.Getpid())
	}
	if !child {
		fmt.Fprintln(e.stderr, "sock: shutting down; waiting for requests in flight (signal again to force)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := srv.Shutdown(ctx); err != nil && !child {
		fmt.Fprintln(e.stderr, "sock: forced: closed the requests still open")
	}
	if err := <-served; err != nil && !errors.Is(err, ss.ErrServerClosed) {
		return err
	}
	if !child {
		fmt.Fprintln(e.stderr, "sock: "+summary(srv.Stats()))
	}
	return nil
}

// summary is the last line of sock serve: what the server served (with
// prefork, the parent's Stats are its workers' sums).
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
