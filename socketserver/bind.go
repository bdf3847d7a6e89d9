package socketserver

import (
	"errors"
	"fmt"
	"os"

	"github.com/socketkit/socketkit/socket"
)

// Bind creates the socket, applies the options that must precede binding
// (SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY, Control, RemoveStale) and binds
// Addr: socket.Listen with BindOnly. If anything fails the socket is
// closed. In a child started by Prefork it adopts the listening socket the
// parent handed down instead. Python: server_bind (with socket creation
// from __init__).
func (s *Server) Bind() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sock != nil {
		return errors.New("socketserver: already bound")
	}
	if s.closing {
		return ErrServerClosed
	}
	network := s.network()
	if _, _, err := socket.ParseNetwork(network); err != nil {
		return err
	}
	if sock, child, err := adoptPreforkSocket(s); child != nil || err != nil {
		if err != nil {
			return err
		}
		s.setSocket(sock)
		s.child = child
		s.st = child.counters
		s.activated = true
		return nil
	}
	reuse := socket.ReuseAddrOff // Python's default
	if s.AllowReuseAddress {
		reuse = socket.ReuseAddrOn
	}
	sock, err := socket.Listen(network, s.Addr, &socket.ListenOptions{
		BindOnly:    true, // Activate listens
		ReuseAddr:   reuse,
		ReusePort:   s.AllowReusePort,
		DualStack:   s.DualStack,
		RemoveStale: s.RemoveStale,
		Control:     s.Control,
	})
	if err != nil {
		return err
	}
	if sock.Family() == socket.AF_UNIX && s.Addr != "" && s.Addr[0] != '@' {
		s.unlink = s.Addr
	}
	s.setSocket(sock)
	return nil
}

// network is Network, with "" meaning "tcp".
func (s *Server) network() string {
	if s.Network == "" {
		return "tcp"
	}
	return s.Network
}

// Adopt makes sock, already bound, the server's socket instead of Bind:
// for a socket inherited from another process (a graceful restart, systemd
// socket activation). A listening stream socket counts as activated; one
// that is not listening is put into listen(2) by Activate; a connected one
// is refused. The server owns sock from here: Close closes it. Network and
// Addr are not used. See "Sockets from elsewhere" in the package
// documentation and ExampleServer_Adopt.
func (s *Server) Adopt(sock *socket.Socket) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sock != nil {
		return errors.New("socketserver: already bound")
	}
	if s.closing {
		return ErrServerClosed
	}
	if sock == nil {
		return errors.New("socketserver: Adopt of a nil socket")
	}
	switch sock.Type() {
	case socket.SOCK_STREAM, socket.SOCK_SEQPACKET:
		listening, err := sock.AcceptConn()
		if err != nil {
			return err
		}
		if !listening {
			if _, err := sock.Getpeername(); err == nil {
				return errors.New("socketserver: Adopt of a connected stream socket: a server adopts a listening (or bound) socket, not one connection (systemd's Accept=yes passes a connection)")
			}
		}
		s.activated = listening
	case socket.SOCK_DGRAM:
		s.activated = true
	default:
		return fmt.Errorf("socketserver: cannot serve a socket of type %v", sock.Type())
	}
	s.setSocket(sock)
	return nil
}

func (s *Server) setSocket(sock *socket.Socket) {
	s.sock = sock
	s.family = sock.Family()
	s.typ = sock.Type()
	s.addr, _ = sock.Getsockname()
}

// Activate starts listening on a stream server (listen(2) with Backlog);
// on a datagram server it does nothing. Python: server_activate.
func (s *Server) Activate() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sock == nil {
		return errors.New("socketserver: Activate before Bind")
	}
	if s.activated || s.typ == socket.SOCK_DGRAM {
		s.activated = true
		return nil
	}
	backlog := s.Backlog
	if backlog <= 0 {
		backlog = socket.SOMAXCONN
	}
	if err := s.sock.Listen(backlog); err != nil {
		return err
	}
	s.activated = true
	return nil
}

// ensureBound binds and activates the server if that has not been done.
func (s *Server) ensureBound() error {
	s.mu.Lock()
	bound, active := s.sock != nil, s.activated
	s.mu.Unlock()
	if !bound {
		if err := s.Bind(); err != nil {
			return err
		}
	}
	if !active {
		return s.Activate()
	}
	return nil
}

// Address returns the bound address (with the port the kernel chose for
// port 0), or nil before Bind. Python: server_address after binding.
func (s *Server) Address() socket.Sockaddr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Socket returns the server's socket, or nil before Bind. Python: socket.
func (s *Server) Socket() *socket.Socket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sock
}

// Fd returns the descriptor of the server's socket, or -1. Python: fileno().
func (s *Server) Fd() int {
	if sock := s.Socket(); sock != nil {
		return sock.Fd()
	}
	return -1
}

// closeSocket closes the server's socket and removes its Unix socket file.
func (s *Server) closeSocket() {
	s.mu.Lock()
	sock, path := s.sock, s.unlink
	s.unlink = ""
	s.mu.Unlock()
	if sock != nil {
		sock.Close()
	}
	if path != "" {
		os.Remove(path)
	}
}
