package proxyproto_test

import (
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/socketkit/socketkit/proxyproto"
)

// A server behind a load balancer at 127.0.0.0/8 learns its clients' real
// addresses from the PROXY header the balancer sends first.
func ExampleListener() {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ln := &proxyproto.Listener{
		Listener: inner,
		Policy:   proxyproto.TrustOnly(netip.MustParsePrefix("127.0.0.0/8")),
	}
	defer ln.Close()

	// The load balancer's side: a header for client 203.0.113.7, then data.
	go func() {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			panic(err)
		}
		defer c.Close()
		h := proxyproto.Header{Version: 2, Command: proxyproto.Proxy, Transport: proxyproto.TCP4,
			Source:      &net.TCPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 51000},
			Destination: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 443}}
		b, _ := h.Format()
		c.Write(append(b, "hello"...))
	}()

	c, err := ln.Accept()
	if err != nil {
		panic(err)
	}
	defer c.Close()
	data, _ := io.ReadAll(c)
	fmt.Printf("%s from %v\n", data, c.RemoteAddr())
	// Output: hello from 203.0.113.7:51000
}

func ExampleParse() {
	h, n, err := proxyproto.Parse([]byte("PROXY TCP6 2001:db8::1 2001:db8::2 40000 443\r\nGET / HTTP/1.1\r\n"))
	fmt.Println(h, n, err)
	// Output: v1 PROXY TCP6 [2001:db8::1]:40000 -> [2001:db8::2]:443 46 <nil>
}
