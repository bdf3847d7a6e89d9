//go:build linux

package reliability_test

import (
	"context"
	"fmt"
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

var udpTargets = []target{
	serverTarget("synchronous", echoDatagram, func() ss.Dispatcher { return ss.Synchronous{} }),
	serverTarget("goroutines", echoDatagram, func() ss.Dispatcher { return &ss.Goroutines{} }),
	serverTarget("workerpool", echoDatagram, func() ss.Dispatcher { return ss.WorkerPool(8) }),
	engineTarget,
}

// TestSoakUDP sends framed datagrams at 10,000 a second from 10 sockets
// and checks each echo. Loopback UDP may drop when a buffer is full: loss
// is reported, not asserted; corruption must be 0.
func TestSoakUDP(t *testing.T) {
	for _, tg := range udpTargets {
		t.Run(tg.name, func(t *testing.T) { soakDatagrams(t, tg, "udp", "127.0.0.1:0") })
	}
}

// TestSoakUnixgram is TestSoakUDP over Unix datagram sockets, on the
// socketserver dispatchers (the engine serves UDP, not unixgram). Each
// client binds an abstract name so that the server's reply finds it.
func TestSoakUnixgram(t *testing.T) {
	for _, tg := range udpTargets {
		if tg.name == engineTarget.name {
			continue
		}
		t.Run(tg.name, func(t *testing.T) {
			soakDatagrams(t, tg, "unixgram", sockettest.UnixPath(t, "dgram.sock"))
		})
	}
}

// soakDatagrams floods tg's server on network for the soak length (at most
// 10 s) and reports and checks what came back.
func soakDatagrams(t *testing.T, tg target, network, addr string) {
	dur, _ := soakLength()
	dur = min(dur, 10*time.Second)
	sockettest.LeakCheck(t)
	at, stop := tg.start(t, network, addr)
	defer stop()
	sent, got, corrupt, dup, err := dgramFlood(network, at, 10, 10000, 200, dur)
	if err != nil {
		t.Fatal(err)
	}
	key := "soak_" + network + "_" + tg.name
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

// dgramFlood sends rate datagrams a second (size-byte frames) on network,
// spread over flows sockets for d, then waits briefly for the last echoes.
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
