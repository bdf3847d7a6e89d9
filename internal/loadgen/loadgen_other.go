//go:build !linux

package loadgen

import (
	"errors"
	"time"
)

// Run reports errors.ErrUnsupported: the load generator is built on epoll.
func Run(cfg Config) (Result, error) {
	return Result{}, errors.ErrUnsupported
}

// Hold reports errors.ErrUnsupported.
func Hold(cfg Config, d time.Duration) (int, error) { return 0, errors.ErrUnsupported }

// Handshakes reports errors.ErrUnsupported.
func Handshakes(cfg Config) (HandshakeResult, error) { return HandshakeResult{}, errors.ErrUnsupported }

// HandshakeResult is what a handshake run measured.
type HandshakeResult struct {
	Addr       string  `json:"addr"`
	Conns      int     `json:"conns"`
	Seconds    float64 `json:"seconds"`
	Handshakes uint64  `json:"handshakes"`
	PerS       float64 `json:"handshakes_per_s"`
	Errors     int     `json:"errors"`
}
