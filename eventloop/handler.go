package eventloop

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/socketkit/socketkit/socket"
)

// Action tells the engine what to do after a callback.
type Action int

// Actions.
const (
	None     Action = iota // None: carry on.
	Close                  // Close: close the connection (after sending its pending output).
	Shutdown               // Shutdown: shut the whole engine down gracefully.
)

// Handler is what the engine calls. Every method runs on the loop that owns
// the connection (see the package documentation) and must not block.
type Handler interface {
	// OnOpen is called for a new connection, before any OnData.
	OnOpen(c *Conn) Action
	// OnData is called when c has inbound data: read it with Read, Peek,
	// Next or Discard. Data left unread is offered again with the next call.
	OnData(c *Conn) Action
	// OnClose is called once, when c is closed: err is nil for an orderly
	// close by either side, the cause otherwise (a reset, an idle timeout
	// wrapping ErrIdleTimeout, engine shutdown).
	OnClose(c *Conn, err error)
}

// Writabler is a Handler that wants to know when a connection's output,
// having been above LowWatermark, has drained to it: the moment to produce
// more for a client that takes its time.
type Writabler interface {
	OnWritable(c *Conn) Action
}

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

// BaseHandler implements Handler with methods that do nothing; embed it
// and override what you need.
type BaseHandler struct{}

// OnOpen does nothing.
func (BaseHandler) OnOpen(c *Conn) Action { return None }

// OnData discards the data.
func (BaseHandler) OnData(c *Conn) Action { c.Discard(-1); return None }

// OnClose does nothing.
func (BaseHandler) OnClose(c *Conn, err error) {}

// Errors.
var (
	// ErrEngineClosed is returned by Serve after Shutdown or Close, and by
	// AsyncWrite on a closed engine.
	ErrEngineClosed = errors.New("eventloop: engine closed")
	// ErrConnClosed is returned for operations on a closed connection.
	ErrConnClosed = errors.New("eventloop: connection closed")
	// ErrIdleTimeout is the OnClose cause of a connection closed for being
	// idle longer than IdleTimeout.
	ErrIdleTimeout = errors.New("eventloop: idle timeout")
	// ErrOutboundFull is returned by AsyncWrite when the connection's
	// output is over HighWatermark.
	ErrOutboundFull = errors.New("eventloop: outbound buffer over the high watermark")
	// ErrWrongLoop reports a connection method called where it may not be.
	ErrWrongLoop = errors.New("eventloop: method called outside the connection's callbacks")
)

// Engine runs event loops for a listening socket. Set the fields, then
// call Serve or ListenAndServe. The zero values are the documented
// defaults.
type Engine struct {
	// Handler receives the events. Required.
	Handler Handler
	// Loops is the number of event loops; 0 means GOMAXPROCS.
	Loops int
	// ReusePort makes ListenAndServe open one SO_REUSEPORT listener per
	// loop, so that the kernel spreads new connections over the loops.
	// Without it, one listener is watched by every loop (EPOLLEXCLUSIVE) and
	// the loop that wakes accepts.
	ReusePort bool
	// Nagle leaves Nagle's algorithm on for accepted TCP connections. By
	// default the engine sets TCP_NODELAY on each, as Go's net package
	// does: an answer goes out when it is written, instead of waiting for
	// the peer to acknowledge the previous one.
	Nagle bool
	// IdleTimeout closes connections that have received nothing for this
	// long (checked on a timing wheel, at a resolution of about an eighth
	// of it); 0 means never.
	IdleTimeout time.Duration
	// HighWatermark is the outbound bytes above which the loop stops reading
	// from a connection; 0 means 1 MiB. LowWatermark is where it reads
	// again and calls OnWritable; 0 means a quarter of HighWatermark.
	HighWatermark, LowWatermark int
	// ReadBufferSize is the size of each loop's read buffer; 0 means 64 KiB.
	ReadBufferSize int
	// TickInterval is when OnTick is first called; 0 means 1s.
	TickInterval time.Duration
	// MaxConns closes new connections beyond this many at once; 0 means no
	// cap.
	MaxConns int
	// Logger receives accept errors and callback panics; nil means
	// slog.Default().
	Logger *slog.Logger

	mu        sync.Mutex
	loops     []*loop
	listeners []*socket.Socket
	started   bool
	noAccept  bool // StopAccept was called
	closing   atomic.Bool
	done      chan struct{}
	stats     engineStats
	loopStats []*loopStats
}

type engineStats struct {
	accepted, closed, rejected atomic.Uint64
	acceptErrors               atomic.Uint64
	active                     atomic.Int64
}

// loopStats are a loop's own counters, on their own cache lines so that
// loops do not contend; Stats sums them.
type loopStats struct {
	_                 [64]byte
	bytesIn, bytesOut atomic.Uint64
	_                 [48]byte
}

// Stats is a snapshot of an engine's counters.
type Stats struct {
	Accepted, Closed, Rejected uint64
	AcceptErrors               uint64 // accept(2) failures for want of descriptors or memory (accepting paused)
	Active                     int64
	BytesIn, BytesOut          uint64
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	st := Stats{Accepted: e.stats.accepted.Load(), Closed: e.stats.closed.Load(), Rejected: e.stats.rejected.Load(),
		AcceptErrors: e.stats.acceptErrors.Load(),
		Active:       e.stats.active.Load()}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, l := range e.loopStats {
		st.BytesIn += l.bytesIn.Load()
		st.BytesOut += l.bytesOut.Load()
	}
	return st
}

func (e *Engine) logger() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.Default()
}

func (e *Engine) highWatermark() int {
	if e.HighWatermark > 0 {
		return e.HighWatermark
	}
	return 1 << 20
}

func (e *Engine) lowWatermark() int {
	if e.LowWatermark > 0 {
		return e.LowWatermark
	}
	return e.highWatermark() / 4
}
