//go:build linux

package eventloop

import (
	"fmt"
	"net"
	"os"

	"github.com/socketkit/socketkit/socket"
)

// checkListeners makes sure Serve was given sockets it can serve, whoever
// made them: a socket inherited from another process (systemd socket
// activation, a graceful restart) comes with no promise of its type or
// state. Each must be a stream (or seqpacket) socket that listens (SO_ACCEPTCONN) or a
// bound datagram socket, all of one type, and open. A stream socket that
// is connected is named as such: systemd's Accept=yes passes one
// connection, which is no listener.
func checkListeners(listeners []*socket.Socket) error {
	var first socket.Type
	for i, ln := range listeners {
		if ln == nil {
			return fmt.Errorf("eventloop: listener %d is nil: %w", i, os.ErrInvalid)
		}
		if ln.Fd() < 0 {
			return fmt.Errorf("eventloop: listener %d: %w", i, net.ErrClosed)
		}
		typ := ln.Type()
		switch typ {
		case socket.SOCK_STREAM, socket.SOCK_SEQPACKET:
			listening, err := ln.AcceptConn()
			if err != nil {
				return fmt.Errorf("eventloop: listener %d (fd %d): %w", i, ln.Fd(), err)
			}
			if !listening {
				if _, err := ln.Getpeername(); err == nil {
					return fmt.Errorf("eventloop: listener %d (fd %d) is a connected stream socket, not a listening one (systemd's Accept=yes passes one connection)", i, ln.Fd())
				}
				return fmt.Errorf("eventloop: listener %d (fd %d) is a stream socket that does not listen: call Listen first", i, ln.Fd())
			}
		case socket.SOCK_DGRAM:
		default:
			return fmt.Errorf("eventloop: listener %d (fd %d) is a %v socket: the engine serves stream sockets that listen and datagram sockets", i, ln.Fd(), typ)
		}
		if i == 0 {
			first = typ
		} else if typ != first {
			return fmt.Errorf("eventloop: listener %d (fd %d) is a %v socket and listener 0 a %v one: one engine serves one type", i, ln.Fd(), typ, first)
		}
	}
	return nil
}
