//go:build linux

package eventloop_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/internal/sockettest"
)

// TestNetConnConformance: the blocking adapter passes x/net/nettest's
// net.Conn suite.
func TestNetConnConformance(t *testing.T) {
	conns := make(chan net.Conn, 1)
	ctx, cancel := context.WithCancel(context.Background())
	e := &eventloop.Engine{Loops: 2, Handler: eventloop.Blocking(ctx, func(ctx context.Context, c net.Conn) {
		conns <- c
		<-ctx.Done() // the test owns c until the engine stops
	})}
	addr, stop := start(t, e, "tcp", "127.0.0.1:0")
	defer func() { cancel(); stop() }()
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		cl, err := net.Dial("tcp", addr)
		if err != nil {
			return nil, nil, nil, err
		}
		sv := <-conns
		return sv, cl, func() { sv.Close(); cl.Close() }, nil
	})
}

func TestTLSOverEngine(t *testing.T) {
	sockettest.LeakCheck(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	e := &eventloop.Engine{Loops: 1, Handler: eventloop.Blocking(context.Background(), func(ctx context.Context, c net.Conn) {
		tc := tls.Server(c, cfg)
		io.Copy(tc, tc) // TLS echo
		tc.Close()
	})}
	addr, stop := start(t, e, "tcp", "127.0.0.1:0")
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 1<<20)
	rand.Read(msg)
	go c.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != string(msg) {
		t.Fatalf("TLS echo over the engine: %v", err)
	}
	c.Close()
	stop()
}
