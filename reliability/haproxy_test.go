//go:build linux

package reliability_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/proxyproto"
	"github.com/socketkit/socketkit/socket"
	ss "github.com/socketkit/socketkit/socketserver"
)

// haproxyConfig puts two frontends before one backend server of ours:
// v2Port (IPv4 and IPv6) relays with send-proxy-v2 and a unique-id TLV,
// v1Port with the text header. Health checks every 100 ms send a header
// too (check-send-proxy: LOCAL in v2; in v1 the check connection's own
// addresses) and end with a RST, as HAProxy's checks do.
const haproxyConfig = `global
    maxconn 500
defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend v2
    bind 127.0.0.1:%[1]d
    bind [::1]:%[1]d
    unique-id-format %%{+X}o%%ci:%%cp_%%Ts
    default_backend be2
frontend v1
    bind 127.0.0.1:%[2]d
    default_backend be1
backend be2
    server ours %[3]s send-proxy-v2 proxy-v2-options unique-id check check-send-proxy inter 100ms
backend be1
    server ours %[3]s send-proxy check check-send-proxy inter 100ms
`

// freePort returns a TCP port free on 127.0.0.1 and ::1, outside the
// ephemeral range so that no other test's connection takes it before
// HAProxy binds it (sockettest.FreePort).
func freePort(t *testing.T) int { return sockettest.FreePort(t) }

// TestHAProxy: a real HAProxy relays clients to a socketserver with
// ProxyProtocol set. Over v2 (IPv4 and IPv6) and v1, the server sees each
// client's own address and port, the v2 unique-id TLV arrives, the data
// is intact, HAProxy's health checks are accepted and their RSTs
// tolerated, and nothing leaks.
func TestHAProxy(t *testing.T) {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		requireChaos(t, "haproxy is not installed (apt-get install -y haproxy)")
	}
	for _, k := range []struct {
		name  string
		start func(t *testing.T, h proxiedHandler, report func(error)) (addr string, rejected func() uint64)
	}{
		{"goroutines", proxiedServer},
		{"engine-blocking", proxiedEngine},
	} {
		t.Run(k.name, func(t *testing.T) { testHAProxy(t, bin, k.name, k.start) })
	}
}

// proxiedHandler serves a connection that began with the PROXY header h;
// client is the client it names (or the peer, for LOCAL), self the
// server's own address.
type proxiedHandler func(h *proxyproto.Header, client net.Addr, c net.Conn, self string) error

var trustLoopback = proxyproto.TrustOnly(netip.MustParsePrefix("127.0.0.0/8"))

// proxiedServer is socketserver with ProxyProtocol set: the server reads
// the header.
func proxiedServer(t *testing.T, h proxiedHandler, report func(error)) (string, func() uint64) {
	srv, err := ss.NewTCPServer("127.0.0.1:0", ss.HandlerFunc(func(ctx context.Context, r *ss.Request) error {
		if r.Proxy == nil {
			return errors.New("no header")
		}
		return h(r.Proxy, socket.NetAddr(r.ClientAddr, socket.SOCK_STREAM), r.Conn, r.Server.Address().String())
	}), ss.WithDispatcher(&ss.Goroutines{}), ss.WithProxyProtocol(trustLoopback))
	if err != nil {
		t.Fatal(err)
	}
	srv.Logger = slog.New(slog.DiscardHandler)
	srv.ErrorHandler = func(r *ss.Request, err error) { report(err) }
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeForever() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-errc
	})
	return srv.Address().String(), func() uint64 { return srv.Stats().Rejected }
}

// proxiedEngine is the engine with a Blocking handler that applies the
// same policy and reads the header itself with package proxyproto.
func proxiedEngine(t *testing.T, h proxiedHandler, report func(error)) (string, func() uint64) {
	var rejected atomic.Uint64
	// The server's address, known once it has started: stored by the test
	// goroutine, read by handlers on goroutines the engine starts.
	var self atomic.Pointer[string]
	srv := blockingKind.start(t, "tcp", "127.0.0.1:0", func(ctx context.Context, c net.Conn) error {
		peer := c.RemoteAddr()
		if peer == nil {
			return nil // reset before anyone looked (a health check): no one to serve
		}
		if trustLoopback(peer) != proxyproto.Require {
			rejected.Add(1)
			return nil
		}
		c.SetReadDeadline(time.Now().Add(proxyproto.DefaultHeaderTimeout))
		hdr, err := proxyproto.ReadHeader(c)
		c.SetReadDeadline(time.Time{})
		if err != nil {
			if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
				report(fmt.Errorf("PROXY header from %v: %w", peer, err))
			}
			return nil
		}
		client := hdr.Source
		if client == nil {
			client = peer
		}
		me := self.Load()
		if me == nil {
			return nil // before HAProxy started: not one of its connections
		}
		if err := h(hdr, client, proxiedConn{c, hdr}, *me); err != nil {
			report(err)
		}
		return nil
	}, limits{})
	addr := srv.Addr()
	self.Store(&addr)
	return addr, rejected.Load
}

// proxiedConn is a connection whose RemoteAddr is the client the PROXY
// header names.
type proxiedConn struct {
	net.Conn
	h *proxyproto.Header
}

func (c proxiedConn) RemoteAddr() net.Addr {
	if c.h.Source != nil {
		return c.h.Source
	}
	return c.Conn.RemoteAddr()
}

func testHAProxy(t *testing.T, bin, dname string, start func(*testing.T, proxiedHandler, func(error)) (string, func() uint64)) {
	sockettest.LeakCheck(t)

	var locals, v1checks, proxied atomic.Int64
	var mu sync.Mutex
	var unexpected []error
	report := func(err error) { mu.Lock(); unexpected = append(unexpected, err); mu.Unlock() }
	h := func(hdr *proxyproto.Header, client net.Addr, c net.Conn, self string) error {
		// Health checks: v2 sends LOCAL; v1 names the check's own
		// connection, whose destination is this server, not a frontend.
		if hdr.Command == proxyproto.Local || hdr.Destination.String() == self {
			if hdr.Version == 2 {
				locals.Add(1)
			} else {
				v1checks.Add(1)
			}
			_, err := io.Copy(io.Discard, c) // HAProxy closes with a RST
			if errors.Is(err, syscall.ECONNRESET) {
				err = nil
			}
			return err
		}
		proxied.Add(1)
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return err
		}
		id, _ := hdr.TLV(proxyproto.TypeUniqueID)
		_, err = fmt.Fprintf(c, "v%d %s %s id=%s %s", hdr.Version, client, c.RemoteAddr(), id, line)
		return err
	}
	addr, rejected := start(t, h, report)

	v2Port, v1Port := freePort(t), freePort(t)
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	os.WriteFile(cfg, []byte(fmt.Sprintf(haproxyConfig, v2Port, v1Port, addr)), 0o644)
	if out, err := exec.Command(bin, "-c", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-db", "-f", cfg)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("haproxy said:\n%s", log.String())
		}
	}()

	// ask sends a line through a frontend and returns the reply and the
	// client's own address (what HAProxy saw).
	ask := func(network, addr, line string) (string, string, error) {
		c, err := net.DialTimeout(network, addr, 2*time.Second)
		if err != nil {
			return "", "", err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, line); err != nil {
			return "", "", err
		}
		reply, err := bufio.NewReader(c).ReadString('\n')
		return reply, c.LocalAddr().String(), err
	}
	// HAProxy is ready when a request comes back.
	ready := time.Now().Add(10 * time.Second)
	for {
		_, _, err := ask("tcp4", fmt.Sprintf("127.0.0.1:%d", v2Port), "ready?\n")
		if err == nil {
			break
		}
		if time.Now().After(ready) {
			t.Fatalf("HAProxy relayed nothing within 10 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	const n = 20
	for _, fe := range []struct {
		name, network, addr string
		version             int
	}{
		{"v2_ipv4", "tcp4", fmt.Sprintf("127.0.0.1:%d", v2Port), 2},
		{"v2_ipv6", "tcp6", fmt.Sprintf("[::1]:%d", v2Port), 2},
		{"v1_ipv4", "tcp4", fmt.Sprintf("127.0.0.1:%d", v1Port), 1},
	} {
		ok := 0
		for i := range n {
			line := fmt.Sprintf("%s message %d\n", fe.name, i)
			reply, self, err := ask(fe.network, fe.addr, line)
			if err != nil {
				t.Errorf("%s: %v", fe.name, err)
				continue
			}
			f := strings.SplitN(reply, " ", 5)
			switch {
			case len(f) != 5:
				t.Errorf("%s: reply %q", fe.name, reply)
			case f[0] != fmt.Sprintf("v%d", fe.version):
				t.Errorf("%s: header version %s", fe.name, f[0])
			case f[1] != self || f[2] != self:
				t.Errorf("%s: the server saw client %s (RemoteAddr %s); the client is %s", fe.name, f[1], f[2], self)
			case fe.version == 2 && len(f[3]) <= len("id="):
				t.Errorf("%s: no unique-id TLV: %q", fe.name, reply)
			case f[4] != line:
				t.Errorf("%s: echoed %q, sent %q", fe.name, f[4], line)
			default:
				ok++
			}
		}
		figure(t, "haproxy_"+dname+"_"+fe.name+"_clients_seen_correctly", fmt.Sprintf("%d/%d", ok, n))
	}

	// Health checks run every 100 ms on both backends. HAProxy resets a
	// check as soon as it has connected and sent the header. The engine
	// accepts without keeping the peer's address (so that idle connections
	// stay small) and asks getpeername(2) when it is wanted, which fails
	// once the reset has come: there such a check is closed unserved, and
	// few or none reach the handler. They are reported, not required.
	checksServed := dname != "engine-blocking"
	wait := time.Second
	if checksServed {
		wait = 5 * time.Second
	}
	deadline := time.Now().Add(wait)
	for (locals.Load() < 4 || v1checks.Load() < 4) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	figure(t, "haproxy_"+dname+"_v2_local_health_checks_served", locals.Load())
	figure(t, "haproxy_"+dname+"_v1_health_checks_served", v1checks.Load())
	if checksServed && (locals.Load() < 4 || v1checks.Load() < 4) {
		t.Errorf("%d v2 LOCAL and %d v1 health checks served in 5 s, want at least 4 of each", locals.Load(), v1checks.Load())
	}
	if n := rejected(); n != 0 {
		t.Errorf("%d connections from 127.0.0.1 rejected by a policy that trusts 127.0.0.0/8", n)
	}
	mu.Lock()
	defer mu.Unlock()
	figure(t, "haproxy_"+dname+"_handler_errors", len(unexpected))
	for _, err := range unexpected {
		t.Errorf("handler error: %v", err)
	}
}
