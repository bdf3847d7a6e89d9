package eventloop

import (
	"slices"
	"testing"
)

// The timing wheel is internal, so its test is too: the engine's idle
// timeout test (TestIdleTimeout) covers it from outside.

// wheelConn makes a connection known by its descriptor, filed on w as
// register files a new one.
func wheelConn(w *wheel, fd int32) *Conn {
	c := &Conn{fd: fd, lastTick: w.now}
	c.node.c = c
	w.insert(&c.node, w.now+w.ttl)
	return c
}

// run advances w by ticks and returns the descriptors expired at each.
func run(w *wheel, ticks int) [][]int32 {
	var out [][]int32
	for range ticks {
		var got []int32
		w.advance(func(c *Conn) uint32 { return c.lastTick }, func(c *Conn) { got = append(got, c.fd) })
		slices.Sort(got)
		out = append(out, got)
	}
	return out
}

func TestWheel(t *testing.T) {
	cases := []struct {
		name  string
		ttl   uint32
		start uint32 // the wheel's tick when the connections are filed
		// act runs after each tick (1-based) and may touch connections.
		act  func(tick int, w *wheel, cs []*Conn)
		n    int       // connections
		want [][]int32 // expired per tick, for len(want) ticks
	}{
		{
			name: "all idle expire together after ttl ticks",
			ttl:  3, n: 3,
			want: [][]int32{nil, nil, {0, 1, 2}, nil},
		},
		{
			name: "activity postpones expiry by ttl from the last activity",
			ttl:  3, n: 2,
			act: func(tick int, w *wheel, cs []*Conn) {
				if tick == 2 {
					cs[1].lastTick = w.now
				}
			},
			want: [][]int32{nil, nil, {0}, nil, {1}, nil},
		},
		{
			name: "activity every tick never expires",
			ttl:  2, n: 1,
			act:  func(tick int, w *wheel, cs []*Conn) { cs[0].lastTick = w.now },
			want: [][]int32{nil, nil, nil, nil, nil, nil, nil, nil},
		},
		{
			name: "removed connections never expire",
			ttl:  2, n: 3,
			act: func(tick int, w *wheel, cs []*Conn) {
				if tick == 1 {
					w.remove(&cs[1].node)
					w.remove(&cs[1].node) // twice is harmless
				}
			},
			want: [][]int32{nil, {0, 2}, nil},
		},
		{
			name: "a ttl one short of the slot count (activity files a node in its own slot)",
			ttl:  7, n: 1, // 8 slots
			act: func(tick int, w *wheel, cs []*Conn) {
				if tick == 6 {
					cs[0].lastTick = w.now
				}
			},
			want: [][]int32{nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, {0}, nil},
		},
		{
			name: "the tick counter wraps around",
			ttl:  4, start: 1<<32 - 2, n: 2,
			act: func(tick int, w *wheel, cs []*Conn) {
				if tick == 3 {
					cs[1].lastTick = w.now
				}
			},
			want: [][]int32{nil, nil, nil, {0}, nil, nil, {1}, nil},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWheel(tc.ttl)
			if n := len(w.slots); n <= int(tc.ttl) || n&(n-1) != 0 {
				t.Fatalf("%d slots for a ttl of %d: want a power of two above it", n, tc.ttl)
			}
			w.now = tc.start
			var cs []*Conn
			for i := range tc.n {
				cs = append(cs, wheelConn(w, int32(i)))
			}
			var got [][]int32
			for tick := 1; tick <= len(tc.want); tick++ {
				got = append(got, run(w, 1)...)
				if tc.act != nil {
					tc.act(tick, w, cs)
				}
			}
			for i := range tc.want {
				if !slices.Equal(got[i], tc.want[i]) {
					t.Fatalf("expired per tick = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// TestWheelMany: ten thousand connections filed over a range of ticks
// each expire once, exactly ttl ticks after they were filed.
func TestWheelMany(t *testing.T) {
	const ttl, n = 50, 10000
	w := newWheel(ttl)
	filedAt := make(map[int32]uint32)
	expired := make(map[int32]uint32)
	expire := func(c *Conn) {
		if _, again := expired[c.fd]; again {
			t.Fatalf("connection %d expired twice", c.fd)
		}
		expired[c.fd] = w.now
	}
	for i := range int32(n) {
		if i%100 == 0 {
			w.advance(func(c *Conn) uint32 { return c.lastTick }, expire)
		}
		filedAt[i] = w.now
		wheelConn(w, i)
	}
	for range 2 * ttl {
		w.advance(func(c *Conn) uint32 { return c.lastTick }, expire)
	}
	if len(expired) != n {
		t.Fatalf("%d of %d expired", len(expired), n)
	}
	for fd, at := range expired {
		if at-filedAt[fd] != ttl {
			t.Fatalf("connection %d filed at %d expired at %d; ttl %d", fd, filedAt[fd], at, ttl)
		}
	}
}
