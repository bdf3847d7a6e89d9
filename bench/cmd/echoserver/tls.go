package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"

	ntls "github.com/lesismal/llib/std/crypto/tls"
	"github.com/lesismal/nbio"
	nbiotls "github.com/lesismal/nbio/extension/tls"
)

// The TLS echo servers the engine's TLS is compared with (issue 13). Our
// own runs through sock (sock serve echo --engine loop --tls). Each loads
// -cert and -key.

var certFile, keyFile string

func init() {
	flag.StringVar(&certFile, "cert", "", "TLS servers: certificate (PEM)")
	flag.StringVar(&keyFile, "key", "", "TLS servers: private key (PEM)")
	impls["stdlib-tls"] = stdlibTLS
	impls["nbio-tls"] = nbioTLS
}

var errNoCert = errors.New("the TLS servers need -cert and -key")

// stdlibTLS is net plus crypto/tls, a goroutine per connection: the
// handshake, then a read/write loop with a 16 KiB buffer (a record's
// worth of plaintext).
func stdlibTLS(addr string) error {
	if certFile == "" || keyFile == "" {
		return errNoCert
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
	fmt.Println("LISTENING", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			if err := c.(*tls.Conn).Handshake(); err != nil {
				return
			}
			buf := make([]byte, 16<<10)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				if _, err := c.Write(buf[:n]); err != nil {
					return
				}
			}
		}()
	}
}

// nbioTLS is nbio v1.6.8 with its own TLS (github.com/lesismal/llib's
// fork of crypto/tls, non-blocking, through nbio's extension/tls), as
// nbio's TLS example writes it: WrapOpen, WrapData, and the plaintext
// written back through the TLS conn.
func nbioTLS(addr string) error {
	if certFile == "" || keyFile == "" {
		return errNoCert
	}
	cert, err := ntls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return err
	}
	cfg := &ntls.Config{Certificates: []ntls.Certificate{cert}}
	eng := nbio.NewEngine(nbio.Config{Network: "tcp", Addrs: []string{addr}})
	eng.OnOpen(nbiotls.WrapOpen(cfg, false, func(c *nbio.Conn, tc *ntls.Conn) {}))
	eng.OnClose(nbiotls.WrapClose(func(c *nbio.Conn, tc *ntls.Conn, err error) {}))
	eng.OnData(nbiotls.WrapData(func(c *nbio.Conn, tc *ntls.Conn, data []byte) { tc.Write(data) }))
	if err := eng.Start(); err != nil {
		return err
	}
	fmt.Println("LISTENING", addr)
	select {}
}
