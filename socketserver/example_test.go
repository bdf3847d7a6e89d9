//go:build linux

package socketserver_test

import (
	"context"
	"fmt"
	"io"
	"os"
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

// ExampleStreamHandler serves a line protocol with Python's
// StreamRequestHandler in Go: R reads lines through a buffer, W writes
// through one that is flushed when the function returns.
func ExampleStreamHandler() {
	handler := &socketserver.StreamHandler{
		WriteBufferSize: 4096,
		Func: func(ctx context.Context, r *socketserver.StreamRequest) error {
			for n := 1; ; n++ {
				line, err := r.R.ReadString('\n')
				if err != nil {
					return nil // the client half-closed: W is flushed now
				}
				fmt.Fprintf(r.W, "%d %s", n, strings.ToUpper(line))
			}
		},
	}
	srv, err := socketserver.NewThreadingTCPServer("127.0.0.1:0", handler)
	if err != nil {
		panic(err)
	}
	go srv.ServeForever()
	defer srv.Shutdown(context.Background())

	c, _ := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	defer c.Close()
	c.Connect(srv.Address())
	c.Sendall([]byte("get\nput\n"), 0)
	c.CloseWrite()
	reply, _ := io.ReadAll(c)
	fmt.Print(string(reply))
	// Output:
	// 1 GET
	// 2 PUT
}

// ExampleDatagramHandler is Python's DatagramRequestHandler in Go on a Unix
// datagram server: R reads the packet, what is written to W goes back as
// one datagram, and a handler that writes nothing sends nothing.
func ExampleDatagramHandler() {
	dir, _ := os.MkdirTemp("", "dgram")
	defer os.RemoveAll(dir)
	handler := &socketserver.DatagramHandler{Func: func(ctx context.Context, r *socketserver.DatagramRequest) error {
		word, _ := io.ReadAll(r.R)
		if string(word) == "quiet" {
			return nil // no reply
		}
		fmt.Fprintf(r.W, "%s has %d letters", word, len(word))
		return nil
	}}
	srv, err := socketserver.NewUnixDatagramServer(dir+"/words.sock", handler)
	if err != nil {
		panic(err)
	}
	go srv.ServeForever()
	defer srv.Shutdown(context.Background())

	// A Unix datagram client binds an address of its own to get replies.
	c, _ := socket.New(socket.AF_UNIX, socket.SOCK_DGRAM, 0)
	defer c.Close()
	c.Bind(&socket.UnixAddr{Path: dir + "/client.sock"})
	c.SetTimeout(time.Second)
	buf := make([]byte, 64)
	for _, w := range []string{"quiet", "socket"} {
		c.Sendto([]byte(w), 0, srv.Address())
	}
	n, _, err := c.Recvfrom(buf, 0) // the reply to "socket": "quiet" got none
	fmt.Println(string(buf[:n]), err)
	// Output: socket has 6 letters <nil>
}
