//go:build linux

package eventloop_test

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/internal/sockettest"
)

// exactProducer writes exactly the low watermark's worth of output in
// OnOpen and in each OnWritable, n times in all.
type exactProducer struct {
	eventloop.BaseHandler
	block []byte
	left  atomic.Int64
}

func (p *exactProducer) produce(c *eventloop.Conn) eventloop.Action {
	if p.left.Add(-1) >= 0 {
		c.Write(p.block)
	}
	return eventloop.None
}

func (p *exactProducer) OnOpen(c *eventloop.Conn) eventloop.Action     { return p.produce(c) }
func (p *exactProducer) OnWritable(c *eventloop.Conn) eventloop.Action { return p.produce(c) }

// TestOnWritableAtLowWatermark: a producer that leaves its output exactly
// at the low watermark is owed an OnWritable when it drains, as one that
// leaves it above is; otherwise it is never called again and the stream
// stops (sock serve chargen on io_uring stopped after 57,589,760 bytes,
// where its top-up landed exactly on 256 KiB).
func TestOnWritableAtLowWatermark(t *testing.T) {
	sockettest.LeakCheck(t)
	const low, rounds = 64 << 10, 64
	p := &exactProducer{block: make([]byte, low)}
	p.left.Store(rounds)
	e := &eventloop.Engine{Handler: p, Loops: 1, HighWatermark: 4 * low, LowWatermark: low}
	addr, stop := start(t, e, "tcp", "127.0.0.1:0")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.CopyN(io.Discard, c, rounds*low)
	if err != nil {
		t.Fatalf("read %d of %d bytes (%d of %d blocks): %v", n, rounds*low, n/low, rounds, err)
	}
	c.Close()
	stop()
}
