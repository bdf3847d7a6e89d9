package cli

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/socketkit/socketkit/socket"
)

// udpForkIdle is how long a sender of udp-listen:PORT,fork keeps its
// second address without a datagram either way, when -T does not say.
const udpForkIdle = 60 * time.Second

// udpForkQueue is how many datagrams from one sender wait for its second
// address; beyond it they are dropped, as a full socket buffer drops them.
const udpForkQueue = 256

// serveUDPFork is udp-listen:PORT,fork: every sender (address and port) of
// datagrams to l gets a second address of its own, as socat's
// UDP-LISTEN:PORT,fork does: datagrams from the sender go to it, and what
// it answers goes back to the sender, from l's address. A sender's second
// address closes after idle without traffic either way (udpForkIdle when
// idle is 0); the sender's next datagram opens a new one.
func serveUDPFork(e *env, l *listener, b relaySpec, idle time.Duration, logf func(string, ...any)) error {
	if idle <= 0 {
		idle = udpForkIdle
	}
	var mu sync.Mutex
	peers := map[string]*udpPeer{}
	var wg sync.WaitGroup
	defer func() {
		mu.Lock()
		for _, p := range peers {
			p.close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := l.s.Recvfrom(buf, 0)
		if err != nil {
			if e.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		if from == nil || from.String() == "" {
			continue // nobody to answer
		}
		key := from.String()
		mu.Lock()
		p := peers[key]
		if p == nil {
			p = &udpPeer{ln: l.s, addr: from, in: make(chan []byte, udpForkQueue), done: make(chan struct{})}
			peers[key] = p
			logf("new sender %v: relaying it to %s", displayAddr(from), b.text)
			wg.Add(1)
			go func() {
				defer wg.Done()
				ep := &endpoint{r: p, w: p, closeWrite: func() {}, close: p.close}
				err := relayWithB(e, ep, b, idle, func(string, ...any) {})
				p.close()
				mu.Lock()
				if peers[key] == p {
					delete(peers, key)
				}
				mu.Unlock()
				switch {
				case errors.Is(err, errIdle):
					logf("sender %v idle for %v: closed its %s", displayAddr(from), idle, b.text)
				case err != nil && e.ctx.Err() == nil:
					fmt.Fprintf(e.stderr, "sock: sender %v: %s\n", displayAddr(from), oneLine(err.Error()))
				}
			}()
		}
		mu.Unlock()
		select {
		case p.in <- append([]byte(nil), buf[:n]...):
		case <-p.done: // closing: this datagram is lost, as it would be on a closing socket
		default: // the second address is behind: drop, as a full buffer would
		}
	}
}

// udpPeer is one sender of udp-listen:PORT,fork, as an endpoint: Read
// returns its datagrams one at a time, Write sends a datagram to it from
// the listening socket.
type udpPeer struct {
	ln   *socket.Socket
	addr socket.Sockaddr
	in   chan []byte
	done chan struct{}
	once sync.Once
}

func (p *udpPeer) Read(b []byte) (int, error) {
	select {
	case d := <-p.in:
		return copy(b, d), nil
	case <-p.done:
		return 0, io.EOF
	}
}

func (p *udpPeer) Write(b []byte) (int, error) {
	return p.ln.Sendto(b, 0, p.addr)
}

func (p *udpPeer) close() { p.once.Do(func() { close(p.done) }) }
