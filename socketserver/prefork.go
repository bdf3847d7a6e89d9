package socketserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/socketkit/socketkit/socket"
)

// Prefork serves from several processes: Python's ForkingMixIn, done the
// way a Go program can. Set it as Server.Prefork. Go cannot fork(2) a
// running runtime (the child would have one thread and the parent's
// locks), so Serve in the parent re-executes the program's own binary
// (same arguments, same environment) as Children worker processes and
// hands each the listening socket as descriptor 3. In a worker, the server
// constructor adopts that socket instead of binding, and Serve serves with
// the server's Dispatcher until the parent shuts it down, then exits the
// process. The parent accepts nothing: it supervises. It reaps workers as
// they exit, replaces one that crashes (at most once per RestartDelay),
// and on Shutdown sends every worker SIGTERM, waits for them to finish
// their requests until the Shutdown context ends, and then kills the rest
// with SIGKILL. A worker that exits because the server is stopping is
// neither replaced nor reported. Workers run in a process group of their
// own, so that a terminal's Ctrl-C reaches only the parent, which decides;
// they get SIGTERM if the parent dies.
//
// On Linux, each worker counts its requests in memory it shares with the
// parent, so the parent's Stats are the sums over its workers (those that
// exited included) and are current at every moment; a handler's Shutdown
// or Close in a worker stops the whole server. Elsewhere the parent's
// Stats count nothing, and a worker's Shutdown stops that worker.
//
// How this differs from Python's ForkingMixIn: Python forks one child per
// request, and the child exits when the request is done, so requests share
// nothing and a crash loses one request. Prefork starts a fixed pool of
// long-lived workers, each serving many requests (one at a time with the
// default Dispatcher, Synchronous), so state kept in a worker (caches, a
// counter) lives across requests; a crash loses that worker's current
// request, and the worker is replaced. Workers re-run main up to Serve:
// construct the server early, before work that only the parent should do
// (use IsPreforkChild to tell). Handlers of the parent see no requests.
type Prefork struct {
	// Children is the number of worker processes; 0 means GOMAXPROCS.
	Children int
	// MaxChildren caps Children; 0 means 40, Python's max_children.
	MaxChildren int
	// PerChild is the Dispatcher of each worker when the Prefork is given
	// as the server's Dispatcher (the deprecated form); with
	// Server.Prefork, the server's Dispatcher is used.
	PerChild Dispatcher
	// Command, if set, returns the command that starts a worker; the
	// default re-executes os.Executable() with os.Args[1:]. Prefork adds the
	// socket, the environment marker and the parent-death signal.
	Command func() *exec.Cmd
	// RestartDelay is the least time between two restarts of crashed
	// workers; 0 means 100ms.
	RestartDelay time.Duration

	mu       sync.Mutex
	children map[int]*worker
	exited   Stats // what workers that have exited served (Active aside)
	restarts int
	stop     chan struct{} // closed to stop gracefully
	kill     chan struct{} // closed to stop at once
	finished chan struct{} // closed when supervise returns
	stopOnce sync.Once
	killOnce sync.Once
	stopped  atomic.Bool
}

// worker is a running worker process, as its parent sees it.
type worker struct {
	cmd  *exec.Cmd
	page *sharedPage // its counters; nil where memory cannot be shared
}

// Environment markers of a prefork worker.
const (
	envPreforkChild   = "SOCKETKIT_PREFORK_CHILD"
	envPreforkListen  = "SOCKETKIT_PREFORK_LISTEN"
	envPreforkShared  = "SOCKETKIT_PREFORK_SHARED"
	preforkFd         = 3 // the listening socket
	preforkSharedFd   = 4 // the worker's counters, shared with the parent
	preforkControlFd  = 5 // a pipe to the parent: a handler asks to stop
	askShutdown       = 1
	askClose          = 2
	defaultPreforkMax = 40
)

// IsPreforkChild reports whether this process is a worker started by
// Prefork.
func IsPreforkChild() bool { return os.Getenv(envPreforkChild) != "" }

// Dispatch runs job with PerChild.
//
// Deprecated: a Prefork is not a Dispatcher; set it as Server.Prefork.
// Given as the Dispatcher, it is taken as Server.Prefork with PerChild as
// the Dispatcher.
func (p *Prefork) Dispatch(ctx context.Context, job func()) error {
	if p.PerChild == nil {
		job()
		return nil
	}
	return p.PerChild.Dispatch(ctx, job)
}

func (p *Prefork) count() int {
	n := p.Children
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	max := p.MaxChildren
	if max <= 0 {
		max = defaultPreforkMax
	}
	if n > max {
		n = max
	}
	return n
}

// ActiveChildren returns how many workers are running. Python:
// active_children.
func (p *Prefork) ActiveChildren() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.children)
}

// PIDs returns the process IDs of the running workers.
func (p *Prefork) PIDs() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	pids := make([]int, 0, len(p.children))
	for pid := range p.children {
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	return pids
}

// Restarts returns how many crashed workers were replaced.
func (p *Prefork) Restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

// addStats adds what the workers served, running and exited, to st.
func (p *Prefork) addStats(st *Stats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st.add(p.exited)
	for _, w := range p.children {
		if w.page != nil {
			st.add(w.page.counters.snapshot())
		}
	}
}

// supervisor is the frontend of a Prefork parent: it runs the workers,
// which take the requests.
type supervisor struct {
	s *Server
	p *Prefork
}

// newSupervisor makes the supervisor of s; s.mu is held, so that Shutdown
// finds the channels made.
func newSupervisor(s *Server, p *Prefork) *supervisor {
	p.mu.Lock()
	p.children = map[int]*worker{}
	p.stop = make(chan struct{})
	p.kill = make(chan struct{})
	p.finished = make(chan struct{})
	p.mu.Unlock()
	return &supervisor{s: s, p: p}
}

func (v *supervisor) serve(ctx context.Context) error {
	defer v.s.loopDone()
	return v.p.supervise(ctx, v.s)
}

// stopAccepting stops the workers gracefully: SIGTERM to each.
func (v *supervisor) stopAccepting() {
	v.p.stopped.Store(true)
	v.p.stopOnce.Do(func() { close(v.p.stop) })
}

// idle: the workers are all gone.
func (v *supervisor) idle(caller) bool { return !v.s.looping }

// stop kills the workers at once and waits until they are reaped.
func (v *supervisor) stop() {
	v.stopAccepting()
	v.p.killOnce.Do(func() { close(v.p.kill) })
	<-v.p.finished
}

func (v *supervisor) addStats(st *Stats) { v.p.addStats(st) }

type childExit struct {
	w   *worker
	err error
}

// supervise runs the workers until the server shuts down.
func (p *Prefork) supervise(ctx context.Context, s *Server) error {
	defer close(p.finished)
	select {
	case <-p.stop: // closed before serving began
		return ErrServerClosed
	default:
	}
	// Parent-death signals go to workers when the thread that started them
	// exits: keep this goroutine on one thread for its whole life.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	f, err := s.sock.File()
	if err != nil {
		return err
	}
	defer f.Close()
	asks, control, stopAsks := startControl()
	defer stopAsks()
	exits := make(chan childExit)
	var waits sync.WaitGroup
	defer waits.Wait()
	// start starts a worker; restart counts it as a replacement, in the
	// same critical section that lists it, so that PIDs and Restarts agree.
	start := func(restart bool) error {
		cmd := p.command()
		cmd.ExtraFiles = []*os.File{f}
		if cmd.Env == nil {
			cmd.Env = os.Environ()
		}
		cmd.Env = append(cmd.Env, envPreforkChild+"=1", envPreforkListen+"="+s.Network+"|"+s.Addr)
		page, pageFile := newSharedPage()
		if page != nil {
			cmd.ExtraFiles = append(cmd.ExtraFiles, pageFile, control)
			cmd.Env = append(cmd.Env, envPreforkShared+"=1")
			defer pageFile.Close() // the worker has its own once started
		}
		setWorkerAttrs(cmd)
		if err := cmd.Start(); err != nil {
			page.unmap()
			return err
		}
		w := &worker{cmd: cmd, page: page}
		p.mu.Lock()
		p.children[cmd.Process.Pid] = w
		if restart {
			p.restarts++
		}
		p.mu.Unlock()
		waits.Add(1)
		go func() {
			defer waits.Done()
			err := cmd.Wait() // reaps the worker
			exits <- childExit{w, err}
		}()
		return nil
	}
	for i := p.count(); i > 0; i-- {
		if err := start(false); err != nil {
			p.signalAll(syscall.SIGKILL)
			p.drain(exits)
			return fmt.Errorf("socketserver: starting a prefork worker: %w", err)
		}
	}
	stopCh, killCh := p.stop, p.kill
	stopping := false
	delay := p.RestartDelay
	if delay <= 0 {
		delay = 100 * time.Millisecond
	}
	var lastRestart time.Time
	ctxDone := ctx.Done()
	// ask handles a worker handler's Shutdown or Close: the whole server
	// stops, from another goroutine (Shutdown waits for this loop).
	ask := func(a uint32) {
		switch a {
		case askShutdown:
			go s.Shutdown(context.Background())
		case askClose:
			go s.Close()
		}
	}
	for {
		if stopping && p.ActiveChildren() == 0 {
			return ErrServerClosed
		}
		select {
		case e := <-exits:
			asked := p.reap(e.w)
			if asked != 0 {
				ask(asked)
			}
			// A worker that exits while the server stops, or because one
			// of its handlers stopped the server, is not a crash.
			if stopping || asked != 0 || p.stopped.Load() {
				continue
			}
			s.logger().Warn("socketserver: prefork worker exited; replacing it", "pid", e.w.cmd.Process.Pid, "err", e.err)
			if wait := time.Until(lastRestart.Add(delay)); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-stopCh:
				}
				t.Stop()
			}
			if !p.stopped.Load() {
				lastRestart = time.Now()
				if err := start(true); err != nil {
					s.logger().Error("socketserver: cannot replace a prefork worker", "err", err)
				}
			}
		case a := <-asks:
			ask(a)
		case <-stopCh:
			stopping = true
			p.signalAll(syscall.SIGTERM)
			stopCh = nil // a nil channel never fires: handled once
		case <-killCh:
			stopping = true
			p.signalAll(syscall.SIGKILL)
			killCh = nil
		case <-ctxDone:
			ctxDone = nil
			go s.Close()
		}
	}
}

// reap removes an exited worker, keeping what it served, and returns what
// one of its handlers asked of the server (0: nothing).
func (p *Prefork) reap(w *worker) uint32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.children, w.cmd.Process.Pid)
	if w.page == nil {
		return 0
	}
	st := w.page.counters.snapshot()
	st.Active = 0 // its requests ended with it
	p.exited.add(st)
	asked := w.page.ask.Load()
	w.page.unmap()
	w.page = nil
	return asked
}

func (p *Prefork) drain(exits chan childExit) {
	for p.ActiveChildren() > 0 {
		p.reap((<-exits).w)
	}
}

func (p *Prefork) signalAll(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range p.children {
		w.cmd.Process.Signal(sig)
	}
}

func (p *Prefork) command() *exec.Cmd {
	if p.Command != nil {
		return p.Command()
	}
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	return cmd
}

// preforkChild is what a worker's server adopted from its parent.
type preforkChild struct {
	counters *counters   // in the page shared with the parent, or nil
	page     *sharedPage // nil where memory cannot be shared
	control  *os.File    // the pipe to the parent, or nil
}

// ask tells the parent that a handler shut the server down (askShutdown)
// or closed it (askClose): the flag in the shared page is certain to be
// seen when this worker exits, the byte on the pipe wakes the parent now.
func (c *preforkChild) ask(a uint32) {
	if c.page == nil {
		return
	}
	c.page.ask.CompareAndSwap(0, a)
	if c.control != nil {
		c.control.Write([]byte{byte(a)})
	}
}

var adoptMu sync.Mutex

// adoptPreforkSocket hands a worker's server the parent's listening
// socket: descriptor 3, if the server asks for the network and address the
// parent served, with its shared counters and control pipe. It is taken
// once; later servers in the worker bind normally.
func adoptPreforkSocket(s *Server) (*socket.Socket, *preforkChild, error) {
	if !IsPreforkChild() {
		return nil, nil, nil
	}
	adoptMu.Lock()
	defer adoptMu.Unlock()
	want := os.Getenv(envPreforkListen)
	if want == "" || want != s.Network+"|"+s.Addr {
		return nil, nil, nil
	}
	os.Unsetenv(envPreforkListen)
	sock, err := socket.NewFd(preforkFd)
	if err != nil {
		return nil, nil, fmt.Errorf("socketserver: prefork worker cannot adopt descriptor %d: %w", preforkFd, err)
	}
	child := &preforkChild{}
	if os.Getenv(envPreforkShared) != "" {
		os.Unsetenv(envPreforkShared)
		page, err := mapSharedPage(preforkSharedFd)
		if err != nil {
			sock.Close()
			return nil, nil, fmt.Errorf("socketserver: prefork worker cannot map its counters: %w", err)
		}
		child.page, child.counters = page, &page.counters
		syscall.CloseOnExec(preforkControlFd)
		child.control = os.NewFile(preforkControlFd, "prefork-control")
	}
	return sock, child, nil
}

// preforkWorker is the frontend of a server in a Prefork worker: the
// accept loop, then the exit of the process.
type preforkWorker struct{ acceptLoop }

// serve serves until the parent's SIGTERM (or the server's own Shutdown or
// Close), finishes the requests in flight and exits the process.
func (w preforkWorker) serve(ctx context.Context) error {
	s := w.s
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		select {
		case <-sigs:
		case <-ctx.Done():
		case <-s.done:
		}
		s.beginClose()
	}()
	err := s.loop(ctx)
	s.loopDone()
	if !errors.Is(err, ErrServerClosed) {
		s.logger().Error("socketserver: prefork worker failed", "pid", os.Getpid(), "err", err)
		os.Exit(1)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.Shutdown(sctx)
	os.Exit(0)
	return nil
}
