package eventloop

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/socketkit/socketkit/socket"
)

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
	// ErrOutboundFull is returned by Write and Writev when the output would
	// grow past MaxOutbound, and by AsyncWrite while it is over
	// HighWatermark.
	ErrOutboundFull = errors.New("eventloop: outbound buffer full")
	// ErrInboundFull is the OnClose cause of a connection closed because
	// its handler left more than MaxInbound bytes unread.
	ErrInboundFull = errors.New("eventloop: unread inbound data over MaxInbound")
	// ErrWrongLoop reports a connection method called where it may not be.
	ErrWrongLoop = errors.New("eventloop: method called outside the connection's callbacks")
)

// Engine runs event loops for a listening socket. Set the fields, then
// call Serve or ListenAndServe. The zero values are the documented
// defaults.
type Engine struct {
	// Handler receives the events. Required.
	Handler Handler
	// Backend is the kernel interface the loops use: BackendEpoll (the
	// zero value), BackendIOUring or BackendAuto. ResolvedBackend tells
	// which one Serve runs and why, if it is not the one asked for.
	Backend Backend
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
	// MaxOutbound bounds a connection's output: a Write that would take
	// it past this many bytes (when it already holds some) returns
	// ErrOutboundFull and queues nothing, so that a client that pipelines
	// requests and reads nothing cannot make the server buffer their
	// answers without bound (see the package documentation for the
	// handler's side). 0 means no bound: it is not on by default, since
	// a handler that ignores Write's error would lose what was refused.
	MaxOutbound int
	// MaxInbound bounds the input OnData may leave unread (a request that
	// has not fully arrived): past it the connection is closed and OnClose
	// gets ErrInboundFull. 0 means 4 MiB; a negative value means no bound.
	MaxInbound int
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

	// TLSConfig, when set, makes every accepted connection a TLS server
	// connection (crypto/tls): the handshake runs on the connection's
	// loop, OnOpen comes once it has succeeded, and the callbacks read
	// and write plaintext (see the package documentation, "TLS"). It
	// needs a certificate (Certificates, GetCertificate or
	// GetConfigForClient). Serve uses a clone of it.
	TLSConfig *tls.Config
	// TLSHandshakeTimeout closes a TLS connection whose handshake has not
	// completed this long after it was accepted; 0 means 10s.
	TLSHandshakeTimeout time.Duration

	mu        sync.Mutex
	loops     []*loop
	listeners []*socket.Socket
	started   bool
	ready     chan struct{} // see Ready
	readyDone bool          // ready is closed
	noAccept  atomic.Bool   // StopAccept was called: no loop starts another accept
	closing   atomic.Bool
	done      chan struct{}
	stats     engineStats
	loopStats []*loopStats

	tlsCfg     *tls.Config // TLSConfig's clone, set by Serve
	backend    Backend     // what Serve runs on (Backend resolved), under mu
	backendWhy string      // why backend is not Backend, if it is not
}

type engineStats struct {
	accepted, closed, rejected atomic.Uint64
	acceptErrors               atomic.Uint64
	active                     atomic.Int64
	handshakes, hsErrors       atomic.Uint64
}

// loopStats are a loop's own counters, padded to a cache line of their
// own on each side so that loops do not contend; Stats sums them.
type loopStats struct {
	_                       cacheLinePad
	bytesIn, bytesOut       atomic.Uint64
	cqOverflows, recvNoBufs atomic.Uint64
	accepted, closed        atomic.Uint64
	msgsIn, msgsOut         atomic.Uint64
	outbound                atomic.Int64 // bytes waiting in the loop's connections' output
	pauses, idleTimeouts    atomic.Uint64
	panics                  atomic.Uint64
	gathers                 atomic.Uint64 // waits of a busy loop that let input gather (busy.go; read by the tests)
	acceptErrs              [numAcceptCauses]atomic.Uint64
	_                       cacheLinePad
}

// Causes of accept errors, as LoopStats counts them.
const (
	causeEMFILE = iota
	causeENFILE
	causeENOBUFS
	causeENOMEM
	causeOther
	numAcceptCauses
)

// AcceptErrorCauses names LoopStats.AcceptErrors' entries: the errno of
// a failed accept(2), or "other".
var AcceptErrorCauses = [numAcceptCauses]string{"EMFILE", "ENFILE", "ENOBUFS", "ENOMEM", "other"}

// LoopStats are one loop's counters (Engine.LoopStats): what the loop's
// goroutine counts as it serves, read atomically, so that reading them
// costs the serving path nothing.
type LoopStats struct {
	Loop int // the loop's index, from 0
	// Accepted counts connections the loop accepted (datagrams, on a UDP
	// engine); Open is how many of its connections are open now.
	Accepted uint64
	Open     int64
	// BytesIn and BytesOut count payload bytes read and written
	// (datagram payloads on UDP; TLS records on a TLS engine).
	BytesIn, BytesOut uint64
	// MessagesIn counts reads that returned data (datagrams on UDP), and
	// MessagesOut writes (datagrams sent).
	MessagesIn, MessagesOut uint64
	// OutboundBuffered is the output written and not yet sent, summed
	// over the loop's connections. On io_uring a send's bytes count until
	// its completion is handled: on a connection in ping-pong with
	// nothing else happening, at the loop's next event (BytesOut counts
	// them when the send is made).
	OutboundBuffered int64
	// BackpressurePauses counts the times a connection's output went over
	// HighWatermark, so that the loop stopped reading from it.
	BackpressurePauses uint64
	// IdleTimeouts counts connections closed for IdleTimeout.
	IdleTimeouts uint64
	// Panics counts callbacks that panicked (recovered and logged).
	Panics uint64
	// AcceptErrors counts failed accepts by cause, named by
	// AcceptErrorCauses.
	AcceptErrors [numAcceptCauses]uint64
}

// LoopStats returns each loop's counters, in loop order; nil before
// Serve. It may be called from any goroutine, and takes only the
// engine's lock (not the loops').
func (e *Engine) LoopStats() []LoopStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]LoopStats, len(e.loopStats))
	for i, l := range e.loopStats {
		ls := LoopStats{Loop: i,
			Accepted: l.accepted.Load(), BytesIn: l.bytesIn.Load(), BytesOut: l.bytesOut.Load(),
			MessagesIn: l.msgsIn.Load(), MessagesOut: l.msgsOut.Load(), OutboundBuffered: l.outbound.Load(),
			BackpressurePauses: l.pauses.Load(), IdleTimeouts: l.idleTimeouts.Load(), Panics: l.panics.Load()}
		ls.Open = int64(ls.Accepted) - int64(l.closed.Load())
		for c := range ls.AcceptErrors {
			ls.AcceptErrors[c] = l.acceptErrs[c].Load()
		}
		out[i] = ls
	}
	return out
}

// cacheLine is the size of a CPU cache line on the platforms the engine
// runs on (amd64, arm64).
const cacheLine = 64

type cacheLinePad [cacheLine]byte

// Stats is a snapshot of an engine's counters.
type Stats struct {
	Accepted, Closed, Rejected uint64
	AcceptErrors               uint64 // accept(2) failures for want of descriptors or memory (accepting paused)
	Active                     int64
	BytesIn, BytesOut          uint64

	// io_uring backend: CQOverflows counts the rounds that found
	// completions waiting in the kernel's overflow list (the completion
	// ring was full: none is lost, but it is the slow path), RecvNoBuffers
	// the multishot receives that ended because every provided buffer was
	// in use (each is armed again; no data is lost).
	CQOverflows, RecvNoBuffers uint64

	// TLS: handshakes that succeeded and that failed (a failed one's
	// connection is closed; HandshakeErrorHandler hears why).
	TLSHandshakes, TLSHandshakeErrors uint64
}

// Stats returns the engine's counters. It may be called from any
// goroutine.
func (e *Engine) Stats() Stats {
	st := Stats{Accepted: e.stats.accepted.Load(), Closed: e.stats.closed.Load(), Rejected: e.stats.rejected.Load(),
		AcceptErrors:  e.stats.acceptErrors.Load(),
		Active:        e.stats.active.Load(),
		TLSHandshakes: e.stats.handshakes.Load(), TLSHandshakeErrors: e.stats.hsErrors.Load()}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, l := range e.loopStats {
		st.BytesIn += l.bytesIn.Load()
		st.BytesOut += l.bytesOut.Load()
		st.CQOverflows += l.cqOverflows.Load()
		st.RecvNoBuffers += l.recvNoBufs.Load()
	}
	return st
}

// Ready returns a channel that is closed once Serve serves: its listeners
// are watched (Addr returns the first one's address) and connections are
// accepted. It is closed too when Serve returns without serving (an
// error, or an engine closed before it ran), so a select on Ready and
// Serve's result never hangs. It may be called before Serve, from any
// goroutine.
func (e *Engine) Ready() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.readyChan()
}

// readyChan returns e.ready, making it; e.mu is held.
func (e *Engine) readyChan() chan struct{} {
	if e.ready == nil {
		e.ready = make(chan struct{})
	}
	return e.ready
}

// markReady closes the Ready channel, once; e.mu is held.
func (e *Engine) markReady() {
	if !e.readyDone {
		e.readyDone = true
		close(e.readyChan())
	}
}

// PanicError is the OnClose cause of a connection whose callback
// panicked: the engine recovers the panic, logs it with its stack and
// resets the connection (see the package documentation).
type PanicError struct {
	Callback string // "OnOpen", "OnData", ...
	Value    any    // what the callback panicked with
	Stack    []byte // the panicking goroutine's stack
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("eventloop: %s panicked: %v", e.Callback, e.Value)
}

// Unwrap returns the panic value if it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
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

func (e *Engine) maxOutbound() int { return max(e.MaxOutbound, 0) }

func (e *Engine) maxInbound() int {
	switch {
	case e.MaxInbound > 0:
		return e.MaxInbound
	case e.MaxInbound < 0:
		return 0
	}
	return 4 << 20
}

func (e *Engine) readBufferSize() int {
	if e.ReadBufferSize > 0 {
		return e.ReadBufferSize
	}
	return 64 << 10
}

func (e *Engine) tickInterval() time.Duration {
	if e.TickInterval > 0 {
		return e.TickInterval
	}
	return time.Second
}
