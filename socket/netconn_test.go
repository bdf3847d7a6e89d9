//go:build linux

package socket_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

// TestNetConnConformance runs x/net/nettest's net.Conn suite over *Socket:
// a TCP pair and a Unix stream socketpair.
func TestNetConnConformance(t *testing.T) {
	t.Run("tcp", func(t *testing.T) {
		nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
			ln, err := socket.CreateServer("127.0.0.1:0", nil)
			if err != nil {
				return nil, nil, nil, err
			}
			defer ln.Close()
			addr, _ := ln.Getsockname()
			cl, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
			if err != nil {
				return nil, nil, nil, err
			}
			if err := cl.Connect(addr); err != nil {
				cl.Close()
				return nil, nil, nil, err
			}
			sv, _, err := ln.Accept()
			if err != nil {
				cl.Close()
				return nil, nil, nil, err
			}
			return cl, sv, func() { cl.Close(); sv.Close() }, nil
		})
	})
	t.Run("unix-socketpair", func(t *testing.T) {
		nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
			a, b, err := socket.Socketpair(socket.AF_UNIX, socket.SOCK_STREAM, 0)
			if err != nil {
				return nil, nil, nil, err
			}
			return a, b, func() { a.Close(); b.Close() }, nil
		})
	})
}

func selfSignedConfig(t testing.TB) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// TestTLSOverSocket: crypto/tls handshakes and exchanges data over *Socket
// at both ends.
func TestTLSOverSocket(t *testing.T) {
	sockettest.LeakCheck(t)
	cfg := selfSignedConfig(t)
	c, s := connPair(t, streamNets[0])
	errc := make(chan error, 1)
	go func() {
		srv := tls.Server(s, cfg)
		defer srv.Close()
		if err := srv.Handshake(); err != nil {
			errc <- err
			return
		}
		_, err := io.Copy(srv, srv)
		errc <- err
	}()
	cli := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	if err := cli.Handshake(); err != nil {
		t.Fatal(err)
	}
	msg := []byte("over tls")
	cli.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(cli, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("TLS echo = %q, %v", got, err)
	}
	if st := cli.ConnectionState(); !st.HandshakeComplete {
		t.Fatal("handshake not complete")
	}
	cli.Close()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestHTTPOverSocket: net/http serves over a *Socket listener.
func TestHTTPOverSocket(t *testing.T) {
	ln, err := socket.CreateServer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s from %T", r.URL.Path, r.Context().Value(http.LocalAddrContextKey))
	})}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln.Listener()) }()
	tr := &http.Transport{}
	client := &http.Client{Transport: tr}
	resp, err := client.Get("http://" + ln.LocalAddr().String() + "/tutorial")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello /tutorial from *net.TCPAddr" {
		t.Fatalf("body = %q", body)
	}
	tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve = %v", err)
	}
}

func TestListenerAdapter(t *testing.T) {
	sockettest.LeakCheck(t)
	ln, addr := listen(t, streamNets[2]) // unix
	l := ln.Listener()
	var _ net.Listener = l
	if l.Addr().Network() != "unix" || l.Addr().String() != addr.String() {
		t.Fatalf("Addr = %v %v", l.Addr().Network(), l.Addr())
	}
	go func() {
		c, err := net.Dial("unix", addr.String())
		if err == nil {
			c.Write([]byte("via net.Dial"))
			c.Close()
		}
	}()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(c)
	c.Close()
	if string(data) != "via net.Dial" {
		t.Fatalf("got %q", data)
	}
	l.SetDeadline(time.Now().Add(10 * time.Millisecond))
	if _, err := l.Accept(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Accept past deadline: %v", err)
	}
	// A Close from another goroutine ends an Accept that is waiting.
	l.SetDeadline(time.Time{})
	accepted := make(chan error, 1)
	go func() { _, err := l.Accept(); accepted <- err }()
	sockettest.WaitBlocked(t, 1, "socket.(*Listener).Accept")
	l.Close()
	select {
	case err := <-accepted:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept ended by a concurrent Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a waiting Accept")
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	if err := l.Close(); err != nil { // idempotent, as Socket.Close documents
		t.Errorf("a second Close: %v", err)
	}
}

func TestPacketConnAdapter(t *testing.T) {
	for _, n := range dgramNets {
		t.Run(n.name, func(t *testing.T) {
			a, b, _, bAddr := dgramPair(t, n)
			pa, pb := a.PacketConn(), b.PacketConn()
			var _ net.PacketConn = pa
			dst := socket.NetAddr(bAddr, n.typ)
			if _, err := pa.WriteTo([]byte("dgram"), dst); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 16)
			nn, from, err := pb.ReadFrom(buf)
			if err != nil || string(buf[:nn]) != "dgram" || from.String() != pa.LocalAddr().String() {
				t.Fatalf("ReadFrom = %q from %v, %v", buf[:nn], from, err)
			}
			pb.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
			if _, _, err := pb.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("ReadFrom past deadline: %v", err)
			}
			pb.SetReadDeadline(time.Time{})
			// A datagram longer than the buffer: as with the standard
			// library, the first len(buf) bytes and no error; the rest is
			// gone, and the next read gets the next datagram.
			pa.WriteTo([]byte("0123456789abcdefXYZ"), dst)
			pa.WriteTo([]byte("next"), dst)
			short := make([]byte, 16)
			if nn, _, err := pb.ReadFrom(short); nn != 16 || err != nil || string(short) != "0123456789abcdef" {
				t.Fatalf("ReadFrom of a long datagram = %d %q, %v", nn, short[:nn], err)
			}
			if nn, _, err := pb.ReadFrom(buf); err != nil || string(buf[:nn]) != "next" {
				t.Fatalf("ReadFrom after a truncated datagram = %q, %v", buf[:nn], err)
			}
			// A write deadline in the past fails the write at once.
			pa.SetWriteDeadline(time.Now().Add(-time.Second))
			if _, err := pa.WriteTo([]byte("late"), dst); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("WriteTo past deadline: %v", err)
			}
			pa.SetWriteDeadline(time.Time{})
		})
	}
}

// TestStdlibInterop: FromConn adopts a stdlib connection, NetConn hands one
// back, and data flows both ways.
func TestStdlibInterop(t *testing.T) {
	sockettest.LeakCheck(t)
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	go func() {
		c, err := nl.Accept()
		if err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()
	nc, err := net.Dial("tcp", nl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := socket.FromConn(nc.(*net.TCPConn))
	nc.Close() // s holds its own duplicate
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Family() != socket.AF_INET || s.Type() != socket.SOCK_STREAM || s.Proto() != socket.IPPROTO_TCP {
		t.Fatalf("FromConn probed %v %v %v", s.Family(), s.Type(), s.Proto())
	}
	s.Sendall([]byte("ping"), 0)
	buf := make([]byte, 4)
	if _, err := s.Recv(buf, socket.MSG_WAITALL); err != nil || string(buf) != "ping" {
		t.Fatalf("echo via FromConn = %q, %v", buf, err)
	}
	std, err := s.NetConn()
	if err != nil {
		t.Fatal(err)
	}
	defer std.Close()
	if _, ok := std.(*net.TCPConn); !ok {
		t.Fatalf("NetConn gave %T, want *net.TCPConn", std)
	}
	std.Write([]byte("pong"))
	if _, err := io.ReadFull(std, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("echo via NetConn = %q, %v", buf, err)
	}
}
