package cli

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/coreos/go-systemd/v22/activation"

	"github.com/socketkit/socketkit/socket"
)

// Sockets a command did not open: those systemd passes (socket
// activation: LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES, descriptors from 3
// on), and the connection of an inetd-style Accept=yes service.

// inherited is a socket this process was given.
type inherited struct {
	sock *socket.Socket
	name string // its LISTEN_FDNAMES entry; "" if systemd gave none
	fd   int    // the descriptor it arrived on
}

// label names the socket in messages: "fd 3 (web)".
func (s inherited) label() string {
	if s.name != "" {
		return fmt.Sprintf("fd %d (%s)", s.fd, s.name)
	}
	return fmt.Sprintf("fd %d", s.fd)
}

// activationPresent reports whether systemd's socket activation variables
// are set.
func activationPresent() bool {
	return os.Getenv("LISTEN_FDS") != "" || os.Getenv("LISTEN_PID") != ""
}

// activated returns the sockets systemd passed to this process, or nil
// when LISTEN_FDS is not set. The variables are removed from the
// environment, so that a process this one starts (a prefork worker, the
// next sock of a graceful restart, -e's program) does not take the
// descriptors for its own. LISTEN_PID naming another process, a
// malformed LISTEN_FDS and a descriptor that is not a socket are errors:
// the sockets were meant for someone else, or something is wrong with the
// unit.
func activated() ([]inherited, error) {
	if !activationPresent() {
		return nil, nil
	}
	defer func() {
		os.Unsetenv("LISTEN_PID")
		os.Unsetenv("LISTEN_FDS")
		os.Unsetenv("LISTEN_FDNAMES")
	}()
	pidText, fdsText := os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS")
	pid, err := strconv.Atoi(pidText)
	if err != nil {
		return nil, fmt.Errorf("socket activation: LISTEN_PID=%q is not a process id (LISTEN_FDS=%q)", pidText, fdsText)
	}
	if pid != os.Getpid() {
		return nil, fmt.Errorf("socket activation: LISTEN_PID=%d names another process (this is %d): the sockets in LISTEN_FDS were passed to it, not to sock; unset LISTEN_PID and LISTEN_FDS, or start sock directly from the socket unit", pid, os.Getpid())
	}
	n, err := strconv.Atoi(fdsText)
	if err != nil || n < 1 || n > 1<<16 {
		return nil, fmt.Errorf("socket activation: LISTEN_FDS=%q is not a count of descriptors", fdsText)
	}
	// activation.Files checks LISTEN_PID too, names the descriptors from
	// LISTEN_FDNAMES and marks them close-on-exec.
	files := activation.Files(false)
	if len(files) != n {
		for _, f := range files {
			f.Close()
		}
		return nil, fmt.Errorf("socket activation: LISTEN_FDS=%d but %d descriptors could be taken", n, len(files))
	}
	var out []inherited
	fail := func(err error) ([]inherited, error) {
		for _, s := range out {
			s.sock.Close()
		}
		for _, f := range files {
			f.Close()
		}
		return nil, err
	}
	for i, f := range files {
		fd := 3 + i
		name := f.Name()
		if name == "LISTEN_FD_"+strconv.Itoa(fd) || name == "unknown" {
			name = "" // systemd's placeholders: the unit named none
		}
		s, err := socket.FromConn(f) // a duplicate, non-blocking
		if err != nil {
			return fail(fmt.Errorf("socket activation: descriptor %d%s: %w", fd, nameSuffix(name), err))
		}
		f.Close()
		files[i] = nil
		out = append(out, inherited{sock: s, name: name, fd: fd})
	}
	return out, nil
}

func nameSuffix(name string) string {
	if name == "" {
		return ""
	}
	return " (" + name + ")"
}

// isListening reports whether s is a listening stream socket, or a
// datagram socket (which serves as it is).
func isListening(s *socket.Socket) bool {
	if s.Type() == socket.SOCK_DGRAM {
		return true
	}
	on, err := s.AcceptConn()
	return err == nil && on
}

// socketProto is the --proto that describes s: tcp, udp, unix, unixgram
// or seqpacket (tcp6 and udp6 for an IPv6-only socket).
func socketProto(s *socket.Socket) string {
	inet := s.Family() == socket.AF_INET || s.Family() == socket.AF_INET6
	switch {
	case inet && s.Type() == socket.SOCK_STREAM:
		return "tcp"
	case inet && s.Type() == socket.SOCK_DGRAM:
		return "udp"
	case s.Family() == socket.AF_UNIX && s.Type() == socket.SOCK_STREAM:
		return "unix"
	case s.Family() == socket.AF_UNIX && s.Type() == socket.SOCK_DGRAM:
		return "unixgram"
	case s.Family() == socket.AF_UNIX && s.Type() == socket.SOCK_SEQPACKET:
		return "seqpacket"
	}
	return fmt.Sprintf("%v/%v", s.Family(), s.Type())
}

// protoMatches reports whether a socket of proto have serves --proto want
// (tcp4 and tcp6 ask for that family as well).
func protoMatches(want string, s *socket.Socket) bool {
	have := socketProto(s)
	switch want {
	case "tcp4", "udp4":
		return have == want[:3] && s.Family() == socket.AF_INET
	case "tcp6", "udp6":
		return have == want[:3] && s.Family() == socket.AF_INET6
	case "unixpacket":
		return have == "seqpacket"
	}
	return have == want
}

// selectInherited applies --addr to the sockets systemd passed: an --addr
// that is one of their names (LISTEN_FDNAMES, FileDescriptorName= in the
// socket unit) or one of their addresses selects those, and the others
// are closed; any other --addr is not bound, and a note says so.
func selectInherited(e *env, socks []inherited, addr, what string) []inherited {
	if addr == "" {
		return socks
	}
	var picked, rest []inherited
	for _, s := range socks {
		if s.name == addr || sockAddrText(s.sock) == addr {
			picked = append(picked, s)
		} else {
			rest = append(rest, s)
		}
	}
	if len(picked) == 0 {
		fmt.Fprintf(e.stderr, "sock: %s %s systemd passed; --addr %s is not bound (it selects one of them by name: %s)\n",
			what, plural(len(socks), "socket"), addr, strings.Join(inheritedNames(socks), ", "))
		return socks
	}
	for _, s := range rest {
		s.sock.Close()
	}
	return picked
}

// inheritedNames lists the sockets for a message: their names, or their
// addresses.
func inheritedNames(socks []inherited) []string {
	var out []string
	for _, s := range socks {
		if s.name != "" {
			out = append(out, s.name)
		} else {
			out = append(out, sockAddrText(s.sock))
		}
	}
	return out
}

// sockAddrText is the bound address of s as --addr writes it.
func sockAddrText(s *socket.Socket) string {
	sa, err := s.Getsockname()
	if err != nil || sa == nil {
		return ""
	}
	return sa.String()
}

// closeInherited closes what was not used.
func closeInherited(socks []inherited) {
	for _, s := range socks {
		s.sock.Close()
	}
}

// activationPool holds the sockets systemd passed that sock listen and
// sock relay have not taken yet (relay may listen twice).
var activationPool struct {
	sync.Mutex
	socks []inherited
}

// activatedListener is sock listen's and sock relay's socket activation:
// nil without LISTEN_FDS; otherwise a socket systemd passed, of type typ,
// preferably the one named addr (the address the command was given,
// which is then not bound).
func activatedListener(e *env, typ socket.Type, addr string) (*socket.Socket, error) {
	activationPool.Lock()
	defer activationPool.Unlock()
	if activationPresent() {
		socks, err := activated()
		if err != nil {
			return nil, err
		}
		activationPool.socks = append(activationPool.socks, socks...)
	}
	s, _, err := takeActivatedListener(e, &activationPool.socks, typ, addr)
	return s, err
}

// takeActivatedListener is sock listen's and sock relay's use of socket
// activation: the first socket systemd passed of the type the command
// listens with (a stream socket that listens, or a datagram socket),
// preferring one whose name is addr. ok is false without activation.
// The others stay in *pool for a second listening address.
func takeActivatedListener(e *env, pool *[]inherited, typ socket.Type, addr string) (s *socket.Socket, ok bool, err error) {
	if len(*pool) == 0 {
		return nil, false, nil
	}
	pick := -1
	for i, c := range *pool {
		if c.sock.Type() != typ {
			continue
		}
		if c.name != "" && c.name == addr {
			pick = i
			break
		}
		if pick < 0 {
			pick = i
		}
	}
	if pick < 0 {
		var have []string
		for _, c := range *pool {
			have = append(have, c.label()+" "+socketProto(c.sock))
		}
		return nil, true, fmt.Errorf("socket activation: no %s socket among those systemd passed (%s)", typeWord(typ), strings.Join(have, ", "))
	}
	c := (*pool)[pick]
	*pool = append((*pool)[:pick:pick], (*pool)[pick+1:]...)
	if !isListening(c.sock) {
		c.sock.Close()
		return nil, true, fmt.Errorf("socket activation: %s is a connected socket (Accept=yes): sock listen and sock relay want a listening one (Accept=no)", c.label())
	}
	if addr != "" && addr != c.name {
		fmt.Fprintf(e.stderr, "sock: listening on %s (%s) that systemd passed; %s is not bound\n", c.label(), sockAddrText(c.sock), addr)
	}
	return c.sock, true, nil
}

func typeWord(typ socket.Type) string {
	switch typ {
	case socket.SOCK_STREAM:
		return "stream"
	case socket.SOCK_DGRAM:
		return "datagram"
	case socket.SOCK_SEQPACKET:
		return "seqpacket"
	}
	return typ.String()
}
