//go:build linux

package socketserver_test

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/socketkit/socketkit/socket"
	"github.com/socketkit/socketkit/socketserver"
)

// ExampleServer_Adopt hands a listening socket from one server to the
// next, as a zero-downtime restart hands it from one process to the
// next: the old server passes the socket on as a file (a real program
// puts it in exec.Cmd.ExtraFiles, and the new process calls
// socket.NewFd(3)), the new server adopts it and serves, and the old one
// shuts down. A client that connected before the new server ran was
// queued by the kernel, not refused.
func ExampleServer_Adopt() {
	echo := socketserver.HandlerFunc(func(ctx context.Context, r *socketserver.Request) error {
		_, err := io.Copy(r.Conn, r.Conn)
		return err
	})
	old, err := socketserver.NewTCPServer("127.0.0.1:0", echo)
	if err != nil {
		panic(err)
	}
	go old.ServeForever()

	// Hand over: a duplicate of the listening socket.
	f, err := old.Socket().File()
	if err != nil {
		panic(err)
	}
	old.Shutdown(context.Background()) // stops accepting; the socket lives on in f

	c, err := net.Dial("tcp", old.Address().String()) // queued: nobody accepts yet
	if err != nil {
		panic(err)
	}

	// The new server adopts the socket.
	inherited, err := socket.FromConn(f) // in a new process: socket.NewFd(3)
	f.Close()
	if err != nil {
		panic(err)
	}
	srv := &socketserver.Server{Handler: echo, Dispatcher: &socketserver.Goroutines{}}
	if err := srv.Adopt(inherited); err != nil {
		panic(err)
	}
	go srv.ServeForever()
	defer srv.Shutdown(context.Background())

	fmt.Fprint(c, "still here")
	c.(*net.TCPConn).CloseWrite()
	reply, _ := io.ReadAll(c)
	c.Close()
	fmt.Println(string(reply))
	// Output: still here
}
