package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cloudflare/tableflip"

	"github.com/socketkit/socketkit/socket"
)

// Where sock serve's sockets come from, on every serving model: the sock
// this one replaces (--graceful-restart), systemd (socket activation), or
// a socket of its own on --addr. And how a set of servers runs until a
// signal, and hands over on SIGHUP.

// handedDown is the tableflip name of the i-th socket one sock hands the
// next; an --addr bound by upg.Listen goes by its network and address.
func handedDown(i int) string { return "sock-serve-" + strconv.Itoa(i) }

// acquire returns the sockets sock serve serves instead of binding addr:
// those handed down by the sock this one replaces, or those systemd
// passed (selected by --addr when it names one). With upg (and no
// systemd socket) it binds addr through the upgrader, which hands it to
// the next sock. nil, nil: bind addr as usual.
func (o *serveOpts) acquire(e *env, upg *tableflip.Upgrader, network, addr string) ([]inherited, error) {
	if upg != nil && upg.HasParent() {
		var out []inherited
		for i := 0; ; i++ {
			f, err := upg.Fds.File(handedDown(i))
			if err != nil {
				closeInherited(out)
				return nil, err
			}
			if f == nil {
				break
			}
			s, err := socket.FromConn(f)
			f.Close()
			if err != nil {
				closeInherited(out)
				return nil, err
			}
			out = append(out, inherited{sock: s, fd: -1})
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	socks, err := activated()
	if err != nil {
		return nil, err
	}
	if socks != nil {
		if o.addrGiven {
			socks = selectInherited(e, socks, o.addr, "serving the")
		}
		if err := o.checkInherited(socks, network); err != nil {
			closeInherited(socks)
			return nil, err
		}
		if upg != nil {
			for i, s := range socks {
				f, err := s.sock.File()
				if err == nil {
					err = upg.Fds.AddFile(handedDown(i), f)
					f.Close()
				}
				if err != nil {
					closeInherited(socks)
					return nil, err
				}
			}
		}
		return socks, nil
	}
	if upg == nil {
		return nil, nil
	}
	s, err := inherit(upg, network, addr)
	if err != nil {
		return nil, listenErr(err)
	}
	return []inherited{{sock: s, fd: -1}}, nil
}

// checkInherited refuses sockets sock serve cannot serve as asked: a
// connected one (systemd's Accept=yes, which is --inetd's), one of
// another protocol than an explicit --proto, and several for prefork.
func (o *serveOpts) checkInherited(socks []inherited, network string) error {
	for _, s := range socks {
		if !isListening(s.sock) {
			return fmt.Errorf("socket activation: %s is a connected %s socket (Accept=yes passes one connection per sock): run sock serve --inetd for that, or set Accept=no to pass the listening socket", s.label(), socketProto(s.sock))
		}
		if o.protoGiven && !protoMatches(network, s.sock) {
			return fmt.Errorf("socket activation: %s is a %s socket (%s), and --proto is %s: drop --proto, or pass a %s socket", s.label(), socketProto(s.sock), sockAddrText(s.sock), o.proto, o.proto)
		}
	}
	if len(socks) > 1 && o.dispatcher == "prefork" {
		return fmt.Errorf("socket activation: systemd passed %d sockets (%v) and --dispatcher prefork serves one: select it with --addr NAME", len(socks), inheritedNames(socks))
	}
	return nil
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

// newUpgrader is --graceful-restart's upgrader, or nil without it (and
// in a prefork worker, whose parent does the upgrading).
func (o *serveOpts) newUpgrader(child bool, network string) (*tableflip.Upgrader, error) {
	if !o.gracefulRestart || child {
		return nil, nil
	}
	switch network {
	case "tcp", "tcp4", "tcp6", "unix":
	default:
		if !activationPresent() {
			// Checked first: a process may make one tableflip.Upgrader.
			return nil, usagef("--graceful-restart hands over tcp and unix sockets (and any socket systemd passes), not %s", o.proto)
		}
	}
	return tableflip.New(tableflip.Options{PIDFile: o.pidFile})
}

// runner is one server of sock serve: socketserver's or the engine's, on
// one socket.
type runner struct {
	serve func() error // until stopped; nil or a "closed" error when stopped
	// shutdown stops accepting and waits for what is in flight, until ctx
	// ends (then it forces).
	shutdown func(ctx context.Context) error
	// drain, if set, is shutdown for a handover: it also waits for the
	// connections to end by themselves before closing them (the engine's
	// Shutdown sends pending output and closes at once).
	drain func(ctx context.Context) error
	// closed reports whether err from serve means it was stopped.
	closed func(err error) bool
}

// runAll serves every runner until SIGINT or SIGTERM (or e.ctx), or with
// upg until the next sock serves after a SIGHUP; then it stops them
// gracefully (a second signal forces). A worker (quiet) says nothing. With
// pidFile (--pid-file), the last sock to serve removes the file as it
// exits.
func runAll(e *env, rs []runner, upg *tableflip.Upgrader, pidFile string, quiet bool, stopping string) error {
	sigs := make(chan os.Signal, 2)
	if quiet {
		signal.Notify(sigs, syscall.SIGTERM)
	} else {
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	}
	defer signal.Stop(sigs)
	served := make(chan error, len(rs))
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := r.serve()
			if err != nil && r.closed(err) {
				err = nil
			}
			served <- err
		}()
	}
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
			stopAll(rs, true, context.Background())
			wg.Wait()
			return err
		}
		if upg.HasParent() {
			// The pid to signal from now on (kill -HUP, kill): $! and the
			// like still name the first one, which exits once it has
			// finished its requests.
			fmt.Fprintf(e.stderr, "sock: pid %d serves now, taking over from pid %d\n", os.Getpid(), os.Getppid())
		}
		if pidFile != "" {
			// The last sock to serve removes the file when it exits for
			// good (not when it hands over: its successor has written
			// its own pid there).
			defer func() {
				if b, err := os.ReadFile(pidFile); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
					os.Remove(pidFile)
				}
			}()
		}
	}
	var firstErr error
	handover := false
	select {
	case firstErr = <-served:
		if firstErr == nil && len(rs) == 1 {
			return nil
		}
	case <-sigs:
	case <-e.ctx.Done():
	case <-upgraded:
		handover = true
		fmt.Fprintf(e.stderr, "sock: the new sock is serving; pid %d finishes its requests\n", os.Getpid())
	}
	if !quiet {
		fmt.Fprintln(e.stderr, "sock: "+stopping)
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
	if err := stopAll(rs, handover, ctx); err != nil && !quiet {
		fmt.Fprintln(e.stderr, "sock: forced: closed the requests still open")
	}
	wg.Wait()
	close(served)
	for err := range served {
		if firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// stopAll stops the runners at once, each gracefully within ctx: with
// handover, by draining.
func stopAll(rs []runner, handover bool, ctx context.Context) error {
	errs := make([]error, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if handover && r.drain != nil {
				errs[i] = r.drain(ctx)
			} else {
				errs[i] = r.shutdown(ctx)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitIdle waits until active reports no connection, polling, or until
// ctx ends.
func waitIdle(ctx context.Context, active func() int64) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for active() > 0 {
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
