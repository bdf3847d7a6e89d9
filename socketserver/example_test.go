//go:build linux

package socketserver_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/socketkit/socketkit/socket"
	"github.com/socketkit/socketkit/socketserver"
)

// ExampleNewTCPServer is the classic echo server: a ThreadingTCPServer with
// a StreamRequestHandler that upper-cases each line.
func ExampleNewTCPServer() {
	handler := socketserver.Stream(func(ctx context.Context, r *socketserver.StreamRequest) error {
		for {
			line, err := r.R.ReadString('\n')
			if err != nil {
				return nil // the client is done
			}
			io.WriteString(r.W, strings.ToUpper(line))
		}
	})
	srv, err := socketserver.NewThreadingTCPServer("127.0.0.1:0", handler)
	if err != nil {
		panic(err)
	}
	go srv.ServeForever()
	defer srv.Shutdown(context.Background())

	c, _ := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	defer c.Close()
	c.Connect(srv.Address())
	c.Sendall([]byte("hello, socketserver\n"), 0)
	c.CloseWrite()
	reply, _ := io.ReadAll(c)
	fmt.Print(string(reply))
	// Output: HELLO, SOCKETSERVER
}

// ExampleNewUDPServer answers each datagram with a reply datagram.
func ExampleNewUDPServer() {
	handler := socketserver.Datagram(func(ctx context.Context, r *socketserver.DatagramRequest) error {
		data, _ := io.ReadAll(r.R)
		fmt.Fprintf(r.W, "%d bytes: %s", len(data), data)
		return nil
	})
	srv, err := socketserver.NewUDPServer("127.0.0.1:0", handler)
	if err != nil {
		panic(err)
	}
	go srv.ServeForever()
	defer srv.Shutdown(context.Background())

	c, _ := socket.New(socket.AF_INET, socket.SOCK_DGRAM, 0)
	defer c.Close()
	c.Sendto([]byte("ping"), 0, srv.Address())
	buf := make([]byte, 64)
	n, _, _ := c.Recvfrom(buf, 0)
	fmt.Println(string(buf[:n]))
	// Output: 4 bytes: ping
}

// ExampleServer_Shutdown stops a server gracefully: it stops accepting at
// once and lets the request in flight finish.
func ExampleServer_Shutdown() {
	started := make(chan struct{})
	handler := socketserver.HandlerFunc(func(ctx context.Context, r *socketserver.Request) error {
		close(started)
		time.Sleep(50 * time.Millisecond) // work in flight
		_, err := r.Conn.Write([]byte("finished"))
		return err
	})
	srv, _ := socketserver.NewThreadingTCPServer("127.0.0.1:0", handler)
	served := make(chan error)
	go func() { served <- srv.ServeForever() }()

	c, _ := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	defer c.Close()
	c.Connect(srv.Address())
	<-started

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println("shutdown:", srv.Shutdown(ctx))
	fmt.Println("serve:", <-served)
	reply, _ := io.ReadAll(c)
	fmt.Println("client got:", string(reply))
	// Output:
	// shutdown: <nil>
	// serve: socketserver: server closed
	// client got: finished
}
