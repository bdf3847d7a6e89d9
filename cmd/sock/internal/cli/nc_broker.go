package cli

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/socketkit/socketkit/socket"
)

// runBroker relays what each client sends to all the others (--broker), or
// runs a chat room with user names (--chat), as ncat does.
func runBroker(e *env, o *netOpts, ln *socket.Socket, tlsCfg *tls.Config) error {
	type client struct {
		c    net.Conn
		s    *socket.Socket
		name string
		mu   sync.Mutex
	}
	var mu sync.Mutex
	clients := map[*client]struct{}{}
	var wg sync.WaitGroup
	send := func(from *client, b []byte) {
		mu.Lock()
		var to []*client
		for c := range clients {
			if c != from {
				to = append(to, c)
			}
		}
		mu.Unlock()
		for _, c := range to {
			c.mu.Lock()
			c.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			c.c.Write(b)
			c.mu.Unlock()
		}
	}
	id := 0
	defer func() {
		mu.Lock()
		for c := range clients {
			c.c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	for {
		s, peer, err := ln.Accept()
		if err != nil {
			if e.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		id++
		cl := &client{c: s, s: s, name: fmt.Sprintf("<user%d>", id)}
		if tlsCfg != nil {
			cl.c = tls.Server(s, tlsCfg)
		}
		mu.Lock()
		if len(clients) >= o.maxConns {
			mu.Unlock()
			s.Close()
			continue
		}
		clients[cl] = struct{}{}
		mu.Unlock()
		o.logf(e, 1, "%v joined as %s", displayAddr(peer), cl.name)
		if o.chat {
			send(cl, []byte(fmt.Sprintf("<announce> %s is connected as %s.\n", displayAddr(peer), cl.name)))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.Close()
			if o.chat {
				in := bufio.NewScanner(cl.c)
				for in.Scan() {
					send(cl, []byte(cl.name+" "+in.Text()+"\n"))
				}
			} else {
				buf := make([]byte, 32<<10)
				for {
					n, err := cl.c.Read(buf)
					if n > 0 {
						send(cl, buf[:n])
					}
					if err != nil {
						break
					}
				}
			}
			mu.Lock()
			delete(clients, cl)
			mu.Unlock()
			if o.chat {
				send(cl, []byte(fmt.Sprintf("<announce> %s is disconnected.\n", cl.name)))
			}
		}()
	}
}
