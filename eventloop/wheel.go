package eventloop

// wheel is a hashed timing wheel for idle timeouts. A connection sits in
// the slot of the tick at which it would expire. Activity does not move it:
// it only stamps the connection's last tick, and when its slot comes round
// the wheel either expires it or files it again for its new expiry. So the
// busy path costs one store per event, and there is no timer per
// connection.
type wheel struct {
	slots []wheelNode // list heads
	ttl   uint32      // ticks a connection may stay idle
	now   uint32      // current tick
}

// wheelNode links a connection into a slot's circular list.
type wheelNode struct {
	prev, next *wheelNode
	c          *Conn
}

func newWheel(ttl uint32) *wheel {
	n := 1
	for n <= int(ttl) {
		n <<= 1
	}
	w := &wheel{slots: make([]wheelNode, n), ttl: ttl}
	for i := range w.slots {
		w.slots[i].prev, w.slots[i].next = &w.slots[i], &w.slots[i]
	}
	return w
}

func (w *wheel) insert(n *wheelNode, expires uint32) {
	head := &w.slots[expires&uint32(len(w.slots)-1)]
	n.prev, n.next = head.prev, head
	head.prev.next = n
	head.prev = n
}

func (w *wheel) remove(n *wheelNode) {
	if n.next == nil {
		return
	}
	n.prev.next, n.next.prev = n.next, n.prev
	n.prev, n.next = nil, nil
}

// advance moves to the next tick and calls expire for each connection idle
// for ttl ticks or more; the others are filed again.
func (w *wheel) advance(lastActive func(*Conn) uint32, expire func(*Conn)) {
	w.now++
	head := &w.slots[w.now&uint32(len(w.slots)-1)]
	n := head.next
	for n != head {
		next := n.next
		c := n.c
		last := lastActive(c)
		if w.now-last >= w.ttl {
			w.remove(n)
			expire(c)
		} else if due := last + w.ttl; due&uint32(len(w.slots)-1) != w.now&uint32(len(w.slots)-1) {
			w.remove(n)
			w.insert(n, due)
		}
		n = next
	}
}
