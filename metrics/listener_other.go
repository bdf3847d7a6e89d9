//go:build !linux

package metrics

import "github.com/socketkit/socketkit/socket"

// acceptQueue is unknown off Linux.
func acceptQueue(s *socket.Socket) (length, limit uint32, ok bool) { return 0, 0, false }
