package eventloop

import "sync"

// task is work handed to a loop from another goroutine (loop.submit).
type task struct {
	fn   func(*loop)
	c    *Conn
	gen  uint32
	data []byte  // taskWrite: a copy of the caller's bytes
	buf  *[]byte // taskWrite: data's pooled buffer, if it has one
	done func(c *Conn, err error)
	kind uint8
}

const (
	taskFunc  uint8 = iota // run fn on the loop
	taskWrite              // AsyncWrite
	taskClose              // AsyncClose
	taskWake               // Wake
)

// settle ends a task that did not run, or a write that did (err nil): a
// write's bytes leave the connection's queued count (write counted them
// again when it took them) and its buffer goes back to the pool; then
// done is told.
func (t *task) settle(err error) {
	if t.kind == taskWrite {
		t.c.queued.Add(-int64(len(t.data)))
		putAsyncBuf(t.buf)
	}
	if t.done != nil {
		t.done(t.c, err)
	}
}

// asyncBufs holds the buffers AsyncWrite copies into, so that a write from
// another goroutine allocates nothing once the pool is warm. Buffers come
// in one size; longer writes get a buffer of their own.
var asyncBufs = sync.Pool{New: func() any { b := make([]byte, asyncBufSize); return &b }}

const asyncBufSize = 16 << 10

func getAsyncBuf(n int) *[]byte {
	if n > asyncBufSize {
		return nil
	}
	return asyncBufs.Get().(*[]byte)
}

func putAsyncBuf(b *[]byte) {
	if b != nil {
		asyncBufs.Put(b)
	}
}
