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
// way a Go program can. Go cannot fork(2) a running runtime (the child
// would have one thread and the parent's locks), so Serve in the parent
// re-executes the program's own binary (same arguments, same environment)
// as Children worker processes and hands each the listening socket as
// descriptor 3. In a child, the server constructor adopts that socket
// instead of binding, and Serve serves with PerChild until the parent
// shuts it down, then exits the process. The parent accepts nothing: it
// supervises. It reaps children as they exit, replaces one that crashes
// (at most once per RestartDelay), and on Shutdown sends every child
// SIGTERM, waits for them to finish their requests until the Shutdown
// context ends, and then kills the rest with SIGKILL. Children get SIGTERM
// if the parent dies.
//
// How this differs from Python's ForkingMixIn: Python forks one child per
// request, and the child exits when the request is done, so requests share
// nothing and a crash loses one request. Prefork starts a fixed pool of
// long-lived children, each serving many requests (one at a time with the
// default PerChild, Synchronous), so state kept in a child (caches, a
// counter) lives across requests; a crash loses that child's current
// request, and the child is replaced. Children re-run main up to Serve:
// construct the server early, before work that only the parent should do
// (use IsPreforkChild to tell). Stats and handlers of the parent see no
// requests.
type Prefork struct {
	// Children is the number of worker processes; 0 means GOMAXPROCS.
	Children int
	// MaxChildren caps Children; 0 means 40, Python's max_children.
	MaxChildren int
	// PerChild runs requests inside each child; nil means Synchronous, one
	// request at a time per process, like Python's forked child.
	PerChild Dispatcher
	// Command, if set, returns the command that starts a child; the
	// default re-executes os.Executable() with os.Args[1:]. Prefork adds the
	// socket, the environment marker and the parent-death signal.
	Command func() *exec.Cmd
	// RestartDelay is the least time between two restarts of crashed
	// children; 0 means 100ms.
	RestartDelay time.Duration

	mu       sync.Mutex
	children map[int]*exec.Cmd
	restarts int
	stop     chan struct{} // closed to stop gracefully
	kill     chan struct{} // closed to stop at once
	finished chan struct{} // closed when supervise returns
	stopOnce sync.Once
	killOnce sync.Once
	stopped  atomic.Bool
}

// Environment markers of a prefork child.
const (
	envPreforkChild  = "SOCKETKIT_PREFORK_CHILD"
	envPreforkListen = "SOCKETKIT_PREFORK_LISTEN"
	preforkFd        = 3
)

// IsPreforkChild reports whether this process is a worker started by
// Prefork.
func IsPreforkChild() bool { return os.Getenv(envPreforkChild) != "" }

func isPreforkChild() bool { return IsPreforkChild() }

var adoptMu sync.Mutex

// adoptPreforkSocket hands a child's server the parent's listening socket:
// descriptor 3, if the server asks for the network and address the parent
// served. It is taken once; later servers in the child bind normally.
func adoptPreforkSocket(s *Server) (*socket.Socket, bool, error) {
	if !IsPreforkChild() {
		return nil, false, nil
	}
	adoptMu.Lock()
	defer adoptMu.Unlock()
	want := os.Getenv(envPreforkListen)
	if want == "" || want != s.Network+"|"+s.Addr {
		return nil, false, nil
	}
	os.Unsetenv(envPreforkListen)
	sock, err := socket.NewFd(preforkFd)
	if err != nil {
		return nil, true, fmt.Errorf("socketserver: prefork child cannot adopt descriptor %d: %w", preforkFd, err)
	}
	return sock, true, nil
}

// Dispatch runs job with PerChild (Prefork used in a child process).
func (p *Prefork) Dispatch(ctx context.Context, job func()) error {
	return p.perChild().Dispatch(ctx, job)
}

func (p *Prefork) perChild() Dispatcher {
	if p.PerChild == nil {
		return Synchronous{}
	}
	return p.PerChild
}

func (p *Prefork) count() int {
	n := p.Children
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	max := p.MaxChildren
	if max <= 0 {
		max = 40
	}
	if n > max {
		n = max
	}
	return n
}

// ActiveChildren returns how many children are running. Python:
// active_children.
func (p *Prefork) ActiveChildren() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.children)
}

// PIDs returns the process IDs of the running children.
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

// Restarts returns how many crashed children were replaced.
func (p *Prefork) Restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

type childExit struct {
	cmd *exec.Cmd
	err error
}

// supervise runs the children until the server shuts down.
func (p *Prefork) supervise(ctx context.Context, s *Server) error {
	// Parent-death signals go to children when the thread that started them
	// exits: keep this goroutine on one thread for its whole life.
	runtime.LockOSThread()
	p.mu.Lock()
	p.children = map[int]*exec.Cmd{}
	p.stop = make(chan struct{})
	p.kill = make(chan struct{})
	p.finished = make(chan struct{})
	p.mu.Unlock()
	defer close(p.finished)

	f, err := s.sock.File()
	if err != nil {
		return err
	}
	defer f.Close()
	exits := make(chan childExit)
	var waits sync.WaitGroup
	defer waits.Wait()
	// start starts a child; restart counts it as a replacement, in the same
	// critical section that lists it, so that Children and Restarts agree.
	start := func(restart bool) error {
		cmd := p.command()
		cmd.ExtraFiles = []*os.File{f}
		if cmd.Env == nil {
			cmd.Env = os.Environ()
		}
		cmd.Env = append(cmd.Env, envPreforkChild+"=1", envPreforkListen+"="+s.Network+"|"+s.Addr)
		setParentDeathSignal(cmd)
		if err := cmd.Start(); err != nil {
			return err
		}
		p.mu.Lock()
		p.children[cmd.Process.Pid] = cmd
		if restart {
			p.restarts++
		}
		p.mu.Unlock()
		waits.Add(1)
		go func() {
			defer waits.Done()
			err := cmd.Wait() // reaps the child
			exits <- childExit{cmd, err}
		}()
		return nil
	}
	for i := p.count(); i > 0; i-- {
		if err := start(false); err != nil {
			p.signalAll(syscall.SIGKILL)
			p.drain(exits)
			return fmt.Errorf("socketserver: starting a prefork child: %w", err)
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
	for {
		if stopping && p.ActiveChildren() == 0 {
			return ErrServerClosed
		}
		select {
		case e := <-exits:
			p.mu.Lock()
			delete(p.children, e.cmd.Process.Pid)
			p.mu.Unlock()
			if stopping {
				continue
			}
			s.logger().Warn("socketserver: prefork child exited; replacing it", "pid", e.cmd.Process.Pid, "err", e.err)
			if wait := time.Until(lastRestart.Add(delay)); wait > 0 {
				select {
				case <-time.After(wait):
				case <-stopCh:
				}
			}
			if !p.stopped.Load() {
				lastRestart = time.Now()
				if err := start(true); err != nil {
					s.logger().Error("socketserver: cannot replace a prefork child", "err", err)
				}
			}
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

func (p *Prefork) drain(exits chan childExit) {
	for p.ActiveChildren() > 0 {
		e := <-exits
		p.mu.Lock()
		delete(p.children, e.cmd.Process.Pid)
		p.mu.Unlock()
	}
}

func (p *Prefork) signalAll(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, cmd := range p.children {
		cmd.Process.Signal(sig)
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

// shutdown stops the children: SIGTERM, then SIGKILL when ctx ends.
func (p *Prefork) shutdown(ctx context.Context) error {
	p.mu.Lock()
	stop, kill, finished := p.stop, p.kill, p.finished
	p.mu.Unlock()
	if finished == nil {
		return nil // never started
	}
	p.stopped.Store(true)
	p.stopOnce.Do(func() { close(stop) })
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		p.killOnce.Do(func() { close(kill) })
		<-finished
		return ctx.Err()
	}
}

// serveChild is Serve inside a prefork child: serve until SIGTERM, shut
// down gracefully, exit.
func (s *Server) serveChild(ctx context.Context, pf *Prefork) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	shutDown := make(chan error, 1)
	go func() {
		select {
		case <-sigs:
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		shutDown <- s.Shutdown(sctx)
	}()
	var err error
	if s.typ == socket.SOCK_DGRAM {
		err = s.serveDatagrams(ctx)
	} else {
		err = s.serveStream(ctx)
	}
	if !errors.Is(err, ErrServerClosed) {
		s.logger().Error("socketserver: prefork child failed", "pid", os.Getpid(), "err", err)
		os.Exit(1)
	}
	close(s.serveDone) // Shutdown waits for the loop; Serve's defer will not run
	<-shutDown
	os.Exit(0)
	return nil
}
