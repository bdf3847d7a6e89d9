package eventloop

import (
	"net/netip"
	"time"
)

// Action tells the engine what to do after a callback.
type Action int

// Actions.
const (
	None     Action = iota // None: carry on.
	Close                  // Close: close the connection (after sending its pending output).
	Shutdown               // Shutdown: shut the whole engine down gracefully (Engine.Shutdown, without waiting).
	// StopAccepting: stop taking new connections on every loop and leave
	// the open ones alone (Engine.StopAccept, without waiting).
	StopAccepting
)

// Handler is what the engine calls. Every method runs on the loop that owns
// the connection (see the package documentation) and must not block.
type Handler interface {
	// OnOpen is called for a new connection, before any OnData.
	OnOpen(c *Conn) Action
	// OnData is called when c has inbound data, or when Wake asks: read
	// it with Read, Peek, Next or Discard. Data left unread is offered
	// again with the next call, whatever brings it (see the package
	// documentation).
	OnData(c *Conn) Action
	// OnClose is called once, when c is closed, and never inside another
	// callback: err is nil for an orderly close by either side, the cause
	// otherwise (an *os.SyscallError for a failed read or write,
	// ErrIdleTimeout, ErrInboundFull, a *PanicError, ErrEngineClosed for
	// the connections left when the engine stops).
	OnClose(c *Conn, err error)
}

// WritableHandler is a Handler that wants to know when a connection's
// output, having been at or above LowWatermark, has drained to it: the
// moment to produce more for a client that takes its time. OnWritable
// runs on the connection's loop, as every callback does.
type WritableHandler interface {
	OnWritable(c *Conn) Action
}

// Writabler is the former name of WritableHandler.
//
// Deprecated: use WritableHandler.
type Writabler = WritableHandler

// EOFHandler is a Handler that wants to know when the peer shuts down its
// sending side (half-close). Returning None keeps the connection open for
// writing until the handler closes it; without this method the engine
// closes the connection, once its pending output is sent.
type EOFHandler interface {
	OnEOF(c *Conn) Action
}

// Ticker is a Handler with a periodic task. OnTick runs on loop 0 at the
// interval it returns (0 stops the ticker); the first call comes
// TickInterval after the engine starts.
type Ticker interface {
	OnTick() (next time.Duration, action Action)
}

// PacketHandler handles datagrams on a UDP engine.
type PacketHandler interface {
	OnPacket(p *Packet) Action
}

// Packet is one datagram on a UDP engine. Its Data is valid only during
// OnPacket.
type Packet struct {
	Data []byte
	From netip.AddrPort
	l    *loop
}

// Reply queues b (copied) to be sent back to From when the batch of
// datagrams being handled is done, with one sendmmsg(2) for the batch.
// Call it in OnPacket. A reply the socket has no room for is dropped, as
// a full UDP socket drops datagrams.
func (p *Packet) Reply(b []byte) error { return p.l.reply(p, b) }

// BaseHandler implements Handler with methods that do nothing; embed it
// and override what you need.
type BaseHandler struct{}

// OnOpen does nothing.
func (BaseHandler) OnOpen(c *Conn) Action { return None }

// OnData discards the data.
func (BaseHandler) OnData(c *Conn) Action { c.Discard(-1); return None }

// OnClose does nothing.
func (BaseHandler) OnClose(c *Conn, err error) {}
