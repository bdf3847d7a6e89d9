//go:build linux

package eventloop_test

import (
	"bufio"
	"context"
	"fmt"
	"net"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/socket"
)

// ExampleEngine_Serve_inherited serves a listening socket the engine did
// not open, as a process does with a socket handed down by systemd or by
// the process it replaces. The old side passes the socket on as a file (a
// real program puts it in exec.Cmd.ExtraFiles; the new process finds it
// at descriptor 3 and calls socket.NewFd(3)) and closes its own copy. A
// client that connects meanwhile waits in the listen queue, which belongs
// to the socket: nobody refuses it, and the new side serves it.
func ExampleEngine_Serve_inherited() {
	// The old process: listening.
	ln, err := socket.CreateServer("127.0.0.1:0", nil)
	if err != nil {
		panic(err)
	}
	addr, _ := ln.Getsockname()
	f, err := ln.File() // what exec.Cmd.ExtraFiles hands down
	if err != nil {
		panic(err)
	}
	ln.Close()

	// A client arrives while no one serves.
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		panic(err)
	}
	fmt.Fprint(c, "queued\n")

	// The new process: it adopts the socket and serves it.
	inherited, err := socket.FromConn(f) // in a new process: socket.NewFd(3)
	f.Close()
	if err != nil {
		panic(err)
	}
	e := &eventloop.Engine{Handler: upper{}, Loops: 1}
	served := make(chan error, 1)
	go func() { served <- e.Serve(inherited) }()

	line, _ := bufio.NewReader(c).ReadString('\n')
	fmt.Print(line)
	c.Close()
	e.Shutdown(context.Background())
	fmt.Println(<-served)
	// Output:
	// QUEUED
	// eventloop: engine closed
}
