package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	ss "github.com/socketkit/socketkit/socketserver"
)

type serveOpts struct {
	addr, proto, dispatcher string
	engine                  string
	loops                   int
	reusePort               bool
	workers, maxConns       int
	idle                    durationFlag
	tls                     bool
	tlsCert, tlsKey         string
}

var protoNetworks = map[string]string{
	"tcp": "tcp", "tcp4": "tcp4", "tcp6": "tcp6", "udp": "udp", "udp4": "udp4", "udp6": "udp6",
	"unix": "unix", "unixgram": "unixgram", "seqpacket": "unixpacket",
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
the epoll event-loop engine instead (tcp, udp and unix): --loops event
loops, each on its own thread.`,
		Example: `  sock serve echo                                   # tcp on 127.0.0.1:6254
  sock serve daytime --proto udp --addr 127.0.0.1:1313
  sock serve chat --addr :6254 --dispatcher goroutines
  sock serve echo --proto unix --addr /tmp/echo.sock
  sock serve echo --proto seqpacket --addr @echo
  sock serve echo --dispatcher prefork --workers 4
  sock serve echo --tls                             # self-signed certificate
  sock serve echo --engine loop --loops 2           # the epoll event-loop engine`,
		Args:      rangeArgs(1, 1),
		ValidArgs: names,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("proto") && looksLikePath(o.addr) {
				o.proto = "unix" // --addr /path or @name: a Unix stream socket
			}
			switch o.engine {
			case "loop":
				if _, ok := protoNetworks[o.proto]; !ok {
					return usagef("unknown --proto %q", o.proto)
				}
				if cmd.Flags().Changed("dispatcher") {
					return usagef("--dispatcher is for --engine goroutines")
				}
				return serveLoop(e, args[0], &o)
			case "goroutines":
				if cmd.Flags().Changed("loops") || cmd.Flags().Changed("reuseport") {
					return usagef("--loops and --reuseport are for --engine loop")
				}
				return runServe(e, args[0], &o)
			}
			return usagef("unknown --engine %q (want goroutines or loop)", o.engine)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "", `address: host:port (default 127.0.0.1:6254), or a path or @name for the unix protocols (default @sock-SERVICE)`)
	f.StringVar(&o.proto, "proto", "tcp", "transport: tcp, udp, unix, unixgram, seqpacket (or tcp4, tcp6, udp4, udp6)")
	f.StringVar(&o.dispatcher, "dispatcher", "goroutines", "concurrency: synchronous, goroutines, pool or prefork")
	f.StringVar(&o.engine, "engine", "goroutines", "goroutines (socketserver with --dispatcher) or loop (the epoll event-loop engine)")
	f.IntVar(&o.loops, "loops", 0, "with --engine loop: event loops (default GOMAXPROCS)")
	f.BoolVar(&o.reusePort, "reuseport", false, "with --engine loop: one SO_REUSEPORT listener per loop instead of one shared")
	f.IntVar(&o.workers, "workers", 0, "goroutines for pool, processes for prefork (default GOMAXPROCS); cap for goroutines (0: none)")
	f.IntVar(&o.maxConns, "max-conns", 0, "close connections beyond this many at once (0: no cap)")
	f.Var(&o.idle, "idle-timeout", "close a connection silent for this long (5, 500ms, 2m; 0: never)")
	f.BoolVar(&o.tls, "tls", false, "serve over TLS (stream protocols); without --tls-cert, a self-signed certificate")
	f.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate file (PEM)")
	f.StringVar(&o.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	return cmd
}

func runServe(e *env, name string, o *serveOpts) error {
	svc, ok := findService(name)
	if !ok {
		return usagef("unknown service %q (want %s)", name, strings.Join(serviceNames(), ", "))
	}
	network, ok := protoNetworks[o.proto]
	if !ok {
		return usagef("unknown --proto %q (want tcp, udp, unix, unixgram or seqpacket)", o.proto)
	}
	unixProto := strings.HasPrefix(network, "unix")
	addr := o.addr
	if addr == "" {
		addr = "127.0.0.1:6254"
		if unixProto {
			addr = "@sock-" + name
		}
	}
	disp, err := makeDispatcher(o.dispatcher, o.workers)
	if err != nil {
		return err
	}
	srv := &ss.Server{
		Network: network, Addr: addr, Handler: svc.handler(), Dispatcher: disp,
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
	if err := srv.Bind(); err != nil {
		return addrUsage(err)
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
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(e.ctx) }()
	select {
	case err := <-served:
		if errors.Is(err, ss.ErrServerClosed) {
			return nil
		}
		return err
	case <-sigs:
	case <-e.ctx.Done():
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
		st := srv.Stats()
		fmt.Fprintf(e.stderr, "sock: served %d requests (%d rejected, %d errors), %d bytes in, %d out\n",
			st.Accepted, st.Rejected, st.Errors, st.BytesIn, st.BytesOut)
	}
	return nil
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

func makeDispatcher(name string, workers int) (ss.Dispatcher, error) {
	if workers < 0 {
		return nil, usagef("--workers must not be negative")
	}
	switch name {
	case "synchronous", "sync":
		return ss.Synchronous{}, nil
	case "goroutines", "threading":
		return &ss.Goroutines{MaxConcurrent: workers}, nil
	case "pool":
		if workers == 0 {
			workers = 4 * runtime.GOMAXPROCS(0)
		}
		return ss.WorkerPool(workers), nil
	case "prefork", "forking":
		return &ss.Prefork{Children: workers}, nil
	}
	return nil, usagef("unknown --dispatcher %q (want synchronous, goroutines, pool or prefork)", name)
}

// addrUsage marks address errors (as opposed to a busy port) as usage
// errors.
func addrUsage(err error) error {
	if strings.Contains(err.Error(), "address \"") || strings.Contains(err.Error(), "want host:port") {
		return usageError{err}
	}
	return err
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
