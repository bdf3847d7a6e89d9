package cli

import (
	"errors"
	"os"
	"syscall"
	"time"

	"github.com/socketkit/socketkit/cmd/sock/internal/netns"
	"github.com/socketkit/socketkit/cmd/sock/internal/sockdiag"
	"github.com/socketkit/socketkit/socket"
)

var backlogLesson = lesson{
	name:  "backlog",
	title: "listen(5) with 8 clients: who is queued, and what the others see",
	tutorial: "sk.listen(5)  # 如果超过五个连接，第六个连接来的时候直接断开第六个\n" +
		"                (\"with more than five connections, the sixth is cut off at once\")",
	python:  "sk.listen(5); c.setblocking(False); c.connect_ex(addr); socket.create_connection(addr, timeout=1.5)",
	goCalls: "sk.Listen(5); c.SetBlocking(false); c.ConnectEx(addr); c.SetTimeout(1500*time.Millisecond); c.Connect(addr)",
	run:     runBacklog,
}

// BacklogFacts is what the backlog lesson observed.
type BacklogFacts struct {
	Backlog, Clients int
	// ConnectErrno is what each non-blocking connect_ex returned (client 1
	// first; the last client connects with a timeout instead and has 0).
	ConnectErrno []syscall.Errno
	// State is each client's TCP state once the handshakes had settled,
	// before the server accepted anyone.
	State []sockdiag.State
	// AcceptQueue and AcceptLimit are the listener's Recv-Q and Send-Q.
	AcceptQueue, AcceptLimit uint32
	// Overflows is how much TcpExtListenOverflows grew while the clients
	// connected (the counter is per network namespace, so another program's
	// overflow at the same moment would add to it).
	Overflows uint64
	// ClientErrors counts clients with a pending error (SO_ERROR), which is
	// how a reset would show.
	ClientErrors int
	// TimeoutErr is what the last client's connect with a timeout returned,
	// after TimeoutAfter.
	TimeoutErr   error
	TimeoutAfter time.Duration
	TimeoutState sockdiag.State // its state while it waited
	// TimeoutRetries are the times (since its connect) at which the
	// kernel retried that client's SYN.
	TimeoutRetries []time.Duration
	// Accepted is how many connections the server then accepted;
	// LateClient the first waiting client that got in afterwards, LateAfter
	// how long after its connect_ex, LateRetries when its SYN was retried
	// before (dropped).
	Accepted    int
	LateClient  int
	LateAfter   time.Duration
	LateRetries []time.Duration
	// Abort is the part about net.ipv4.tcp_abort_on_overflow, run as root in
	// a network namespace of its own; AbortSkipped says why it did not run.
	Abort        *AbortFacts
	AbortSkipped string
}

// AbortFacts: the same queue, with tcp_abort_on_overflow 0 and 1 (the
// arrays are indexed by its value).
type AbortFacts struct {
	// SynSent counts the plain clients 7 and 8 left in SYN_SENT after their
	// SYN was dropped, SynReset those reset.
	SynSent, SynReset [2]int
	// Late clients (6 to 8) delay their final ACK (TCP_QUICKACK off), so
	// their SYN finds room but the ACK of all but the first finds the queue
	// full. LateQueued counts those the server queued for accept();
	// LateHalfOpen those that believe they are connected (ESTABLISHED)
	// while the server holds them in SYN_RECV; LateReset those reset.
	Late                                int
	LateQueued, LateHalfOpen, LateReset [2]int
	LateResetErr                        error // what recv() on a reset client raised
}

func runBacklog(lw *lessonWriter) (any, error) {
	f := &BacklogFacts{Backlog: 5, Clients: 8}
	sk, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		return f, err
	}
	defer sk.Close()
	if err := sk.Bind(loopback4()); err != nil {
		return f, err
	}
	if err := sk.Listen(f.Backlog); err != nil {
		return f, err
	}
	addr, err := sk.Getsockname()
	if err != nil {
		return f, err
	}
	lw.step("server: sk.listen(%d) on %v; it does not call accept() yet", f.Backlog, addr)
	before, err := sockdiag.Netstat()
	if err != nil {
		return f, err
	}

	clients := make([]*socket.Socket, f.Clients)
	defer func() { closeSockets(clients...) }()
	started := make([]time.Time, f.Clients)
	dropped := uint64(0) // SYNs dropped so far, as ListenOverflows counts them
	for i := 0; i < f.Clients-1; i++ {
		c, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
		if err != nil {
			return f, err
		}
		clients[i] = c
		c.SetBlocking(false)
		started[i] = time.Now()
		en, err := c.ConnectEx(addr)
		if err != nil {
			return f, err
		}
		f.ConnectErrno = append(f.ConnectErrno, en)
		// Wait until the handshake is done or the listener has dropped the
		// SYN (the overflow counter moves); the first SYN retry is 1 s away.
		var st sockdiag.State
		if _, err := waitUntil(lw.ctx, 800*time.Millisecond, func() (bool, error) {
			t, err := readTCP()
			if err != nil {
				return false, err
			}
			st = t.of(c).State
			if st != sockdiag.SYN_SENT {
				return true, nil
			}
			now, err := sockdiag.Netstat()
			return err == nil && now["ListenOverflows"] > before["ListenOverflows"]+dropped, err
		}); err != nil {
			return f, err
		}
		if st == sockdiag.SYN_SENT {
			dropped++
		}
		lw.step("client %d: c.connect_ex(addr) = %-26s kernel: %s", i+1, errnoText(en), st)
	}

	// The last client is c1.py with a timeout: a blocking connect.
	last := f.Clients - 1
	c, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		return f, err
	}
	clients[last] = c
	c.SetTimeout(1500 * time.Millisecond)
	f.ConnectErrno = append(f.ConnectErrno, 0)
	done := make(chan error, 1)
	started[last] = time.Now()
	go func() { done <- c.Connect(addr) }()
	// While it waits, the kernel shows its state, and each SYN retry of the
	// waiting clients (the Retrans count of NETLINK_SOCK_DIAG going up).
	retries := make([][]time.Duration, f.Clients)
	seen := make([]uint8, f.Clients)
	watch := func(t *tcpTable) {
		for i, cl := range clients {
			row := t.of(cl)
			if row.State == sockdiag.SYN_SENT && row.Retrans > seen[i] {
				seen[i] = row.Retrans
				retries[i] = append(retries[i], time.Since(started[i]))
			}
		}
	}
	tick := time.NewTicker(5 * time.Millisecond)
wait:
	for {
		select {
		case f.TimeoutErr = <-done:
			break wait
		case <-tick.C:
			t, err := readTCP()
			if err != nil {
				continue
			}
			if st := t.of(c).State; st != 0 {
				f.TimeoutState = st
			}
			watch(t)
		}
	}
	tick.Stop()
	f.TimeoutAfter = time.Since(started[last])
	f.TimeoutRetries = retries[last]
	outcome := "connected"
	if f.TimeoutErr != nil {
		outcome = shortErr(f.TimeoutErr)
		if errors.Is(f.TimeoutErr, os.ErrDeadlineExceeded) {
			outcome = "timed out (Python: TimeoutError: timed out)"
		}
	}
	lw.step("client %d: create_connection(addr, timeout=1.5): kernel showed %s while it waited, SYN retried at %s;",
		f.Clients, f.TimeoutState, durList(f.TimeoutRetries))
	lw.step("          after %s: %s", secText(f.TimeoutAfter), outcome)

	t, err := readTCP()
	if err != nil {
		return f, err
	}
	after, err := sockdiag.Netstat()
	if err != nil {
		return f, err
	}
	f.Overflows = after["ListenOverflows"] - before["ListenOverflows"]
	l := t.of(sk)
	f.AcceptQueue, f.AcceptLimit = l.RecvQ, l.SendQ
	for i, c := range clients {
		row := t.of(c)
		if i == last {
			row.State = f.TimeoutState
		}
		f.State = append(f.State, row.State)
		if i != last && probeRecv(c) != nil {
			f.ClientErrors++
		}
	}
	lw.step("kernel (NETLINK_SOCK_DIAG): listener LISTEN Recv-Q %d (connections waiting for accept) Send-Q %d (the backlog)",
		f.AcceptQueue, f.AcceptLimit)
	lw.step("kernel (/proc/net/netstat): TcpExtListenOverflows +%d: SYNs the full queue dropped, no reset sent", f.Overflows)
	established, waiting := 0, []int{}
	for i, st := range f.State[:last] {
		switch st {
		case sockdiag.ESTABLISHED:
			established++
		case sockdiag.SYN_SENT:
			waiting = append(waiting, i+1)
		}
	}
	lw.step("clients: %d ESTABLISHED and queued, %d still in SYN_SENT %v retrying their SYN, %d with an error",
		established, len(waiting), waiting, f.ClientErrors)

	// The server accepts two; a waiting client gets in at its next SYN retry.
	for i := 0; i < 2; i++ {
		sk.SetTimeout(2 * time.Second)
		conn, _, err := sk.Accept()
		if err != nil {
			return f, err
		}
		conn.Close()
		f.Accepted++
	}
	if len(waiting) > 0 {
		w := waiting[0] - 1
		ok, err := waitUntil(lw.ctx, 7*time.Second, func() (bool, error) {
			t, err := readTCP()
			if err != nil {
				return false, err
			}
			watch(t)
			return t.of(clients[w]).State == sockdiag.ESTABLISHED, nil
		})
		if err != nil {
			return f, err
		}
		f.LateRetries = retries[w]
		if ok {
			f.LateClient, f.LateAfter = w+1, time.Since(started[w])
			lw.step("server: sk.accept() x%d; client %d: SYN retried at %s (dropped), then a retry got in:",
				f.Accepted, f.LateClient, durList(f.LateRetries))
			lw.step("          ESTABLISHED %s after its connect_ex", secText(f.LateAfter))
		} else {
			lw.step("server: sk.accept() x%d; client %d is still not connected after 7 s", f.Accepted, w+1)
		}
	}
	lw.say("")
	lw.say("What this shows: on Linux the backlog bounds the queue of connections that completed the")
	lw.say("handshake and wait for accept(); the kernel let %d wait (backlog %d, + 1). Nobody was cut off:",
		f.AcceptQueue, f.Backlog)
	lw.say("the next clients' SYNs were dropped without an answer, so they sat in SYN_SENT retrying their SYN")
	lw.say("(this kernel retried at %s), a client with a timeout reported \"timed out\", and a", durList(f.TimeoutRetries))
	lw.say("retry got in once accept() made room.")

	if !asRoot() {
		f.AbortSkipped = "needs root: it sets net.ipv4.tcp_abort_on_overflow in a network namespace of its own"
		lw.say("")
		lw.say("net.ipv4.tcp_abort_on_overflow = 1 (skipped: %s; run sock demo backlog as root to see it)", f.AbortSkipped)
		return f, nil
	}
	lw.say("")
	lw.say("With net.ipv4.tcp_abort_on_overflow (run as root in a network namespace made for it, then removed):")
	af := &AbortFacts{}
	err = netns.Run(func() error { return abortPart(lw, af) })
	if err != nil {
		if errors.Is(err, netns.ErrNeedRoot) {
			f.AbortSkipped = err.Error()
			lw.step("skipped: %v", err)
			return f, nil
		}
		return f, err
	}
	f.Abort = af
	return f, nil
}

// abortPart runs in a fresh network namespace (every socket is made on this
// goroutine's thread, so it is inside it).
func abortPart(lw *lessonWriter, af *AbortFacts) error {
	for abort := 0; abort <= 1; abort++ {
		if err := sockdiag.SetSysctl("net.ipv4.tcp_abort_on_overflow", abort); err != nil {
			return err
		}
		// 1. Eight plain clients, as above.
		plain, err := fillQueue(lw, 8, 8)
		if err != nil {
			return err
		}
		for _, r := range plain.clients[6:] {
			switch {
			case r.err != nil:
				af.SynReset[abort]++
			case r.state == sockdiag.SYN_SENT:
				af.SynSent[abort]++
			}
		}
		plain.close()
		// 2. Five plain clients, then three that delay their final ACK.
		late, err := fillQueue(lw, 8, 5)
		if err != nil {
			return err
		}
		af.Late = 3
		for _, r := range late.clients[5:] {
			switch {
			case r.err != nil:
				af.LateReset[abort]++
				if af.LateResetErr == nil {
					af.LateResetErr = r.err
				}
			case r.state == sockdiag.ESTABLISHED && r.server == sockdiag.ESTABLISHED:
				af.LateQueued[abort]++
			case r.state == sockdiag.ESTABLISHED && r.server == sockdiag.SYN_RECV:
				af.LateHalfOpen[abort]++
			}
		}
		late.close()
		lw.step("tcp_abort_on_overflow=%d: clients 7-8 after a dropped SYN: %d in SYN_SENT, %d reset", abort, af.SynSent[abort], af.SynReset[abort])
		lw.step("tcp_abort_on_overflow=%d: clients 6-8 delay their final ACK, so their SYNs find room: %d queued;", abort, af.LateQueued[abort])
		lw.step("    of the others, whose ACK found the queue full, %d half-open (client ESTABLISHED, server SYN_RECV), %d reset",
			af.LateHalfOpen[abort], af.LateReset[abort])
	}
	resetText := "no reset seen"
	if af.LateResetErr != nil {
		resetText = "c.recv() raised " + errnoText(errnoOf(af.LateResetErr)) + " (Python: ConnectionResetError)"
	}
	lw.step("a reset client: %s", resetText)
	lw.say("")
	lw.say("So tcp_abort_on_overflow does not touch a dropped SYN: it decides what happens to a handshake the")
	lw.say("server answered when its final ACK finds the queue full: 0 keeps it half-open (the client thinks it")
	lw.say("is connected, the server resends its SYN-ACK until accept() makes room), 1 resets it.")
	return nil
}

type queueClient struct {
	state  sockdiag.State // the client's side
	server sockdiag.State // the server's side of the same connection, 0 if none
	err    error          // what recv(MSG_DONTWAIT) got: nil when alive
}

type queueRun struct {
	l       *socket.Socket
	socks   []*socket.Socket
	clients []queueClient
}

func (q *queueRun) close() {
	closeSockets(q.socks...)
	q.l.Close()
}

// fillQueue connects n non-blocking clients to a listen(5) socket; clients
// from index plain on disable quick ACKs, so their final ACK is delayed
// (about 200 ms). It waits until every handshake has settled.
func fillQueue(lw *lessonWriter, n, plain int) (*queueRun, error) {
	q := &queueRun{}
	l, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		return nil, err
	}
	q.l = l
	if err := l.Bind(loopback4()); err != nil {
		l.Close()
		return nil, err
	}
	if err := l.Listen(5); err != nil {
		l.Close()
		return nil, err
	}
	addr, _ := l.Getsockname()
	before, err := sockdiag.Netstat()
	if err != nil {
		l.Close()
		return nil, err
	}
	for i := 0; i < n; i++ {
		c, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
		if err != nil {
			q.close()
			return nil, err
		}
		q.socks = append(q.socks, c)
		if i >= plain {
			if err := c.SetsockoptInt(int(socket.IPPROTO_TCP), tcpQuickAck, 0); err != nil {
				q.close()
				return nil, err
			}
		}
		c.SetBlocking(false)
		if _, err := c.ConnectEx(addr); err != nil {
			q.close()
			return nil, err
		}
	}
	// Settled: 6 queued, and ListenOverflows counted the other 2 (a dropped
	// SYN or an ACK that found the queue full).
	want := uint64(n - 6)
	if _, err := waitUntil(lw.ctx, 3*time.Second, func() (bool, error) {
		now, err := sockdiag.Netstat()
		if err != nil {
			return false, err
		}
		return now["ListenOverflows"]-before["ListenOverflows"] >= want, nil
	}); err != nil {
		q.close()
		return nil, err
	}
	t, err := readTCP()
	if err != nil {
		q.close()
		return nil, err
	}
	server := map[uint16]sockdiag.State{} // client port -> server side state
	for _, s := range t.onPort(inet4Port(addr)) {
		if s.State != sockdiag.LISTEN {
			server[s.Peer.Port()] = s.State
		}
	}
	for _, c := range q.socks {
		row := t.of(c)
		q.clients = append(q.clients, queueClient{state: row.State, server: server[row.Local.Port()], err: probeRecv(c)})
	}
	return q, nil
}

// probeRecv is recv(1, MSG_DONTWAIT) on a socket with nothing to read: nil
// while the connection is alive or still connecting (EAGAIN), the error
// (ECONNRESET...) after a reset. It is how a program would find out, and
// unlike reading SO_ERROR it leaves nothing for a later call to miss.
// durList prints durations as "1.00 s, 2.01 s", or "none".
func durList(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	out := ""
	for i, d := range ds {
		if i > 0 {
			out += ", "
		}
		out += secText(d)
	}
	return out
}

func probeRecv(c *socket.Socket) error {
	_, err := c.Recv(make([]byte, 1), socket.MSG_DONTWAIT)
	if err == nil || errors.Is(err, syscall.EAGAIN) {
		return nil
	}
	return err
}

// tcpQuickAck is TCP_QUICKACK; 0 makes the kernel delay ACKs, the final
// ACK of the handshake included.
const tcpQuickAck = 12
