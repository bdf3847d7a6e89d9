//go:build linux

package eventloop_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
		in, _ := c.Peek(-1)
		i := bytes.IndexByte(in, '\n')
		if i < 0 {
			return eventloop.None
		}
		line, _ := c.Next(i + 1)
		c.Write(bytes.ToUpper(line))
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

// pipelined answers "GET n\n" with 8 KiB of byte n, the way a pipelined
// protocol should: a request is consumed only once its answer is
// written, and when Write says the output is full the request stays
// unread for the next OnData, which comes when the output has drained.
type pipelined struct{ eventloop.BaseHandler }

func (pipelined) OnData(c *eventloop.Conn) eventloop.Action {
	for {
		in, _ := c.Peek(-1)
		i := bytes.IndexByte(in, '\n')
		if i < 0 {
			return eventloop.None // the rest of the request has not arrived
		}
		var n byte
		fmt.Sscanf(string(in[:i]), "GET %d", &n)
		if _, err := c.Write(bytes.Repeat([]byte{n}, 8<<10)); errors.Is(err, eventloop.ErrOutboundFull) {
			return eventloop.None // answered when the client has read some
		}
		c.Discard(i + 1)
	}
}

// Example_pipelining: a client sends 100 requests at once, whose answers
// (800 KiB) are far more than MaxOutbound (here 64 KiB): the server
// answers as the client reads, and holds at most MaxOutbound of them.
func Example_pipelining() {
	ln, err := socket.Listen("tcp", "127.0.0.1:0", nil)
	if err != nil {
		panic(err)
	}
	e := &eventloop.Engine{Handler: pipelined{}, Loops: 1, HighWatermark: 16 << 10, MaxOutbound: 64 << 10}
	served := make(chan error, 1)
	go func() { served <- e.Serve(ln) }()

	c, err := net.Dial("tcp", ln.LocalAddr().String())
	if err != nil {
		panic(err)
	}
	for i := range 100 {
		fmt.Fprintf(c, "GET %d\n", i)
	}
	answer := make([]byte, 8<<10)
	inOrder := true
	for i := range 100 {
		if _, err := io.ReadFull(c, answer); err != nil {
			panic(err)
		}
		inOrder = inOrder && answer[0] == byte(i) && answer[len(answer)-1] == byte(i)
	}
	fmt.Println("100 answers in order:", inOrder)
	c.Close()
	e.Shutdown(context.Background())
	<-served
	// Output:
	// 100 answers in order: true
}
