//go:build !linux

package socketserver

import (
	"context"
	"errors"
)

// serveEngine reports errors.ErrUnsupported: the engine is Linux only.
func (s *Server) serveEngine(ctx context.Context, d *EventLoop) error {
	return errors.ErrUnsupported
}
