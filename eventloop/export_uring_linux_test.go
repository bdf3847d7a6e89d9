package eventloop

// SetURingSizes sets the sizes of the rings of loops created after the
// call: submission and completion entries, provided buffers and their
// size (small ones provoke a full completion ring and ENOBUFS). It
// returns a function that restores the previous sizes.
// With inc the buffers are consumed incrementally (Linux 6.12), else one
// a receive.
func SetURingSizes(sq, cq uint32, bufs, bufSize int, inc bool) (restore func()) {
	a, b, c, d := uringSQEntries, uringCQEntries, uringBufCount, uringBufSize
	e, f, g := uringBufInc, uringIncBufCount, uringIncBufSize
	uringSQEntries, uringCQEntries, uringBufCount, uringBufSize = sq, cq, bufs, bufSize
	uringBufInc, uringIncBufCount, uringIncBufSize = inc, bufs, bufSize
	return func() {
		uringSQEntries, uringCQEntries, uringBufCount, uringBufSize = a, b, c, d
		uringBufInc, uringIncBufCount, uringIncBufSize = e, f, g
	}
}

// URingState is what a loop's io_uring backend holds at a moment.
type URingState struct {
	InFlight    int  // requests whose last completion has not come (the wake-up read and the accepts included)
	Accepting   int  // listeners with an accept armed
	Receiving   int  // connections with a receive armed
	Sending     int  // connections with a send in flight
	BuffersOut  int  // provided buffers the kernel has handed out and the loop has not given back
	Held        int  // chunks kept for sends in flight on closed connections
	ClosedSlots int  // closed connections whose descriptor waits for its last completion
	Incremental bool // the provided buffers are consumed incrementally
}

// URingStates returns the state of each io_uring loop of e, read on the
// loops themselves (nil for an epoll engine).
func URingStates(e *Engine) []URingState {
	e.mu.Lock()
	loops := e.loops
	e.mu.Unlock()
	var out []URingState
	for _, l := range loops {
		if l.u == nil {
			continue
		}
		ch := make(chan URingState, 1)
		if l.submit(task{fn: func(l *loop) {
			u := l.u
			st := URingState{InFlight: u.inflight, BuffersOut: u.br.out, Held: len(u.held), Incremental: u.br.inc}
			for _, s := range u.st {
				switch {
				case s&stClosed != 0:
					st.ClosedSlots++
				case s&stListener != 0 && s&stArmed != 0:
					st.Accepting++
				case s&stArmed != 0:
					st.Receiving++
				}
				if s&stSend != 0 && s&stClosed == 0 {
					st.Sending++
				}
			}
			ch <- st
		}}) != nil {
			continue
		}
		out = append(out, <-ch)
	}
	return out
}
