package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/socketkit/socketkit/socket"
	ss "github.com/socketkit/socketkit/socketserver"
)

// The one chat room of sock: "sock serve chat" (on socketserver and on the
// event-loop engine), "sock listen --chat" and "--broker", and the fan-out
// of stdin to the clients of "sock listen -k".
//
// What the clients of a chat room read, one line each:
//
//	* you are NAME; N in the room      to a client that joins
//	* NAME joined                      to the others
//	NAME: TEXT                         a line TEXT from NAME
//	* NAME left                        NAME disconnected
//	* NAME left: SendQ exceeded ...    NAME was disconnected for not reading
//
// NAME is the client's address. A broker room (--broker) relays the bytes
// as they come, with no names and no announcements but the last one. The
// fan-out of -k sends stdin to its clients and tells them nothing.
//
// Each client has a bounded output queue, IRC's SendQ. While a client's
// queue is full the sender waits for it, so that a client that reads slower
// than another sends slows the room down instead of being dropped; but a
// client whose queue stays full without taking a byte for sendQStall is
// disconnected, and the others are told why, instead of every other client
// waiting for it. On the engine, whose callbacks must not wait, a client is
// disconnected as soon as its queue is full.

// sendQ is the most output a client may leave unread (on the engine, the
// engine's HighWatermark, also 1 MiB).
const sendQ = 1 << 20

// sendQStall is how long a full queue may go without a byte taken before
// its client is disconnected.
const sendQStall = 5 * time.Second

// maxChatLine is the longest line a chat client may send.
const maxChatLine = 64 << 10

// chatPeerTTL is how long a datagram client keeps getting messages after
// it last sent one.
const chatPeerTTL = 10 * time.Minute

// roomClient is one client of a room, as the room sees it.
type roomClient interface {
	// send queues msg for the client without blocking; the room never
	// changes msg afterwards. It returns false when the client's queue
	// is over its bound.
	send(msg []byte) bool
	// drop disconnects the client at once, discarding what is queued.
	drop()
}

// waitingClient is a roomClient whose sender may wait for room in its
// queue.
type waitingClient interface {
	roomClient
	// sendWait queues msg once there is room and returns true, or returns
	// false if the client has taken nothing for stall.
	sendWait(msg []byte, stall time.Duration) bool
}

// room relays what each client says to every other client.
type room struct {
	kind  roomKind
	logf  func(format string, args ...any) // joins and leaves, for -v
	warnf func(format string, args ...any) // disconnections; may be nil
	stall time.Duration                    // how long a full queue may take nothing (sendQStall)

	mu      sync.Mutex
	clients map[roomClient]string // the client's name
	peers   map[string]chatPeer   // datagram clients by address
}

type chatPeer struct {
	addr socket.Sockaddr
	seen time.Time
}

// roomKind is what a room tells its clients.
type roomKind int

const (
	chatRoom   roomKind = iota // greet, announce, name each line
	brokerRoom                 // relay bytes as they come; announce only disconnections
	fanoutRoom                 // relay, announce nothing
)

func newRoom(kind roomKind, logf func(string, ...any)) *room {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &room{kind: kind, logf: logf, stall: sendQStall, clients: map[roomClient]string{}, peers: map[string]chatPeer{}}
}

// join adds c, greets it and tells the others.
func (r *room) join(c roomClient, name string) {
	r.mu.Lock()
	r.clients[c] = name
	n := len(r.clients)
	r.mu.Unlock()
	r.logf("%s joined", name)
	if r.kind == chatRoom {
		if !c.send(fmt.Appendf(nil, "* you are %s; %d in the room\n", name, n)) {
			r.kick(c)
			return
		}
		r.broadcast(c, fmt.Appendf(nil, "* %s joined\n", name))
	}
}

// leave removes c, if it is still in the room, and tells the others.
func (r *room) leave(c roomClient) {
	r.mu.Lock()
	name, ok := r.clients[c]
	delete(r.clients, c)
	r.mu.Unlock()
	if !ok {
		return
	}
	r.logf("%s left", name)
	if r.kind == chatRoom {
		r.broadcast(c, fmt.Appendf(nil, "* %s left\n", name))
	}
}

// kick disconnects a client whose queue overflowed and tells the others.
func (r *room) kick(c roomClient) {
	r.mu.Lock()
	name, ok := r.clients[c]
	delete(r.clients, c)
	r.mu.Unlock()
	if !ok {
		return
	}
	c.drop()
	why := fmt.Sprintf("SendQ exceeded (%s unread)", humanBytes(sendQ))
	if _, ok := c.(waitingClient); ok {
		why = fmt.Sprintf("SendQ exceeded (%s unread for %v)", humanBytes(sendQ), r.stall)
	}
	if r.warnf != nil {
		r.warnf("disconnected %s: %s", name, why)
	}
	if r.kind != fanoutRoom {
		r.broadcast(c, fmt.Appendf(nil, "* %s left: %s\n", name, why))
	}
}

// say relays a line (chat) or a chunk of bytes (broker) from a client.
func (r *room) say(from roomClient, b []byte) {
	r.mu.Lock()
	name, ok := r.clients[from]
	r.mu.Unlock()
	if !ok {
		return // disconnected meanwhile
	}
	if r.kind != chatRoom {
		r.broadcast(from, append([]byte(nil), b...))
		return
	}
	msg := make([]byte, 0, len(name)+len(b)+3)
	msg = append(append(append(append(msg, name...), ": "...), b...), '\n')
	r.broadcast(from, msg)
}

// broadcast queues msg for every client but from (nil: for all). It waits
// for clients whose queue is full, and disconnects those that take nothing
// meanwhile (and engine clients at once).
func (r *room) broadcast(from roomClient, msg []byte) {
	var full []roomClient
	r.mu.Lock()
	for c := range r.clients {
		if c != from && !c.send(msg) {
			full = append(full, c)
		}
	}
	r.mu.Unlock()
	for _, c := range full {
		if w, ok := c.(waitingClient); ok && w.sendWait(msg, r.stall) {
			continue
		}
		r.kick(c)
	}
}

// Handle serves one client of the room on socketserver: a connection of a
// stream server, or a datagram.
func (r *room) Handle(ctx context.Context, req *ss.Request) error {
	if req.Conn == nil {
		return r.datagram(req)
	}
	return r.serveConn(req.Conn, clientName(req.ClientAddr, req.Socket), requestCloser(req))
}

// serveConn serves one stream client of the room on its own goroutine
// (socketserver, or the engine's blocking adapter): it reads the client
// while another goroutine writes its queue. closeNow closes c at once from
// any goroutine.
func (r *room) serveConn(c net.Conn, name string, closeNow func() error) error {
	q := newQueuedConn(c, closeNow)
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		q.run()
	}()
	r.join(q, name)
	var err error
	if r.kind == chatRoom {
		in := bufio.NewScanner(c)
		in.Buffer(make([]byte, 4096), maxChatLine)
		for in.Scan() {
			r.say(q, in.Bytes())
		}
		err = in.Err()
	} else {
		buf := make([]byte, 32<<10)
		for {
			n, rerr := c.Read(buf)
			if n > 0 {
				r.say(q, buf[:n])
			}
			if rerr != nil {
				if rerr != io.EOF {
					err = rerr
				}
				break
			}
		}
	}
	r.leave(q)
	// Send what is still queued for it, if it reads within sendQStall.
	c.SetWriteDeadline(time.Now().Add(sendQStall))
	q.finish()
	<-wrote
	return quietErr(err)
}

// datagram relays a datagram to the clients heard from in the last
// chatPeerTTL. The queue of a datagram client is the socket's send buffer.
func (r *room) datagram(req *ss.Request) error {
	if req.ClientAddr == nil || req.ClientAddr.String() == "" {
		return nil // an unbound Unix datagram client cannot be answered
	}
	now := time.Now()
	key := req.ClientAddr.String()
	var to []socket.Sockaddr
	r.mu.Lock()
	r.peers[key] = chatPeer{addr: req.ClientAddr, seen: now}
	keys := make([]string, 0, len(r.peers))
	for k := range r.peers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := r.peers[k]
		if now.Sub(p.seen) > chatPeerTTL {
			delete(r.peers, k)
			continue
		}
		if k != key {
			to = append(to, p.addr)
		}
	}
	r.mu.Unlock()
	msg := append([]byte(key+": "), req.Packet...)
	if r.kind != chatRoom {
		msg = req.Packet
	}
	for _, a := range to {
		req.SendTo(msg, a)
	}
	return nil
}

// requestCloser closes a request's connection at once, from any goroutine:
// the socket itself, so that a TLS connection sends no alert into a full
// buffer.
func requestCloser(req *ss.Request) func() error {
	if req.Socket != nil {
		return req.Socket.Close
	}
	return req.Conn.Close
}

// clientName is how a room names a client: its address, IPv4 clients of a
// dual-stack listener as plain IPv4; an unnamed Unix client by descriptor.
func clientName(addr socket.Sockaddr, s *socket.Socket) string {
	if (addr == nil || addr.String() == "") && s != nil {
		return fmt.Sprintf("fd%d", s.Fd())
	}
	return displayAddr(addr)
}

// queuedConn is a room client on a goroutine-per-connection server: its
// output waits in a queue of at most sendQ bytes, and run writes the queue
// to the connection.
type queuedConn struct {
	w       io.Writer
	close   func() error
	wake    chan struct{} // 1-buffered: the queue has something, or is finished
	oneEach bool          // each message its own write (a WebSocket message), never gathered

	mu       sync.Mutex
	queue    [][]byte
	pending  int           // bytes queued or being written
	done     bool          // finished or dropped: take no more
	wrote    time.Time     // when a write last completed, or the queue last became non-empty
	progress chan struct{} // closed (and replaced) when a write completes
}

func newQueuedConn(w io.Writer, close func() error) *queuedConn {
	return &queuedConn{w: w, close: close, wake: make(chan struct{}, 1), wrote: time.Now(), progress: make(chan struct{})}
}

func (q *queuedConn) send(msg []byte) bool {
	q.mu.Lock()
	ok := q.put(msg)
	q.mu.Unlock()
	if ok {
		q.poke()
	}
	return ok
}

// put queues msg if there is room (a message larger than the whole queue
// goes into an empty one); with q.mu held.
func (q *queuedConn) put(msg []byte) bool {
	if q.done {
		return true // leaving anyway
	}
	if q.pending > 0 && q.pending+len(msg) > sendQ {
		return false
	}
	if q.pending == 0 {
		q.wrote = time.Now() // the writer was idle: the stall clock starts now
	}
	q.queue = append(q.queue, msg)
	q.pending += len(msg)
	return true
}

func (q *queuedConn) sendWait(msg []byte, stall time.Duration) bool {
	for {
		q.mu.Lock()
		if q.put(msg) {
			q.mu.Unlock()
			q.poke()
			return true
		}
		left := stall - time.Since(q.wrote)
		progress := q.progress
		q.mu.Unlock()
		if left <= 0 {
			return false
		}
		t := time.NewTimer(left)
		select {
		case <-progress:
		case <-t.C:
		}
		t.Stop()
	}
}

func (q *queuedConn) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// drop discards the queue and closes the connection, which ends the
// client's reader and a blocked write.
func (q *queuedConn) drop() {
	q.mu.Lock()
	q.done = true
	q.queue = nil
	q.mu.Unlock()
	q.poke()
	q.close()
}

// finish takes no more messages; run returns once the queue is written.
func (q *queuedConn) finish() {
	q.mu.Lock()
	q.done = true
	q.mu.Unlock()
	q.poke()
}

// run writes the queue to the connection, small messages gathered into
// writes of up to 64 KiB, until finish or drop, or until a write fails (the
// client is gone: the connection is closed).
func (q *queuedConn) run() {
	const gather = 64 << 10
	var buf []byte
	write := func(b []byte) bool {
		if _, err := q.w.Write(b); err != nil {
			q.drop()
			return false
		}
		q.mu.Lock()
		q.pending -= len(b)
		q.wrote = time.Now()
		close(q.progress)
		q.progress = make(chan struct{})
		q.mu.Unlock()
		return true
	}
	for {
		q.mu.Lock()
		batch, done := q.queue, q.done
		q.queue = nil
		q.mu.Unlock()
		if len(batch) == 0 {
			if done {
				return
			}
			<-q.wake
			continue
		}
		for _, m := range batch {
			if len(buf) > 0 && len(buf)+len(m) > gather {
				if !write(buf) {
					return
				}
				buf = buf[:0]
			}
			if len(m) >= gather || q.oneEach {
				if !write(m) {
					return
				}
				continue
			}
			buf = append(buf, m...)
		}
		if len(buf) > 0 {
			if !write(buf) {
				return
			}
			buf = buf[:0]
		}
	}
}
