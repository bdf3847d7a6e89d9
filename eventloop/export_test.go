package eventloop

// SetDefaultBackend makes b what an Engine with no Backend set runs on,
// for the package's tests, which run once on each backend.
func SetDefaultBackend(b Backend) { defaultBackend = b }

// DefaultBackend is the backend of the package's current test run.
func DefaultBackend() Backend { return defaultBackend }

// InCallback reports whether c's loop is running a callback: the tests of
// ErrWrongLoop wait until it is not, since a call from another goroutine
// that coincides with one of the loop's callbacks cannot be told apart.
func InCallback(c *Conn) bool { return c.loop.inCallback.Load() }

// PacketInCallback is InCallback for the loop of a datagram.
func PacketInCallback(p *Packet) bool { return p.l.inCallback.Load() }

// HelloFragments is how a TLS connection cuts a client's first handshake
// record of the given payload size into records on its way to
// crypto/tls (see reframe and handFragment).
func HelloFragments(record int) []int {
	h := &tlsHandshake{rem: record}
	var fs []int
	for h.rem > 0 {
		f := h.handFragment()
		fs = append(fs, f)
		h.rem -= f
	}
	return fs
}

// Gathers is how many waits the engine's loops have made that let input
// gather (a busy loop's; see busy.go).
func Gathers(e *Engine) uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var n uint64
	for _, l := range e.loopStats {
		n += l.gathers.Load()
	}
	return n
}

// SetBusyTest turns off, until restore is called, the check of what a
// busy loop's gathering does (unchecked), or busy itself (never); call it
// only while no engine runs.
func SetBusyTest(unchecked, never bool) (restore func()) {
	was := busyTest
	busyTest.unchecked, busyTest.never = unchecked, never
	return func() { busyTest = was }
}
