package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// slowResult is how a server fared with a client that sends without
// reading, beside clients that behave.
type slowResult struct {
	BaselineMsgs float64 `json:"baseline_msgs_per_s"` // the others, without the slow client
	DuringMsgs   float64 `json:"during_msgs_per_s"`   // the others, beside it
	OfferedMB    float64 `json:"offered_mb"`          // what the slow client managed to send
	RSSBeforeKB  int64   `json:"rss_before_kb"`
	PeakKB       int64   `json:"rss_peak_kb"` // VmHWM, reset after the baseline
	Stalled      bool    `json:"stalled"`     // the server stopped taking the slow client's data
}

const slowTotal = 1 << 30

// slowReader measures s with one client that sends up to 1 GiB to be
// echoed and never reads the echo, while 64 other clients echo 64-byte
// messages: the server must push that 1 GiB back to a client that does not
// take it. A server with back-pressure stops reading from that client; one
// without buffers what it cannot send.
func slowReader(bin string, s server, dur time.Duration) (slowResult, error) {
	var r slowResult
	p, err := launch(bin, s)
	if err != nil {
		return r, err
	}
	defer p.stop()
	others := []string{"-addr", p.addr, "-c", "64", "-s", "64", "-d", dur.String()}
	base, err := load(bin, others...)
	if err != nil {
		return r, err
	}
	r.BaselineMsgs = base.MsgsPerS
	// Reset the peak RSS to now (clear_refs 5), then measure from here.
	os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.pid()), []byte("5"), 0)
	if r.RSSBeforeKB, err = p.status("VmRSS"); err != nil {
		return r, err
	}
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		return r, err
	}
	defer c.Close()
	var sent atomic.Int64
	var lastProgress atomic.Int64
	lastProgress.Store(time.Now().UnixNano())
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		chunk := make([]byte, 64<<10)
		for i := range chunk {
			chunk[i] = byte(i)
		}
		for sent.Load() < slowTotal {
			select {
			case <-stop:
				return
			default:
			}
			c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
			n, err := c.Write(chunk)
			if n > 0 {
				sent.Add(int64(n))
				lastProgress.Store(time.Now().UnixNano())
			}
			if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
		}
	}()
	time.Sleep(300 * time.Millisecond) // the slow client is in full flow
	during, lerr := load(bin, others...)
	// Let the slow client go on until it has sent everything or the server
	// has taken nothing for two seconds.
	for {
		select {
		case <-done:
		case <-time.After(100 * time.Millisecond):
			if time.Since(time.Unix(0, lastProgress.Load())) < 2*time.Second {
				continue
			}
			r.Stalled = true
		}
		break
	}
	close(stop)
	<-done
	r.OfferedMB = float64(sent.Load()) / (1 << 20)
	if r.PeakKB, err = p.status("VmHWM"); err != nil {
		return r, err
	}
	if lerr != nil {
		return r, lerr
	}
	r.DuringMsgs = during.MsgsPerS
	return r, nil
}
