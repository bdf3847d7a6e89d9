//go:build linux

package socketserver_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/proxyproto"
	ss "github.com/socketkit/socketkit/socketserver"
)

// whoHandler answers each connection with what the server believes about
// its client, then echoes what follows.
var whoHandler = ss.HandlerFunc(func(ctx context.Context, r *ss.Request) error {
	hdr := "none"
	if r.Proxy != nil {
		hdr = r.Proxy.Command.String()
		if id, ok := r.Proxy.TLV(proxyproto.TypeUniqueID); ok {
			hdr += " id=" + string(id)
		}
	}
	fmt.Fprintf(r.Conn, "client=%v remote=%v local=%v header=%s\n", r.ClientAddr, r.Conn.RemoteAddr(), r.Conn.LocalAddr(), hdr)
	_, err := io.Copy(r.Conn, r.Conn)
	return err
})

// TestProxyProtocol: behind a PROXY-speaking proxy, on the Goroutines
// dispatcher and on the engine, ClientAddr and RemoteAddr are the real
// client's; a health check's LOCAL keeps the peer's; no header, a bad one
// or a late one closes that connection only, reported to ErrorHandler;
// Skip and Reject do what they say; TLS comes after the header.
func TestProxyProtocol(t *testing.T) {
	for _, d := range lifecycleDispatchers {
		t.Run(d.name, func(t *testing.T) { testProxyProtocol(t, d) })
	}
}

func testProxyProtocol(t *testing.T, d dispatcherCase) {
	sockettest.LeakCheck(t)
	var policy atomic.Int32
	reported := make(chan error, 64)
	srv, err := ss.NewTCPServer("127.0.0.1:0", whoHandler, ss.WithDispatcher(d.make()))
	if err != nil {
		t.Fatal(err)
	}
	srv.ProxyProtocol = func(net.Addr) proxyproto.Policy { return proxyproto.Policy(policy.Load()) }
	srv.ProxyHeaderTimeout = time.Second
	srv.ErrorHandler = func(r *ss.Request, err error) {
		select {
		case reported <- err:
		default:
		}
	}
	serve(t, srv)

	// talk sends raw bytes and then, after wait, "ping\n", half-closes, and
	// returns all the server said, with the client's own address. With
	// wait < 0 it sends nothing more and reads until the server closes.
	talk := func(send []byte, wait time.Duration) (got, self string) {
		c, err := net.Dial("tcp", srv.Address().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write(send)
		if wait >= 0 {
			time.Sleep(wait) // the header arrives in two pieces
			c.Write([]byte("ping\n"))
			c.(*net.TCPConn).CloseWrite()
		}
		all, _ := io.ReadAll(c)
		return string(all), c.LocalAddr().String()
	}
	v2 := func(h proxyproto.Header) []byte {
		b, err := h.Format()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	client := &net.TCPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 51000}
	front := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 443}

	t.Run("v2 with a TLV", func(t *testing.T) {
		got, _ := talk(v2(proxyproto.Header{Version: 2, Command: proxyproto.Proxy, Transport: proxyproto.TCP4,
			Source: client, Destination: front, TLVs: []proxyproto.TLV{{Type: proxyproto.TypeUniqueID, Value: []byte("u1")}}}), 0)
		want := "client=203.0.113.7:51000 remote=203.0.113.7:51000 local=192.0.2.1:443 header=PROXY id=u1\nping\n"
		if got != want {
			t.Errorf("got %q\nwant %q", got, want)
		}
	})
	t.Run("v1 in pieces", func(t *testing.T) {
		got, _ := talk([]byte("PROXY TCP6 2001:db8::5 2001:db8::1 "), 20*time.Millisecond)
		if got != "" {
			t.Fatalf("a cut header was served: %q", got)
		}
		c, err := net.Dial("tcp", srv.Address().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		for _, piece := range []string{"PROXY TCP6 2001:db8::5 ", "2001:db8::1 4000", "0 443\r", "\nping\n"} {
			c.Write([]byte(piece))
			time.Sleep(10 * time.Millisecond)
		}
		c.(*net.TCPConn).CloseWrite()
		all, _ := io.ReadAll(c)
		want := "client=[2001:db8::5]:40000 remote=[2001:db8::5]:40000 local=[2001:db8::1]:443 header=PROXY\nping\n"
		if string(all) != want {
			t.Errorf("got %q\nwant %q", all, want)
		}
	})
	t.Run("LOCAL keeps the peer's address", func(t *testing.T) {
		got, self := talk(v2(proxyproto.Header{Version: 2, Command: proxyproto.Local}), 0)
		want := fmt.Sprintf("client=%s remote=%s local=%s header=LOCAL\nping\n", self, self, srv.Address())
		if got != want {
			t.Errorf("got %q\nwant %q", got, want)
		}
	})
	for _, bad := range []struct {
		name string
		send string
		wait time.Duration
		want error
	}{
		{"no header", "GET / HTTP/1.1\r\n", 0, proxyproto.ErrNoHeader},
		{"malformed", "PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", 0, proxyproto.ErrInvalid},
		{"late", "", -1, os.ErrDeadlineExceeded}, // nothing until the header timeout
	} {
		t.Run(bad.name, func(t *testing.T) {
			got, _ := talk([]byte(bad.send), bad.wait)
			if got != "" {
				t.Errorf("served without a header: %q", got)
			}
			// The handler's error reaches ErrorHandler about when the client
			// sees the close (earlier cases' errors may come first).
			var err error
			for !errors.Is(err, bad.want) {
				err = recv(t, reported, "the ErrorHandler's "+bad.name+" error")
			}
			if !strings.Contains(err.Error(), "PROXY header from 127.0.0.1:") {
				t.Errorf("ErrorHandler got %v, want %v naming the peer", err, bad.want)
			}
		})
	}
	t.Run("skip", func(t *testing.T) {
		policy.Store(int32(proxyproto.Skip))
		defer policy.Store(int32(proxyproto.Require))
		got, self := talk(nil, 0)
		if want := fmt.Sprintf("client=%s remote=%s local=%s header=none\nping\n", self, self, srv.Address()); got != want {
			t.Errorf("got %q\nwant %q", got, want)
		}
	})
	t.Run("reject", func(t *testing.T) {
		policy.Store(int32(proxyproto.Reject))
		defer policy.Store(int32(proxyproto.Require))
		before := srv.Stats().Rejected
		if got, _ := talk(v2(proxyproto.Header{Version: 2, Command: proxyproto.Local}), 0); got != "" {
			t.Errorf("a rejected peer was served: %q", got)
		}
		if n := srv.Stats().Rejected - before; n != 1 {
			t.Errorf("Stats().Rejected went up by %d, want 1", n)
		}
	})
	// The server goes on serving after all that.
	got, _ := talk(v2(proxyproto.Header{Version: 2, Command: proxyproto.Proxy, Transport: proxyproto.TCP4, Source: client, Destination: front}), 0)
	if !strings.HasPrefix(got, "client=203.0.113.7:51000 ") {
		t.Errorf("after the bad clients: %q", got)
	}
}

// TestProxyProtocolTLS: the header comes first, in the clear, then the TLS
// handshake; the handler sees the client from the header.
func TestProxyProtocolTLS(t *testing.T) {
	for _, d := range lifecycleDispatchers {
		t.Run(d.name, func(t *testing.T) {
			sockettest.LeakCheck(t)
			srv, err := ss.NewTCPServer("127.0.0.1:0", whoHandler, ss.WithDispatcher(d.make()), ss.WithTLS(tlsConfig(t)))
			if err != nil {
				t.Fatal(err)
			}
			srv.ProxyProtocol = func(net.Addr) proxyproto.Policy { return proxyproto.Require }
			serve(t, srv)
			raw, err := net.Dial("tcp", srv.Address().String())
			if err != nil {
				t.Fatal(err)
			}
			raw.Write([]byte("PROXY TCP4 198.51.100.9 192.0.2.1 1234 443\r\n"))
			c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write([]byte("over tls\n"))
			c.CloseWrite()
			all, err := io.ReadAll(c)
			want := "client=198.51.100.9:1234 remote=198.51.100.9:1234 local=192.0.2.1:443 header=PROXY\nover tls\n"
			if string(all) != want {
				t.Errorf("got %q, %v\nwant %q", all, err, want)
			}
		})
	}
}

// TestProxyProtocolTrustOnly: with the default-deny policy and nothing
// trusted, a loopback peer is turned away before any handler runs.
func TestProxyProtocolTrustOnly(t *testing.T) {
	sockettest.LeakCheck(t)
	var handled atomic.Int32
	srv, err := ss.NewTCPServer("127.0.0.1:0", ss.HandlerFunc(func(context.Context, *ss.Request) error {
		handled.Add(1)
		return nil
	}), ss.WithProxyProtocol(proxyproto.TrustOnly()))
	if err != nil {
		t.Fatal(err)
	}
	serve(t, srv)
	c := dial(t, srv)
	if n, err := c.Recv(make([]byte, 1), 0); n != 0 || (err != nil && !strings.Contains(err.Error(), "reset")) {
		t.Fatalf("read %d, %v; want the connection closed", n, err)
	}
	if handled.Load() != 0 || srv.Stats().Rejected != 1 {
		t.Fatalf("handled %d, stats %+v", handled.Load(), srv.Stats())
	}
}

// TestProxyProtocolPolicyPanics: a policy that panics turns that
// connection away, reports the panic, and the server keeps serving.
func TestProxyProtocolPolicyPanics(t *testing.T) {
	sockettest.LeakCheck(t)
	var calls atomic.Int32
	var reported atomic.Pointer[error] // the first error reported
	srv, err := ss.NewTCPServer("127.0.0.1:0", whoHandler, ss.WithProxyProtocol(func(net.Addr) proxyproto.Policy {
		if calls.Add(1) == 1 {
			panic("policy bug")
		}
		return proxyproto.Skip
	}))
	if err != nil {
		t.Fatal(err)
	}
	srv.ErrorHandler = func(r *ss.Request, err error) { reported.CompareAndSwap(nil, &err) }
	serve(t, srv)
	first := dial(t, srv)
	if n, err := first.Recv(make([]byte, 1), 0); n != 0 || err != nil {
		t.Fatalf("the first client read %d, %v; want the connection closed", n, err)
	}
	var pe *ss.PanicError
	if p := reported.Load(); p == nil || !errors.As(*p, &pe) {
		t.Fatalf("ErrorHandler got %v, want a *PanicError first", p)
	}
	second := dial(t, srv)
	second.Sendall([]byte("x"), 0)
	line := make([]byte, 7)
	if _, err := io.ReadFull(second, line); err != nil || string(line) != "client=" {
		t.Fatalf("after the panic: %q, %v", line, err)
	}
}
