//go:build linux

package socketserver_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
	ss "github.com/socketkit/socketkit/socketserver"
)

func TestDatagramHandlerReplies(t *testing.T) {
	sockettest.LeakCheck(t)
	for _, replyEmpty := range []bool{false, true} {
		t.Run(fmt.Sprint("ReplyEmpty=", replyEmpty), func(t *testing.T) {
			h := &ss.DatagramHandler{ReplyEmpty: replyEmpty, Func: func(ctx context.Context, r *ss.DatagramRequest) error {
				b, _ := io.ReadAll(r.R)
				if string(b) == "silent" {
					return nil // W stays empty
				}
				fmt.Fprintf(r.W, "got %s", b)
				return nil
			}}
			srv, err := ss.NewUDPServer("127.0.0.1:0", h)
			if err != nil {
				t.Fatal(err)
			}
			serve(t, srv)
			c := dial(t, srv)
			c.Send([]byte("hello"), 0)
			buf := make([]byte, 64)
			if n, err := c.Recv(buf, 0); err != nil || string(buf[:n]) != "got hello" {
				t.Fatalf("reply %q, %v", buf[:n], err)
			}
			c.Send([]byte("silent"), 0)
			c.SetTimeout(200 * time.Millisecond)
			n, err := c.Recv(buf, 0)
			switch {
			case replyEmpty && (err != nil || n != 0):
				t.Fatalf("ReplyEmpty: got %d, %v; want an empty datagram", n, err)
			case !replyEmpty && !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err):
				t.Fatalf("empty reply: got %d, %v; want nothing sent", n, err)
			}
		})
	}
}

func TestMaxPacketSize(t *testing.T) {
	sockettest.LeakCheck(t)
	srv, err := ss.NewUDPServer("127.0.0.1:0", echoHandler)
	if err != nil {
		t.Fatal(err)
	}
	srv.MaxPacketSize = 100
	serve(t, srv)
	c := dial(t, srv)
	c.Send(make([]byte, 101), 0)
	if err := exchange(c, make([]byte, 100)); err != nil {
		t.Fatalf("a datagram of MaxPacketSize: %v", err)
	}
	if st := srv.Stats(); st.Truncated != 1 || st.Accepted != 2 {
		t.Fatalf("stats %+v; want the long datagram dropped and counted", st)
	}
}

func TestStreamHandler(t *testing.T) {
	sockettest.LeakCheck(t)
	h := &ss.StreamHandler{WriteBufferSize: 4096, NoDelay: true, Timeout: 5 * time.Second,
		Func: func(ctx context.Context, r *ss.StreamRequest) error {
			for {
				line, err := r.R.ReadString('\n')
				if err != nil {
					return nil
				}
				fmt.Fprintf(r.W, "%d:%s", len(line), strings.ToUpper(line))
			}
		}}
	srv, err := ss.NewThreadingTCPServer("127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, srv)
	c := dial(t, srv)
	c.Sendall([]byte("one\ntwo\nthree\n"), 0)
	c.CloseWrite()
	out, _ := io.ReadAll(c) // buffered: flushed when the function returns
	if string(out) != "4:ONE\n4:TWO\n6:THREE\n" {
		t.Fatalf("got %q", out)
	}
	st := srv.Stats()
	if st.BytesIn != 14 || st.BytesOut != uint64(len(out)) {
		t.Fatalf("byte counts %+v", st)
	}
}
