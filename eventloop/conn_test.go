//go:build linux

package eventloop_test

import (
	"net"
	"testing"
	"time"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/internal/sockettest"
)

// asyncHandler answers each line from another goroutine, with AsyncWrite.
type asyncHandler struct{ eventloop.BaseHandler }

func (asyncHandler) OnData(c *eventloop.Conn) eventloop.Action {
	line := string(c.Next(-1))
	go c.AsyncWrite([]byte("async:"+line), nil)
	return eventloop.None
}

func TestAsyncWrite(t *testing.T) {
	sockettest.LeakCheck(t)
	addr, stop := start(t, &eventloop.Engine{Handler: asyncHandler{}, Loops: 2}, "tcp", "127.0.0.1:0")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("ping\n"))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "async:ping\n" {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
	c.Close()
	stop()
}
