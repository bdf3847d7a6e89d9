//go:build linux

package eventloop_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/socket"
)

// upper answers each line with the line in upper case. A line that has
// not fully arrived stays unread: OnData sees it again, with the rest,
// when more arrives.
type upper struct{ eventloop.BaseHandler }

func (upper) OnData(c *eventloop.Conn) eventloop.Action {
	for {
		line := c.Peek(-1)
		i := bytes.IndexByte(line, '\n')
		if i < 0 {
			return eventloop.None
		}
		c.Write(bytes.ToUpper(c.Next(i + 1)))
	}
}

// Example serves a line protocol on the engine. The listening socket is
// opened first, so its address is known before the engine runs.
func Example() {
	ln, err := socket.CreateServer("127.0.0.1:0", nil)
	if err != nil {
		panic(err)
	}
	addr, _ := ln.Getsockname()
	e := &eventloop.Engine{Handler: upper{}, Loops: 1}
	served := make(chan error, 1)
	go func() { served <- e.Serve(ln) }() // the engine closes ln when it stops

	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		panic(err)
	}
	fmt.Fprint(c, "hello\nevent lo")
	fmt.Fprint(c, "op\n")
	r := bufio.NewReader(c)
	for range 2 {
		line, _ := r.ReadString('\n')
		fmt.Print(line)
	}
	c.Close()

	e.Shutdown(context.Background())
	fmt.Println(<-served)
	// Output:
	// HELLO
	// EVENT LOOP
	// eventloop: engine closed
}
