package eventloop

// SetDefaultBackend makes b what an Engine with no Backend set runs on,
// for the package's tests, which run once on each backend.
func SetDefaultBackend(b Backend) { defaultBackend = b }

// DefaultBackend is the backend of the package's current test run.
func DefaultBackend() Backend { return defaultBackend }
