//go:build linux

package reliability_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/framed"
	"github.com/socketkit/socketkit/internal/sockettest"
	ss "github.com/socketkit/socketkit/socketserver"
)

func echoDatagram(ctx context.Context, r *ss.Request) error {
	return r.Reply(r.Packet)
}

func udpServerTarget(name string, d func() ss.Dispatcher) target {
	return target{name, func(t *testing.T, network, addr string) (string, func()) {
		srv, err := ss.New(network, addr, ss.HandlerFunc(echoDatagram), ss.WithDispatcher(d()))
		if err != nil {
			t.Fatal(err)
		}
		srv.Logger = slog.New(slog.DiscardHandler)
		errc := make(chan error, 1)
		go func() { errc <- srv.ServeForever() }()
		return srv.Address().String(), func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			if err := <-errc; !errors.Is(err, ss.ErrServerClosed) {
				t.Errorf("Serve: %v", err)
			}
		}
	}}
}

var udpTargets = []target{
	udpServerTarget("synchronous", func() ss.Dispatcher { return ss.Synchronous{} }),
	udpServerTarget("goroutines", func() ss.Dispatcher { return &ss.Goroutines{} }),
	udpServerTarget("workerpool", func() ss.Dispatcher { return ss.WorkerPool(8) }),
	engineTarget,
}

// TestSoakUDP sends framed datagrams at 10,000 a second from 10 sockets
// and checks each echo. Loopback UDP may drop when a buffer is full: loss
// is reported, not asserted; corruption must be 0.
func TestSoakUDP(t *testing.T) {
	dur, _ := soakLength()
	if dur > 10*time.Second {
		dur = 10 * time.Second
	}
	for _, tg := range udpTargets {
		t.Run(tg.name, func(t *testing.T) {
			sockettest.LeakCheck(t)
			addr, stop := tg.start(t, "udp", "127.0.0.1:0")
			defer stop()
			sent, got, corrupt, dup, err := udpFlood(addr, 10, 10000, 200, dur)
			if err != nil {
				t.Fatal(err)
			}
			key := "soak_udp_" + tg.name
			figure(t, key+"_sent", sent)
			figure(t, key+"_received", got)
			figure(t, key+"_loss_pct", fmt.Sprintf("%.3f", 100*float64(sent-got)/float64(sent)))
			figure(t, key+"_corrupt", corrupt)
			figure(t, key+"_duplicated", dup)
			if corrupt != 0 || dup != 0 {
				t.Fatalf("%d corrupt, %d duplicated datagrams", corrupt, dup)
			}
			if got == 0 {
				t.Fatal("nothing came back")
			}
		})
	}
}

// TestSoakUnixgram is TestSoakUDP over Unix datagram sockets, on the
// socketserver dispatchers (the engine serves UDP, not unixgram). Each
// client binds an abstract name so that the server's reply finds it.
func TestSoakUnixgram(t *testing.T) {
	dur, _ := soakLength()
	if dur > 10*time.Second {
		dur = 10 * time.Second
	}
	for _, tg := range udpTargets {
		if tg.name == engineTarget.name {
			continue
		}
		t.Run(tg.name, func(t *testing.T) {
			sockettest.LeakCheck(t)
			addr, stop := tg.start(t, "unixgram", sockettest.UnixPath(t, "dgram.sock"))
			defer stop()
			sent, got, corrupt, dup, err := dgramFlood("unixgram", addr, 10, 10000, 200, dur)
			if err != nil {
				t.Fatal(err)
			}
			key := "soak_unixgram_" + tg.name
			figure(t, key+"_sent", sent)
			figure(t, key+"_received", got)
			figure(t, key+"_loss_pct", fmt.Sprintf("%.3f", 100*float64(sent-got)/float64(sent)))
			figure(t, key+"_corrupt", corrupt)
			figure(t, key+"_duplicated", dup)
			if corrupt != 0 || dup != 0 {
				t.Fatalf("%d corrupt, %d duplicated datagrams", corrupt, dup)
			}
			if got == 0 {
				t.Fatal("nothing came back")
			}
		})
	}
}

// udpFlood sends rate datagrams a second (size-byte frames) spread over
// flows sockets for d, then waits briefly for the last echoes.
func udpFlood(addr string, flows, rate, size int, d time.Duration) (sent, got, corrupt, dup int64, err error) {
	return dgramFlood("udp", addr, flows, rate, size, d)
}

// dialDgram connects a datagram client on network ("udp" or "unixgram").
func dialDgram(network, addr string, i int) (net.Conn, error) {
	if network == "unixgram" {
		local := &net.UnixAddr{Net: network, Name: fmt.Sprintf("@socketkit-soak-%d-%d-%d", os.Getpid(), time.Now().UnixNano(), i)}
		return net.DialUnix(network, local, &net.UnixAddr{Net: network, Name: addr})
	}
	ra, err := net.ResolveUDPAddr(network, addr)
	if err != nil {
		return nil, err
	}
	c, err := net.DialUDP(network, nil, ra)
	if err != nil {
		return nil, err
	}
	c.SetReadBuffer(4 << 20)
	return c, nil
}

// dgramFlood is udpFlood on network.
func dgramFlood(network, addr string, flows, rate, size int, d time.Duration) (sent, got, corrupt, dup int64, err error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	conns := make([]net.Conn, flows)
	for i := range conns {
		c, err := dialDgram(network, addr, i)
		if err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return 0, 0, 0, 0, err
		}
		conns[i] = c
	}
	for i, c := range conns {
		wg.Add(1)
		go func(id uint64, c net.Conn) {
			defer wg.Done()
			seen := map[uint32]bool{}
			buf := make([]byte, 64<<10)
			var g, bad, twice int64
			for {
				n, err := c.Read(buf)
				if err != nil {
					break
				}
				f, used, derr := framed.Decode(buf[:n])
				switch {
				case derr != nil || used != n || f.ID != id || framed.Verify(f) != nil:
					bad++
				case seen[f.Seq]:
					twice++
				default:
					seen[f.Seq] = true
					g++
				}
			}
			mu.Lock()
			got, corrupt, dup = got+g, corrupt+bad, dup+twice
			mu.Unlock()
		}(uint64(i+1), c)
	}
	// Pace: every millisecond, rate/1000 datagrams round-robin over flows.
	per := max(rate/1000, 1)
	seqs := make([]uint32, flows)
	frame := make([]byte, 0, framed.HeaderSize+size)
	tick := time.NewTicker(time.Millisecond)
	start := time.Now()
	next := 0
	for time.Since(start) < d {
		<-tick.C
		due := int64(time.Since(start).Seconds()*float64(rate)) - sent
		for k := int64(0); k < due && k < int64(per)*20; k++ {
			c := conns[next]
			frame = framed.Append(frame[:0], uint64(next+1), seqs[next], size)
			if _, err := c.Write(frame); err == nil {
				sent++
				seqs[next]++
			}
			next = (next + 1) % flows
		}
	}
	tick.Stop()
	time.Sleep(300 * time.Millisecond) // the last echoes
	for _, c := range conns {
		c.SetReadDeadline(time.Now())
	}
	wg.Wait()
	for _, c := range conns {
		c.Close()
	}
	return sent, got, corrupt, dup, nil
}
