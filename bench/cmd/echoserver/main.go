// Command echoserver runs one of the reference echo servers the benchmarks
// compare socketkit against. Our own servers are started through the sock
// command (sock serve echo), as a user would.
//
//	echoserver -impl stdlib -addr 127.0.0.1:7000
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
)

var impls = map[string]func(addr string) error{
	"stdlib":    stdlibCopy,
	"stdlib-rw": stdlibRW,
}

func main() {
	impl := flag.String("impl", "stdlib", "server: stdlib (goroutine per connection, io.Copy), stdlib-rw (read/write loop), gnet, nbio, netpoll, evio, sock-http, gnet-http, nethttp")
	addr := flag.String("addr", "127.0.0.1:7000", "address to listen on")
	flag.IntVar(&loops, "loops", 1, "sock-http: event loops")
	flag.BoolVar(&reusePort, "reuseport", false, "sock-http: a SO_REUSEPORT listener for each loop instead of one shared")
	flag.StringVar(&backend, "backend", "epoll", "sock-http: the engine's backend, epoll or io_uring")
	flag.Parse()
	f, ok := impls[*impl]
	if !ok {
		fmt.Fprintf(os.Stderr, "echoserver: unknown -impl %q\n", *impl)
		os.Exit(2)
	}
	go func() {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
		<-c
		os.Exit(0)
	}()
	if err := f(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "echoserver:", err)
		os.Exit(1)
	}
}

// stdlibCopy is the plain Go echo server: a goroutine per connection and
// io.Copy (which splices on Linux).
func stdlibCopy(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println("LISTENING", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			io.Copy(c, c)
			c.Close()
		}()
	}
}

// stdlibRW is a goroutine per connection with a read/write loop.
func stdlibRW(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println("LISTENING", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
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
