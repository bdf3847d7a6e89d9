//go:build linux

package eventloop_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

// TestHandoverUnderLoad: a listening socket handed from one engine to
// another while clients connect without pause (what a zero-downtime
// restart does between two processes): the old engine stops accepting
// (StopAccept), finishes its connections and shuts down, the new one
// serves the same socket. Every client is answered: a connection the
// kernel had already accepted for the old engine is served by it, not
// closed (with io_uring's multishot accept, completions arrive after
// accepting stopped: they were closed unanswered before).
func TestHandoverUnderLoad(t *testing.T) {
	ln, err := socket.CreateServer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.LocalAddr().String()
	dup, err := ln.Dup()
	if err != nil {
		t.Fatal(err)
	}
	oldE := &eventloop.Engine{Handler: echo{}, Loops: 2}
	oldServed := make(chan error, 1)
	go func() { oldServed <- oldE.Serve(ln) }()

	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				msg := fmt.Sprintf("client %d request %d\n", i, n)
				if err := sockettest.EchoOnce(addr, msg, 5*time.Second); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				ok.Add(1)
			}
		}(i)
	}
	waitCount := func(n int64) {
		deadline := time.Now().Add(10 * time.Second)
		for ok.Load()+failed.Load() < n && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	waitCount(200)

	// The handover: the new engine serves the socket, the old one stops
	// accepting, lets its connections end and shuts down.
	newE := &eventloop.Engine{Handler: echo{}, Loops: 2}
	newServed := make(chan error, 1)
	go func() { newServed <- newE.Serve(dup) }()
	oldE.StopAccept()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for oldE.Stats().Active > 0 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	if err := oldE.Shutdown(ctx); err != nil {
		t.Fatalf("old engine Shutdown: %v", err)
	}
	<-oldServed
	before := ok.Load() + failed.Load()
	waitCount(before + 200)
	close(stop)
	wg.Wait()
	newE.Shutdown(ctx)
	<-newServed
	t.Logf("backend %s: %d round trips, %d failed; old engine accepted %d, new %d",
		backendOf(newE), ok.Load(), failed.Load(), oldE.Stats().Accepted, newE.Stats().Accepted)
	if failed.Load() > 0 {
		t.Fatalf("%d of %d clients failed across the handover; first: %v", failed.Load(), ok.Load()+failed.Load(), firstErr.Load())
	}
	if newE.Stats().Accepted == 0 {
		t.Fatal("the new engine accepted nothing")
	}
}
