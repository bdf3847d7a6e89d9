// Package eventloop is an event-loop engine for socket servers (Linux):
// N loops, each a goroutine locked to its own OS thread that owns an epoll
// instance (or an io_uring instance, see Backends) and the connections
// assigned to it, and that calls your Handler as events arrive. It is the socketkit answer to gnet, nbio and
// evio: fewer system calls and wake-ups per message and a few hundred bytes
// per idle connection instead of a goroutine stack, plus what their users
// ask for: bounded output with back-pressure, writes from any goroutine,
// idle timeouts, graceful shutdown, UDP, and a net.Conn adapter for TLS and
// libraries.
//
// # Callbacks and goroutines
//
//	OnOpen(c)       a connection was accepted (with  on c's loop
//	                TLS: its handshake succeeded)
//	OnData(c)       c has inbound data (or Wake)     on c's loop
//	OnWritable(c)   c's output drained to the low    on c's loop
//	                watermark (optional interface)
//	OnEOF(c)        the peer shut down its side      on c's loop
//	                (optional interface)
//	OnClose(c, err) c is closed (err is nil for an   on c's loop
//	                orderly close by either side)
//	OnHandshakeError(c, err)  a TLS handshake failed on c's loop
//	                (optional interface)
//	OnTick()        the ticker fired                 on loop 0
//	OnPacket(p)     a datagram arrived (UDP)         on the loop owning the socket
//
// Callbacks of one connection never run at the same time, and they never
// run on two loops: a connection belongs to one loop for its whole life.
// No callback runs inside another: a connection closed during a callback
// (by Close, by a failed write, by a panic) gets its OnClose once that
// callback has returned. A callback must not block: it holds up every
// connection of its loop. Work that blocks goes to another goroutine,
// which answers with AsyncWrite (or uses the blocking adapter, NetConn).
//
// # Connection methods and where they may be called
//
//	Read, Peek, Next, Discard, Buffered   in OnData of c
//	Write, Writev, Close, CloseWrite,
//	  PauseRead, ResumeRead,
//	  ConnectionState                     in any callback of c's loop (c's
//	                                      own or another connection's)
//	AsyncWrite, AsyncClose, Wake,
//	  OutboundBuffered, Context,
//	  LocalAddr, RemoteAddr, Fd           anywhere
//
// Called where it may not be, a method returns ErrWrongLoop and changes
// nothing (Read, Peek, Next and Discard return nothing; Write sends
// nothing). The check is cheap, so it is not perfect: a call from another
// goroutine at the very moment c's loop runs a callback of its own is not
// told apart from a call by that callback. Each method's documentation
// lists what it returns.
//
// # Buffers
//
// Inbound data is read into a buffer the loop owns and lends to the
// connection in OnData: an idle connection holds no read buffer. Read
// copies out of it. Peek(n) and Next(n) return slices of it without
// copying; such a slice is valid only until OnData returns (or the next
// Read, Next or Discard). Bytes OnData leaves unread are kept for the next
// call (copied into a buffer of the connection's own, which is released as
// soon as it is empty), and every OnData is offered them, whatever brings
// it: more data, Wake, ResumeRead, or the output draining. Up to
// MaxInbound bytes may be left unread; past it the connection is closed
// with ErrInboundFull.
//
// Writes made in a callback are gathered and sent with one write(2) or
// writev(2) when the callback returns, so a request/response handler costs
// one read and one write per event. What the socket does not take at once
// waits in the connection's outbound buffer. Above HighWatermark the loop
// stops reading from the connection; below LowWatermark it reads again
// and calls OnWritable, the place to produce more output for a client
// that is slow to take it.
//
// # Back-pressure for pipelined requests
//
// A handler whose answers are no larger than the requests (an echo, a
// proxy) is bounded by the watermarks alone. One that answers small
// requests with large answers is not: a client can send many requests at
// once and read none of the answers, and the requests already read are
// answered in OnData even though reading has stopped. For such a handler,
// set MaxOutbound: Write then refuses, with ErrOutboundFull, to take the
// connection's output past it. The pattern for a pipelined protocol:
// parse a request with Peek, answer it, and only then consume it with
// Discard; when Write returns ErrOutboundFull, leave the request unread
// and return. Input left unread while output is pending is offered to
// OnData again once the output has drained to LowWatermark, with no new
// data needed. A client that does not read thus holds at most MaxOutbound
// of the server's memory, plus its socket buffers. If the peer shuts down
// its side after its last request, the connection stays open until those
// requests are answered (unless the handler has OnEOF, which then
// decides). Example_pipelining shows it. MaxOutbound is not on by
// default: a handler that ignores Write's error would lose what it
// refused.
//
// # Panics
//
// A callback that panics does not take the engine down: the panic is
// recovered and logged with its stack, and the connection is reset (its
// pending output is dropped and the peer gets an RST, not an orderly end,
// so that half an answer never looks complete). OnClose then gets a
// *PanicError with the panic value (errors.Is and errors.As reach a panic
// value that is an error). A panic in OnClose, OnTick or OnPacket is
// logged.
//
// # Stopping
//
// Shutdown, StopAccept and Close may be called from any goroutine,
// including from inside a callback and from a Blocking handler, and never
// deadlock. Close stops everything at once and does not wait. From
// outside the loops, Shutdown waits until the engine has stopped (or ctx
// ends) and StopAccept until no loop will accept again. A loop cannot
// wait for itself, nor for another loop that may be waiting for it: from
// inside a callback, Shutdown starts the shutdown and returns nil at once
// (Serve returns when it is done), and StopAccept stops its own loop in
// place and tells the others without waiting for them. The Shutdown and
// StopAccepting Actions do the same as these calls. Ready tells when
// Serve serves, so that nothing polls Addr.
//
// # Threads and the Go scheduler
//
// A loop's goroutine is locked to its OS thread (runtime.LockOSThread) and
// blocks in epoll_wait(2) as a system call, so the loop costs the kernel
// what a C event loop costs: one epoll_wait, one read and one write for a
// request and its answer. Reads and writes on the non-blocking sockets are
// raw system calls, which skip the scheduler's bookkeeping. Every 5ms at
// most, before it blocks, the loop passes through the Go scheduler: a
// goroutine that never does is, to the runtime's monitor thread, one that
// runs too long, and the monitor then takes the loop's P away at every
// epoll_wait and wakes every 20µs to do it again, a context switch or two
// a message (BENCHMARKS.md has the measurements).
//
// Leave the runtime a P: with GOMAXPROCS no more than the loops (Loops'
// default is GOMAXPROCS), no P is ever idle while the loops wait, and the
// monitor then takes the P of any wait that outlasts two of its ticks
// (20µs or more); the loop, locked to its thread, needs another thread
// to hand a P back when its wait returns, two futex wakeups and two
// context switches later. With one P idle it leaves a waiting loop alone.
// Measured with one connection in ping-pong on io_uring, one loop pinned
// to one CPU: GOMAXPROCS 1 made 1.1 nanosleep and 0.8 futex calls and
// 2.9 context switches a message, GOMAXPROCS 2 made 0.02, 0.17 and 1.4.
// sock serve sets GOMAXPROCS to the loops plus one unless the
// environment sets it.
//
// Accepting: with one listener (the default), every loop watches it with
// EPOLLEXCLUSIVE, so a new connection wakes one loop, which accepts it.
// With ReusePort each loop has a listener of its own (SO_REUSEPORT) and
// the kernel spreads connections by their addresses. When accept fails for
// want of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM), the loop
// stops watching its listeners for 5ms, doubling up to 1s, or until one of
// its connections closes and frees a descriptor; it never sleeps on the
// loop, so its other connections are served meanwhile. Stats counts these
// failures in AcceptErrors. Connections wait in the listen queue.
//
// # Backends
//
// Engine.Backend picks how the loops talk to the kernel; the Handler API
// and everything above hold on both.
//
// BackendEpoll (the default): readiness from epoll_wait(2), then read(2)
// and write(2) (or writev(2)) of the loop's own: three system calls for a
// request and its answer on one connection.
//
// BackendIOUring (Linux 6.1 or later): each loop owns an io_uring
// instance, created and entered only by its locked thread
// (IORING_SETUP_SINGLE_ISSUER and IORING_SETUP_DEFER_TASKRUN). A round of
// the loop is one io_uring_enter(2) that submits the round's sends and
// waits for completions. Accepting is a multishot accept per listener;
// receiving is a multishot receive per connection into one ring of
// provided buffers per loop (on Linux 6.12 and later 64 buffers of 64 KiB
// that receives fill one after another, IOU_PBUF_RING_INC, so that small
// messages share a buffer and a bulk receive still gets 64 KiB; before,
// 2048 buffers of 4 KiB, one a receive). Data leaves the ring only for
// the length of an OnData call, so an idle connection holds no buffer and
// a client that does not read cannot hoard them; a connection has at
// most one send in flight, and what is written meanwhile is sent with
// the next. Output chunks are mapped out of the Go heap, since the kernel
// reads them after the send is submitted. Other goroutines wake the loop
// through an eventfd that the ring reads; they never touch the ring. A
// closed connection's requests are canceled, and its descriptor is closed
// when the last of them completes. Stats counts the rounds that found
// the completion ring overflowed (CQOverflows) and the receives that ran
// out of buffers (RecvNoBuffers); neither loses data. UDP engines use
// epoll under every backend: recvmmsg(2) and sendmmsg(2) already take up
// to 32 datagrams a system call; so do SOCK_SEQPACKET engines, whose
// messages a receive into a provided buffer would cut at its size.
//
// On both backends a busy loop lets input gather before it takes it:
// io_uring waits for up to 64 completions within 50 µs, and epoll, when
// its last wait brought fewer than 64 events, sleeps until 50 µs have
// passed since that wait returned. Its requests then wait up to about
// 100 µs more (the 50 µs, and the thread's timer slack), and the loop
// takes many of them a system call and is woken less often, which its
// peers pay for on loopback. A loop is busy when of its last 256 inputs
// at least 32 came from distinct connections, and no more than half from
// connections that each sent more than 4: many clients, each waiting for
// an answer. The loop then checks that gathering does not slow its
// input: it compares the bytes read a second in 256 inputs that gathered
// with 256 that did not (the ones before busy began, then one probe
// after every 8 that gathered), and when two such comparisons in a row
// find the input more than 1.15 times as fast without gathering (a few
// clients in ping-pong whose every request the wait holds up, beside
// many other connections), busy ends. A loop with few active connections
// takes each input as it comes. Busy also ends at the next 256 inputs
// that do not qualify, or at once when 16 of its rounds in a row brought
// one input each (a lone client left after a busy phase); after a check
// or a lone client ended it, it may not start again for 256 inputs,
// twice that, four times... up to 64 times, each check that finds
// gathering did not slow the input taking 256 inputs off that again. A
// gathering wait also holds up tasks from other goroutines (AsyncWrite,
// Close) by up to its 50 µs, on epoll only when they come during it.
// When the loop is short of CPU (other processes on its cores) the check
// can miss gathering that slows a few clients, whose round trips then
// take up to 100 µs more.
//
// BackendAuto: io_uring where ProbeIOUring finds it usable, epoll
// otherwise (a kernel before 6.1, the kernel.io_uring_disabled sysctl, a
// seccomp filter such as Docker's default profile);
// Engine.ResolvedBackend says which, and why in one sentence when it fell
// back.
//
// # TLS
//
// With Engine.TLSConfig set, every accepted connection is a TLS server
// connection of crypto/tls, used through its public API only. The
// callbacks see plaintext through the same methods (Read, Peek, Next,
// Write, AsyncWrite...); what goes to the socket, and what the
// watermarks and OutboundBuffered count, are the TLS records. No
// goroutine serves a connection whose handshake is done.
//
// What runs where:
//
//   - The handshake runs on the connection's loop, as a coroutine
//     (iter.Pull): crypto/tls's Handshake reads from an in-memory
//     transport, which the loop fills with each read; when it has
//     consumed what came, the transport yields back to the loop, and the
//     loop resumes it with the next read. The coroutine's goroutine lives
//     as long as the handshake (it is parked while the loop waits for the
//     client), and the CPU of the handshake is the loop's: a handshake
//     holds up the loop's other connections for its duration (about
//     0.1-0.3 ms with an ECDSA P-256 certificate, more with RSA). So do
//     the config's callbacks, which run on the loop within it
//     (GetConfigForClient, GetCertificate, VerifyPeerCertificate...):
//     they must not block. A handshake that is not done
//     TLSHandshakeTimeout after the accept (10s by default) is closed
//     with ErrHandshakeTimeout, whatever the client sends meanwhile.
//     crypto/tls cannot be resumed after a failed read during its
//     handshake (it keeps the error), which is why the handshake is a
//     coroutine and not a state machine driven by reads.
//   - OnOpen comes when the handshake has succeeded (ConnectionState then
//     tells the version, the ALPN protocol, the SNI name and the client's
//     certificates). A connection whose handshake fails never gets OnOpen
//     nor OnClose; a Handler with OnHandshakeError hears why, and
//     Stats counts it in TLSHandshakeErrors.
//   - After the handshake, records are decrypted on the loop, from the
//     loop's read buffer, with crypto/tls's Conn.Read over the same
//     transport: when the transport runs dry it returns an error whose
//     Temporary method is true, which crypto/tls returns without
//     recording it, keeping a partial record for the next call. Every
//     complete record of a read is decrypted at once into the loop's
//     plaintext buffer and offered to OnData. Writes are encrypted when
//     they are made (Write, or AsyncWrite's data once it reaches the
//     loop), one record per write of up to 16 KiB (crypto/tls's dynamic
//     record sizing makes the first ones smaller).
//   - Closing: an orderly close (Close, returning Close, AsyncClose,
//     Shutdown, CloseWrite) sends a close_notify alert before the
//     connection's output is flushed and the connection closed. The
//     peer's close_notify is its end of input: the connection closes, or,
//     with an EOFHandler, OnEOF decides, as for a TCP end. A TCP end at a
//     record boundary without close_notify is taken as orderly (as
//     crypto/tls does); one in the middle of a record, a record that does
//     not decrypt, or an alert from the peer closes the connection after
//     the alert crypto/tls writes, with OnClose's error saying why.
//     Renegotiation is refused (crypto/tls's server does not do it).
//
// What is buffered per connection: crypto/tls's Conn (about 5.1 KiB
// after a handshake with a Go 1.26 client: the keys and cipher states,
// and its record and handshake buffers, which crypto/tls keeps at the
// size of the largest record or handshake message seen and gives no way
// to release; the engine passes the client's ClientHello on in records
// sized to keep them at 576 bytes and at the smallest allocation that
// holds the ClientHello, 1536 bytes for Go's); plaintext OnData leaves unread, as for any connection;
// the output, as for any connection. The loop owns one read buffer and
// one plaintext buffer (the read buffer's size plus 36 KiB) for all its
// connections. During its handshake a connection also holds its
// coroutine's goroutine and stack, released when the handshake ends,
// fails or times out.
//
// # Sockets from elsewhere
//
// Serve takes any listening socket, not only one the engine opened: a
// socket inherited from systemd's socket activation (descriptors from 3
// on, named by LISTEN_FDS and LISTEN_FDNAMES) or from the process this one
// replaces in a zero-downtime restart is wrapped with socket.NewFd and
// served as it is. Serve refuses a stream socket that does not listen,
// naming a connected one (systemd's Accept=yes passes a connection, not a
// listener). To hand its sockets to a new process, a program passes
// socket.File duplicates (exec.Cmd.ExtraFiles), calls StopAccept once the
// new process serves, lets its connections finish (Stats().Active) and
// calls Shutdown: connections waiting in the listen queue belong to the
// socket, which the new process holds, so none is refused. The library
// reads no environment itself and depends on nothing beyond x/sys, so the
// activation protocol is left to the program (the sock command uses
// github.com/coreos/go-systemd/v22/activation; ExampleEngine_Serve_inherited
// shows the handover).
package eventloop
