//go:build linux

package eventloop_test

import (
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/internal/sockettest"
)

// smallSendBuffer echoes with a send buffer of a few KiB (SO_SNDBUF, which
// also ends its autotuning).
type smallSendBuffer struct{ echo }

func (smallSendBuffer) OnOpen(c *eventloop.Conn) eventloop.Action {
	syscall.SetsockoptInt(c.Fd(), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096)
	return eventloop.None
}

// TestNonReaderDoesNotHoldOthers: a client that never reads while the
// server answers it does not delay another client's answers. The
// non-reader's answers fill its receive buffer and the server's send
// buffer (both made small) until one answer can no longer be sent; meanwhile the other
// client makes one request at a time, each after the server has taken
// the non-reader's last message, and each is answered within a second.
// On io_uring a round's wait once counted the completion of every send it
// submitted among those it waited for, with no time limit: the send that
// could not complete made the other client's lone request wait for a
// second completion, which never came.
func TestNonReaderDoesNotHoldOthers(t *testing.T) {
	e := &eventloop.Engine{Loops: 1, Handler: smallSendBuffer{}, HighWatermark: 64 << 20}
	addr, stop := start(t, e, "tcp", "127.0.0.1:0")
	defer stop()
	// A small receive buffer closes the non-reader's window soon.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	nonReader, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nonReader.Close()
	reader, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	msg := make([]byte, 1024)
	answer := make([]byte, 1)
	const messages = 256 // 256 KiB: more than both buffers hold
	for i := range messages {
		in := e.Stats().BytesIn
		nonReader.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := nonReader.Write(msg); err != nil {
			t.Fatalf("message %d of the client that does not read: %v", i, err)
		}
		sockettest.WaitFor(t, "the server takes the message of the client that does not read", func() bool {
			return e.Stats().BytesIn >= in+uint64(len(msg))
		})
		reader.SetDeadline(time.Now().Add(time.Second))
		if _, err := reader.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(reader, answer); err != nil {
			t.Fatalf("request %d of the client that reads, with %d KiB sent to one that does not, not answered within a second: %v (%s)", i, i+1, err, backendOf(e))
		}
		if answer[0] != byte(i) {
			t.Fatalf("answer %d is %d", i, answer[0])
		}
	}
}
