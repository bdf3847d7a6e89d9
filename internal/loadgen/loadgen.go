// Package loadgen drives an echo server and verifies every byte it gets
// back. It runs on one OS thread with its own epoll loop, so that the load
// generator, not the Go scheduler, decides when each socket is served, and
// stays cheaper than the servers it measures. sock bench and the bench
// module's echoload use it.
//
// Each connection keeps Depth messages of Size bytes in flight: it sends
// Depth, and one more each time a whole message has come back. The bytes
// of connection i follow a fixed pattern offset by i, and each received
// byte is compared with the one expected, so loss, duplication, reordering
// or corruption fail the run. Latency runs from the send of a message to
// the arrival of its last byte.
package loadgen

import (
	"crypto/tls"
	"time"

	"github.com/socketkit/socketkit/internal/hist"
)

// Config describes a run.
type Config struct {
	Addr     string        // host:port, a Unix socket path or @abstract
	Conns    int           // connections
	Size     int           // message size
	Depth    int           // messages in flight per connection
	Duration time.Duration // measured time
	Warmup   time.Duration // unmeasured time first
	Count    int64         // stop after this many messages, or at Duration if that is set and comes first
	SrcIPs   int           // spread connections over this many 127.0.0.x source addresses
	// TLS, when set, makes every connection a TLS client with this config
	// (the handshake at dial time; the echo is of plaintext).
	TLS *tls.Config
	// Mark, if set, is called as the measured time starts ("start") and
	// ends ("end"), so that a caller can sample the server's CPU time
	// over exactly that window.
	Mark func(event string)
}

// Result is what a run measured.
type Result struct {
	Addr     string  `json:"addr"`
	Conns    int     `json:"conns"`
	Size     int     `json:"size"`
	Depth    int     `json:"depth"`
	Seconds  float64 `json:"seconds"`
	Msgs     uint64  `json:"msgs"`     // messages echoed in the measured time
	AllMsgs  uint64  `json:"all_msgs"` // messages echoed in the whole run, warm-up included: Verified is AllMsgs * Size
	MsgsPerS float64 `json:"msgs_per_s"`
	MBPerS   float64 `json:"mb_per_s"`
	P50us    float64 `json:"p50_us"`
	P99us    float64 `json:"p99_us"`
	P999us   float64 `json:"p999_us"`
	MaxUs    float64 `json:"max_us"`
	Verified int64   `json:"verified_bytes"` // bytes echoed and checked in the whole run
	Errors   int     `json:"errors"`
	// Hist holds every measured latency, for charts.
	Hist *hist.H `json:"-"`
}
