package socketserver

import (
	"context"
	"sync"
)

// Dispatcher decides where requests run: the Go form of Python's mix-ins.
// Dispatch runs job now, on the calling goroutine, or soon on another. It
// may block to hold back the server (a full pool, a concurrency limit) and
// returns ctx's error, without running job, if ctx ends first.
//
// The server counts jobs itself, so a Dispatcher need not track them. A
// Dispatcher that also implements io.Closer is closed after the server has
// shut down and its last request has finished.
type Dispatcher interface {
	Dispatch(ctx context.Context, job func()) error
}

// Synchronous runs each request on the serving goroutine, one at a time:
// a plain TCPServer or UDPServer in Python. A slow request holds up the
// ones behind it, so use it for quick requests or for tests. It is the
// default.
type Synchronous struct{}

// Dispatch runs job and returns when it is done.
func (Synchronous) Dispatch(ctx context.Context, job func()) error {
	job()
	return nil
}

// Goroutines runs each request on a goroutine of its own: Python's
// ThreadingMixIn. MaxConcurrent, if positive, bounds how many run at once;
// the server stops taking requests while the bound is reached (the kernel
// queues connections in the listen backlog), where Python would start
// threads without limit.
type Goroutines struct {
	MaxConcurrent int

	once sync.Once
	sem  chan struct{}
}

// Dispatch starts job on a new goroutine, first waiting for a free slot
// when MaxConcurrent is set.
func (g *Goroutines) Dispatch(ctx context.Context, job func()) error {
	if g.MaxConcurrent > 0 {
		g.once.Do(func() { g.sem = make(chan struct{}, g.MaxConcurrent) })
		select {
		case g.sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		go func() {
			defer func() { <-g.sem }()
			job()
		}()
		return nil
	}
	go job()
	return nil
}

// WorkerPool returns a Dispatcher with n long-lived worker goroutines
// (n <= 0 means 1) and a queue as deep as the pool: requests beyond that
// wait in the kernel's queue. Compared with Goroutines it caps memory and
// reuses goroutine stacks; compared with Synchronous it keeps n requests
// going at once.
func WorkerPool(n int) Dispatcher {
	if n <= 0 {
		n = 1
	}
	return &workerPool{n: n}
}

type workerPool struct {
	n     int
	once  sync.Once
	jobs  chan func()
	wg    sync.WaitGroup
	close sync.Once
}

func (p *workerPool) start() {
	p.jobs = make(chan func(), p.n)
	for i := 0; i < p.n; i++ {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for job := range p.jobs {
				job()
			}
		}()
	}
}

// Dispatch queues job for a worker, waiting while the queue is full.
func (p *workerPool) Dispatch(ctx context.Context, job func()) error {
	p.once.Do(p.start)
	select {
	case p.jobs <- job:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close lets the workers finish the queued jobs and stops them.
func (p *workerPool) Close() error {
	p.once.Do(p.start)
	p.close.Do(func() { close(p.jobs) })
	p.wg.Wait()
	return nil
}
