package eventloop

import (
	"errors"
	"fmt"
	"sync"
)

// Backend names the kernel interface an engine's loops wait on and do
// their I/O through.
type Backend string

// The backends. The zero value of Engine.Backend means BackendEpoll.
const (
	// BackendEpoll: each loop waits in epoll_wait(2) and reads and writes
	// with read(2) and write(2) (or writev(2)) of its own: three system
	// calls for a request and its answer.
	BackendEpoll Backend = "epoll"
	// BackendIOUring: each loop owns an io_uring instance (Linux 6.1 or
	// later) and makes one io_uring_enter(2) a round, which submits the
	// round's sends and waits for the next completions: accepts and
	// receives are multishot requests, receiving into a ring of buffers
	// the loop provides, so that a round serves many messages with one
	// system call. Serve fails if io_uring is unusable (see ProbeIOUring).
	BackendIOUring Backend = "io_uring"
	// BackendAuto: io_uring where ProbeIOUring finds it usable, epoll
	// otherwise; Engine.ResolvedBackend says which and why.
	BackendAuto Backend = "auto"
)

// defaultBackend is what an Engine with no Backend set runs on. The
// package's tests set it to run every test on each backend.
var defaultBackend = BackendEpoll

// errUnknownBackend reports a Backend value the engine does not know.
var errUnknownBackend = errors.New("eventloop: unknown Backend (want epoll, io_uring or auto)")

// uringUnavailable is ProbeIOUring's error: why, in one sentence.
type uringUnavailable struct{ why string }

func (u *uringUnavailable) Error() string { return u.why }

// Unwrap makes errors.Is(err, errors.ErrUnsupported) hold.
func (u *uringUnavailable) Unwrap() error { return errors.ErrUnsupported }

var probe struct {
	once sync.Once
	err  error
}

// ProbeIOUring reports whether the io_uring backend can run in this
// process: nil, or an error whose text says why not in one sentence and
// which wraps errors.ErrUnsupported. It looks once per process, on the
// first call: the kernel.io_uring_disabled sysctl, io_uring_setup(2) with
// the flags the backend uses (a seccomp filter such as Docker's default
// profile refuses it with EPERM), the kernel's features and opcodes, and a
// multishot receive from a provided-buffer ring over a socket pair.
func ProbeIOUring() error {
	probe.once.Do(func() { probe.err = probeIOUring() })
	return probe.err
}

// resolveBackend is the backend an engine configured with b runs on, and
// why it is not the one asked for, if it is not; an error for io_uring
// asked for where it cannot run. epollOnly, if set, is why the engine's
// sockets are served by epoll whatever b says.
func resolveBackend(b Backend, epollOnly string) (Backend, string, error) {
	if b == "" {
		b = defaultBackend
	}
	switch b {
	case BackendEpoll:
		return b, "", nil
	case BackendIOUring, BackendAuto:
	default:
		return "", "", fmt.Errorf("%w: %q", errUnknownBackend, string(b))
	}
	if epollOnly != "" {
		return BackendEpoll, epollOnly, nil
	}
	if err := ProbeIOUring(); err != nil {
		if b == BackendIOUring {
			return "", "", &uringUnavailable{"eventloop: the io_uring backend cannot run here: " + err.Error()}
		}
		return BackendEpoll, "epoll, because " + err.Error(), nil
	}
	return BackendIOUring, "", nil
}

// ResolvedBackend returns the backend the engine serves on (after Serve
// has started) or would serve on (before): Backend, with the zero value
// and BackendAuto resolved. why is empty when that is the backend asked
// for; otherwise it says in one sentence why not (auto fell back to epoll:
// io_uring is disabled, filtered or too old here; a UDP engine uses epoll
// under every backend). It may be called from any goroutine.
func (e *Engine) ResolvedBackend() (b Backend, why string) {
	e.mu.Lock()
	b, why = e.backend, e.backendWhy
	e.mu.Unlock()
	if b != "" {
		return b, why
	}
	b, why, err := resolveBackend(e.Backend, "")
	if err != nil {
		return e.Backend, err.Error()
	}
	return b, why
}
