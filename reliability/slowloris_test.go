//go:build linux

package reliability_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
)

// lineHandler answers a connection's first line and closes.
func lineHandler(ctx context.Context, c net.Conn) error {
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return nil
	}
	_, err = c.Write([]byte("ok " + line))
	return err
}

// TestSlowloris: 200 clients trickle a byte every 500ms and never finish
// their line; 50 normal clients make requests beside them. The slow ones
// are closed on the 2s absolute deadline (not before 1.8 s, and by 6 s,
// well before the 15 s a deadline pushed back by each byte would give);
// the normal ones are not held up by them: their p99 stays under 1s (a
// client stuck behind the slow ones would wait their 2 s; the figure is
// recorded, the bound is generous because the machine is shared, and not
// applied under the race detector).
func TestSlowloris(t *testing.T) {
	for _, d := range lifecycle {
		t.Run(d.name, func(t *testing.T) {
			sockettest.LeakCheck(t)
			const deadline = 2 * time.Second
			addr := d.start(t, "tcp", "127.0.0.1:0", lineHandler, limits{RequestTimeout: deadline}).Addr()
			var wg sync.WaitGroup
			var mu sync.Mutex
			var slowLife []time.Duration
			var slowErrs []error
			var dialed sync.WaitGroup
			for i := 0; i < 200; i++ {
				wg.Add(1)
				dialed.Add(1)
				go func() {
					defer wg.Done()
					// Before the connect: the server cannot start the
					// connection's deadline earlier (after it, a client held
					// back by a loaded machine measured lives of 0.96 s).
					start := time.Now()
					c, err := net.DialTimeout("tcp", addr, 5*time.Second)
					dialed.Done()
					if err != nil {
						mu.Lock()
						slowErrs = append(slowErrs, err)
						mu.Unlock()
						return
					}
					defer c.Close()
					// Trickle until the server closes on us.
					closed := make(chan struct{})
					go func() {
						c.SetReadDeadline(time.Now().Add(15 * time.Second))
						c.Read(make([]byte, 1)) // returns at the server's close
						close(closed)
					}()
					tick := time.NewTicker(500 * time.Millisecond)
					defer tick.Stop()
					for {
						select {
						case <-closed:
							mu.Lock()
							slowLife = append(slowLife, time.Since(start))
							mu.Unlock()
							return
						case <-tick.C:
							c.Write([]byte("x"))
						}
					}
				}()
			}
			dialed.Wait() // the slow ones are in
			var lat []time.Duration
			var normalErrs int
			var nwg sync.WaitGroup
			stopNormal := time.Now().Add(2500 * time.Millisecond)
			for i := 0; i < 50; i++ {
				nwg.Add(1)
				go func(i int) {
					defer nwg.Done()
					for n := 0; time.Now().Before(stopNormal); n++ {
						start := time.Now()
						c, err := net.DialTimeout("tcp", addr, 5*time.Second)
						if err != nil {
							mu.Lock()
							normalErrs++
							mu.Unlock()
							continue
						}
						c.SetDeadline(time.Now().Add(5 * time.Second))
						msg := fmt.Sprintf("client %d request %d\n", i, n)
						c.Write([]byte(msg))
						got, err := bufio.NewReader(c).ReadString('\n')
						c.Close()
						mu.Lock()
						if err != nil || got != "ok "+msg {
							normalErrs++
						} else {
							lat = append(lat, time.Since(start))
						}
						mu.Unlock()
						time.Sleep(10 * time.Millisecond)
					}
				}(i)
			}
			nwg.Wait()
			wg.Wait()
			if len(slowErrs) > 0 {
				t.Fatalf("%d slow clients could not connect: %v", len(slowErrs), slowErrs[0])
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			sort.Slice(slowLife, func(i, j int) bool { return slowLife[i] < slowLife[j] })
			if len(lat) == 0 {
				t.Fatal("no normal request completed")
			}
			p99 := lat[len(lat)*99/100]
			figure(t, "slowloris_"+d.name+"_normal_p99_ms", fmt.Sprintf("%.1f", float64(p99.Microseconds())/1000))
			figure(t, "slowloris_"+d.name+"_normal_requests", len(lat))
			figure(t, "slowloris_"+d.name+"_slow_closed_after_s", fmt.Sprintf("%.2f-%.2f", slowLife[0].Seconds(), slowLife[len(slowLife)-1].Seconds()))
			if normalErrs > 0 {
				t.Errorf("%d normal requests failed", normalErrs)
			}
			switch {
			case sockettest.RaceEnabled:
				// Under the race detector with both cores busy the p99
				// reached 1.6 s with nothing starved: as close to a
				// starved client's 2 s as to the bound.
				t.Logf("normal p99 %v (not bounded under the race detector)", p99)
			case p99 > time.Second:
				t.Errorf("normal p99 %v beside 200 slow clients, want < 1s", p99)
			}
			if len(slowLife) != 200 {
				t.Fatalf("%d of 200 slow clients were closed", len(slowLife))
			}
			// None is closed early; none lives on much past the deadline (a
			// deadline that each byte pushed back would keep them until the
			// client's own 15 s). The upper bound is loose: on a loaded
			// machine the connect, the handler that sets the deadline and
			// the client that sees the close can each run late (2.43 s was
			// measured on 2 busy cores, 3.73 s under the race detector).
			lo, hi := slowLife[0], slowLife[len(slowLife)-1]
			if lo < deadline*9/10 || hi > 3*deadline {
				t.Errorf("slow clients closed after %v..%v, want %v (-10%%, +200%%)", lo, hi, deadline)
			}
		})
	}
}
