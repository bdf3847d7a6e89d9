//go:build linux

package proxyproto_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/proxyproto"
	"github.com/socketkit/socketkit/socket"
)

func TestMain(m *testing.M) { sockettest.VerifyTestMain(m) }

// TestReadHeaderLeavesData: over a real TCP connection (the MSG_PEEK path)
// and over a plain reader (exact reads), ReadHeader takes the header and
// not one byte more, whether it arrives whole or a byte at a time.
func TestReadHeaderLeavesData(t *testing.T) {
	sockettest.LeakCheck(t)
	v2, _ := (&proxyproto.Header{Version: 2, Command: proxyproto.Proxy, Transport: proxyproto.TCP6,
		Source: tcp("[2001:db8::1]:1234"), Destination: tcp("[::1]:80"),
		TLVs: []proxyproto.TLV{{Type: proxyproto.TypeAuthority, Value: bytes.Repeat([]byte("a"), 300)}}}).Format()
	headers := map[string][]byte{
		"v1":         []byte("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"),
		"v1 UNKNOWN": []byte("PROXY UNKNOWN\r\n"),
		"v2 local":   haproxyLocal,
		"v2 TCP4":    haproxyTCP4,
		"v2 TLV 300": v2,
	}
	for name, hdr := range headers {
		for _, trickle := range []bool{false, true} {
			for _, path := range []string{"tcp", "reader"} {
				label := name + "/" + path
				if trickle {
					label += "/trickled"
				}
				t.Run(label, func(t *testing.T) {
					client, server := tcpPair(t)
					defer client.Close()
					defer server.Close()
					go func() {
						if trickle {
							for i := range hdr {
								client.Write(hdr[i : i+1])
								time.Sleep(100 * time.Microsecond)
							}
						} else {
							client.Write(hdr)
						}
						client.Write([]byte("data after"))
						client.(*net.TCPConn).CloseWrite()
					}()
					server.SetReadDeadline(time.Now().Add(10 * time.Second))
					var r io.Reader = server
					if path == "reader" {
						r = onlyReader{server}
					}
					h, err := proxyproto.ReadHeader(r)
					if err != nil {
						t.Fatalf("ReadHeader: %v", err)
					}
					want, _, _ := proxyproto.Parse(hdr)
					if !sameHeader(h, want) {
						t.Errorf("got %v, want %v", h, want)
					}
					rest, err := io.ReadAll(server)
					if err != nil || string(rest) != "data after" {
						t.Errorf("after the header: %q, %v", rest, err)
					}
				})
			}
		}
	}
}

// TestReadHeaderErrors: the peer closing early, garbage and a deadline
// each end ReadHeader with their own error, over both paths.
func TestReadHeaderErrors(t *testing.T) {
	sockettest.LeakCheck(t)
	for _, tc := range []struct {
		name string
		send string
		want error
	}{
		{"nothing", "", io.EOF},
		{"half a v1", "PROXY TCP4 1.2", io.ErrUnexpectedEOF},
		{"half a v2", string(haproxyTCP4[:20]), io.ErrUnexpectedEOF},
		{"HTTP", "GET / HTTP/1.0\r\n\r\n", proxyproto.ErrNoHeader},
		{"bad v1", "PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", proxyproto.ErrInvalid},
		{"silent", "-", os.ErrDeadlineExceeded},
	} {
		for _, path := range []string{"tcp", "reader"} {
			t.Run(tc.name+"/"+path, func(t *testing.T) {
				client, server := tcpPair(t)
				defer client.Close()
				defer server.Close()
				if tc.send != "-" {
					client.Write([]byte(tc.send))
					client.(*net.TCPConn).CloseWrite()
				}
				server.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				var r io.Reader = server
				if path == "reader" {
					r = onlyReader{server}
				}
				h, err := proxyproto.ReadHeader(r)
				if !errors.Is(err, tc.want) || h != nil {
					t.Fatalf("ReadHeader = %v, %v; want %v", h, err, tc.want)
				}
			})
		}
	}
}

// TestListener: a proxy's client address replaces the peer's; Skip and
// Reject do what they say; a bad or missing header fails Read with one
// error and the listener goes on accepting.
func TestListener(t *testing.T) {
	sockettest.LeakCheck(t)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var policy atomic.Int32 // a proxyproto.Policy; the reject case changes it from another goroutine
	ln := &proxyproto.Listener{Listener: inner, HeaderTimeout: 300 * time.Millisecond,
		Policy: func(net.Addr) proxyproto.Policy { return proxyproto.Policy(policy.Load()) }}
	defer ln.Close()
	dial := func(send string) net.Conn {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(send))
		return c
	}
	accept := func() *proxyproto.Conn {
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return c.(*proxyproto.Conn)
	}

	t.Run("require", func(t *testing.T) {
		c := dial("PROXY TCP4 203.0.113.9 198.51.100.2 40000 443\r\nhello")
		defer c.Close()
		s := accept()
		defer s.Close()
		if got := s.RemoteAddr().String(); got != "203.0.113.9:40000" {
			t.Errorf("RemoteAddr %s", got)
		}
		if got := s.LocalAddr().String(); got != "198.51.100.2:443" {
			t.Errorf("LocalAddr %s", got)
		}
		b := make([]byte, 5)
		if _, err := io.ReadFull(s, b); err != nil || string(b) != "hello" {
			t.Errorf("read %q, %v", b, err)
		}
		if s.NetConn().RemoteAddr().String() != c.LocalAddr().String() {
			t.Errorf("NetConn's peer %v, the client is %v", s.NetConn().RemoteAddr(), c.LocalAddr())
		}
	})
	t.Run("local command keeps the real addresses", func(t *testing.T) {
		c := dial(string(haproxyLocal) + "x")
		defer c.Close()
		s := accept()
		defer s.Close()
		if h, err := s.Header(); err != nil || h.Command != proxyproto.Local {
			t.Fatalf("Header = %v, %v", h, err)
		}
		if s.RemoteAddr().String() != c.LocalAddr().String() {
			t.Errorf("RemoteAddr %v, the client is %v", s.RemoteAddr(), c.LocalAddr())
		}
	})
	t.Run("no header", func(t *testing.T) {
		c := dial("GET / HTTP/1.1\r\n\r\n")
		defer c.Close()
		s := accept()
		defer s.Close()
		_, err := s.Read(make([]byte, 10))
		var op *net.OpError
		if !errors.Is(err, proxyproto.ErrNoHeader) || !errors.As(err, &op) || op.Op != "proxyproto" {
			t.Fatalf("Read = %v, want a *net.OpError wrapping ErrNoHeader", err)
		}
		if _, err2 := s.Read(make([]byte, 10)); !errors.Is(err2, proxyproto.ErrNoHeader) {
			t.Errorf("second Read = %v", err2)
		}
		if s.RemoteAddr().String() != c.LocalAddr().String() {
			t.Errorf("RemoteAddr after a failed header %v", s.RemoteAddr())
		}
	})
	t.Run("header timeout", func(t *testing.T) {
		c := dial("")
		defer c.Close()
		s := accept()
		defer s.Close()
		start := time.Now()
		_, err := s.Read(make([]byte, 1))
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = %v, want a deadline", err)
		}
		if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
			t.Errorf("the header timeout of 300ms fired after %v", d)
		}
	})
	t.Run("application deadline survives the header", func(t *testing.T) {
		c := dial("PROXY UNKNOWN\r\n")
		defer c.Close()
		s := accept()
		defer s.Close()
		s.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		start := time.Now()
		_, err := s.Read(make([]byte, 1))
		if !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) > 2*time.Second {
			t.Fatalf("Read = %v after %v, want the application's deadline", err, time.Since(start))
		}
	})
	t.Run("skip", func(t *testing.T) {
		policy.Store(int32(proxyproto.Skip))
		defer policy.Store(int32(proxyproto.Require))
		c := dial("PROXY TCP4 203.0.113.9 198.51.100.2 40000 443\r\n")
		defer c.Close()
		s := accept()
		defer s.Close()
		if h, err := s.Header(); h != nil || err != nil {
			t.Errorf("Header of a skipped peer: %v, %v", h, err)
		}
		line := make([]byte, 6)
		if _, err := io.ReadFull(s, line); err != nil || string(line) != "PROXY " {
			t.Errorf("a skipped peer's bytes: %q, %v", line, err)
		}
	})
	t.Run("reject", func(t *testing.T) {
		policy.Store(int32(proxyproto.Reject))
		c := dial("")
		defer c.Close()
		go func() {
			// Accept has closed the rejected one and waits for the next.
			sockettest.WaitBlocked(t, 1, "proxyproto.(*Listener).Accept")
			policy.Store(int32(proxyproto.Require))
			if c2, err := net.Dial("tcp", inner.Addr().String()); err == nil {
				c2.Write([]byte("PROXY UNKNOWN\r\n"))
				c2.Close()
			}
		}()
		s := accept() // the rejected one is closed inside Accept
		s.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); n != 0 || (err != io.EOF && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset")) {
			t.Errorf("the rejected client read %d, %v; want EOF or a reset", n, err)
		}
	})
}

func TestTrustOnly(t *testing.T) {
	p := proxyproto.TrustOnly(netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("fe80::/64"))
	for addr, want := range map[net.Addr]proxyproto.Policy{
		tcp("10.1.2.3:5"):                       proxyproto.Require,
		tcp("[::ffff:10.1.2.3]:5"):              proxyproto.Require,
		tcp("[::1]:5"):                          proxyproto.Require,
		tcp("[fe80::1%lo]:5"):                   proxyproto.Require,
		tcp("11.0.0.1:5"):                       proxyproto.Reject,
		tcp("127.0.0.1:5"):                      proxyproto.Reject,
		&net.UnixAddr{Name: "@x", Net: "unix"}:  proxyproto.Require,
		&net.UDPAddr{IP: net.IPv4(10, 0, 0, 1)}: proxyproto.Require,
	} {
		if got := p(addr); got != want {
			t.Errorf("%v: %v, want %v", addr, got, want)
		}
	}
	if got := p(nil); got != proxyproto.Reject {
		t.Errorf("no address: %v, want REJECT", got)
	}
}

// TestConnForwards: the wrapper keeps the fast paths and half-close of a
// *net.TCPConn and of our own *socket.Socket.
func TestConnForwards(t *testing.T) {
	sockettest.LeakCheck(t)
	client, server := tcpPair(t)
	defer client.Close()
	client.Write([]byte("PROXY UNKNOWN\r\nping"))
	pc := proxyproto.NewConn(server, 0)
	defer pc.Close()
	if _, err := pc.SyscallConn(); err != nil {
		t.Errorf("SyscallConn: %v", err)
	}
	if err := pc.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	if b, err := io.ReadAll(client); err != nil || len(b) != 0 {
		t.Errorf("the client saw %q, %v after CloseWrite", b, err)
	}
	client.(*net.TCPConn).CloseWrite()
	var out bytes.Buffer
	if n, err := pc.WriteTo(&out); err != nil || n != 4 || out.String() != "ping" {
		t.Errorf("WriteTo = %d, %v, %q", n, err, out.String())
	}

	// The same over a socket.Socket pair: MSG_PEEK through its RawConn.
	a, b, err := socket.Socketpair(socket.AF_UNIX, socket.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	a.Sendall(append(bytes.Clone(haproxyTCP4), "after"...), 0)
	a.CloseWrite()
	sc := proxyproto.NewConn(b, time.Second)
	if got := sc.RemoteAddr().String(); got != "127.0.0.1:46668" {
		t.Errorf("RemoteAddr over a socket.Socket: %s", got)
	}
	if rest, err := io.ReadAll(sc); err != nil || string(rest) != "after" {
		t.Errorf("after the header: %q, %v", rest, err)
	}
}

// TestNettest runs x/net/nettest's conformance suite on a Conn that read
// a version 2 header.
func TestNettest(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		client, server := tcpPair(t)
		if _, err := client.Write(haproxyTCP4); err != nil {
			return nil, nil, nil, err
		}
		pc := proxyproto.NewConn(server, time.Second)
		if _, err := pc.Header(); err != nil {
			return nil, nil, nil, err
		}
		return client, pc, func() { client.Close(); pc.Close() }, nil
	})
}

func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		client.Close()
		t.Fatal(err)
	}
	return client, server
}
