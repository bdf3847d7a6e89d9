// Package sockdiag lists the sockets of this machine from the kernel's
// NETLINK_SOCK_DIAG interface (inet_diag for TCP and UDP, unix_diag for
// AF_UNIX), the source iproute2's ss reads, and finds the processes that own
// them from the socket inodes under /proc/PID/fd.
//
// It is the evidence behind sock ss, sock doctor and the lessons of sock
// demo: socket states and queue lengths as the kernel keeps them.
package sockdiag

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Netid is the kind of a socket, named as ss names it.
type Netid string

// The kinds Dump lists.
const (
	TCP     Netid = "tcp"
	UDP     Netid = "udp"
	UnixStr Netid = "u_str" // AF_UNIX SOCK_STREAM
	UnixDgr Netid = "u_dgr" // AF_UNIX SOCK_DGRAM
	UnixSeq Netid = "u_seq" // AF_UNIX SOCK_SEQPACKET
)

// IsUnix reports whether n is an AF_UNIX kind.
func (n Netid) IsUnix() bool { return strings.HasPrefix(string(n), "u_") }

// State is a socket state as the kernel numbers it (include/net/tcp_states.h).
// AF_UNIX sockets use the same numbers: LISTEN, ESTABLISHED, CLOSE
// (unconnected).
type State uint8

// The kernel's socket states.
const (
	ESTABLISHED  State = 1
	SYN_SENT     State = 2
	SYN_RECV     State = 3
	FIN_WAIT1    State = 4
	FIN_WAIT2    State = 5
	TIME_WAIT    State = 6
	CLOSE        State = 7
	CLOSE_WAIT   State = 8
	LAST_ACK     State = 9
	LISTEN       State = 10
	CLOSING      State = 11
	NEW_SYN_RECV State = 12
)

var stateNames = [...]struct{ kernel, ss string }{
	ESTABLISHED:  {"ESTABLISHED", "ESTAB"},
	SYN_SENT:     {"SYN_SENT", "SYN-SENT"},
	SYN_RECV:     {"SYN_RECV", "SYN-RECV"},
	FIN_WAIT1:    {"FIN_WAIT1", "FIN-WAIT-1"},
	FIN_WAIT2:    {"FIN_WAIT2", "FIN-WAIT-2"},
	TIME_WAIT:    {"TIME_WAIT", "TIME-WAIT"},
	CLOSE:        {"CLOSE", "UNCONN"},
	CLOSE_WAIT:   {"CLOSE_WAIT", "CLOSE-WAIT"},
	LAST_ACK:     {"LAST_ACK", "LAST-ACK"},
	LISTEN:       {"LISTEN", "LISTEN"},
	CLOSING:      {"CLOSING", "CLOSING"},
	NEW_SYN_RECV: {"NEW_SYN_RECV", "SYN-RECV"},
}

// String is the kernel's name: ESTABLISHED, TIME_WAIT, LISTEN...
func (s State) String() string {
	if int(s) < len(stateNames) && stateNames[s].kernel != "" {
		return stateNames[s].kernel
	}
	return "STATE(" + strconv.Itoa(int(s)) + ")"
}

// SSName is the name iproute2's ss prints: ESTAB, TIME-WAIT, UNCONN...
func (s State) SSName() string {
	if int(s) < len(stateNames) && stateNames[s].ss != "" {
		return stateNames[s].ss
	}
	return s.String()
}

// ParseState accepts a state by the kernel's name or by ss's, in any case,
// with '-' or '_' ("time-wait", "TIME_WAIT", "estab", "established").
func ParseState(name string) (State, error) {
	n := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(name), "-", "_"))
	switch n {
	case "ESTAB":
		return ESTABLISHED, nil
	case "UNCONN", "UNCONNECTED", "CLOSED":
		return CLOSE, nil
	case "FIN_WAIT_1":
		return FIN_WAIT1, nil
	case "FIN_WAIT_2":
		return FIN_WAIT2, nil
	case "SYN_RECV", "NEW_SYN_RECV":
		return SYN_RECV, nil
	}
	for i, sn := range stateNames {
		if sn.kernel != "" && sn.kernel == n {
			return State(i), nil
		}
	}
	return 0, fmt.Errorf("unknown socket state %q (want one of LISTEN, ESTABLISHED, SYN_SENT, SYN_RECV, FIN_WAIT1, FIN_WAIT2, TIME_WAIT, CLOSE_WAIT, LAST_ACK, CLOSING, CLOSE)", name)
}

// Owner is one descriptor of a process that refers to a socket.
type Owner struct {
	Name string `json:"name"` // the command name, from /proc/PID/stat
	PID  int    `json:"pid"`
	FD   int    `json:"fd"`
}

// Socket is one row of the kernel's socket tables.
type Socket struct {
	Netid Netid `json:"netid"`
	State State `json:"-"`
	// RecvQ and SendQ are the kernel's idiag_rqueue and idiag_wqueue, what
	// ss prints as Recv-Q and Send-Q. For a TCP or AF_UNIX listener: the
	// accept queue (connections waiting for accept()) and its limit (the
	// backlog). For a connected TCP socket: bytes received and not yet read,
	// and bytes sent and not yet acknowledged. For UDP: the memory the
	// queued datagrams take.
	RecvQ uint32 `json:"recv_q"`
	SendQ uint32 `json:"send_q"`
	// Local and Peer are the addresses of an AF_INET or AF_INET6 socket.
	Local netip.AddrPort `json:"local"`
	Peer  netip.AddrPort `json:"peer"`
	// V6Only is IPV6_V6ONLY of an AF_INET6 socket: ss prints an unspecified
	// address as "*" when the socket also takes IPv4, "[::]" when not.
	V6Only bool `json:"v6only,omitempty"`
	// Path is an AF_UNIX socket's bound name ("@name" for the abstract
	// namespace); PeerInode the inode of the socket it is connected to.
	Path      string `json:"path,omitempty"`
	PeerInode uint32 `json:"peer_inode,omitempty"`
	Inode     uint32 `json:"inode"`
	UID       uint32 `json:"uid"`
	// Timer and Expires are the running TCP timer (1 retransmit, 2
	// keepalive, 3 TIME_WAIT, 4 zero window probe) and its time left in ms.
	Timer uint8 `json:"timer,omitempty"`
	// Retrans counts the retransmissions of the running timer (a SYN_SENT
	// socket's retried SYNs).
	Retrans uint8   `json:"retrans,omitempty"`
	Expires uint32  `json:"expires_ms,omitempty"`
	Owners  []Owner `json:"owners,omitempty"`
}

// StateName is the state as ss prints it; JSON carries it as "state".
func (s Socket) StateName() string { return s.State.SSName() }

// LocalString and PeerString print the addresses as ss -n does: "*" for an
// unspecified address or port, AF_UNIX names and inodes.
func (s Socket) LocalString() string {
	if s.Netid.IsUnix() {
		p := s.Path
		if p == "" {
			p = "*"
		}
		return p + " " + strconv.FormatUint(uint64(s.Inode), 10)
	}
	return inetString(s.Local, s.V6Only)
}

// PeerString: see LocalString.
func (s Socket) PeerString() string {
	if s.Netid.IsUnix() {
		return "* " + strconv.FormatUint(uint64(s.PeerInode), 10)
	}
	return inetString(s.Peer, s.V6Only)
}

func inetString(ap netip.AddrPort, v6only bool) string {
	a := ap.Addr()
	var host string
	switch {
	case a.Is6() && a.IsUnspecified() && !v6only:
		host = "*"
	case a.Is6():
		host = "[" + a.String() + "]"
	case a.IsValid():
		host = a.String()
	default:
		host = "*"
	}
	port := "*"
	if ap.Port() != 0 {
		port = strconv.Itoa(int(ap.Port()))
	}
	return host + ":" + port
}

// UsersString is the Process column of ss -p:
// users:(("name",pid=N,fd=M),...).
func (s Socket) UsersString() string {
	if len(s.Owners) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("users:(")
	for i, o := range s.Owners {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "(%q,pid=%d,fd=%d)", o.Name, o.PID, o.FD)
	}
	b.WriteByte(')')
	return b.String()
}

// Request says which sockets Dump lists.
type Request struct {
	TCP, UDP, Unix bool
	// IPv4 and IPv6 select the inet families; both false means both.
	IPv4, IPv6 bool
}

// All lists every kind.
var All = Request{TCP: true, UDP: true, Unix: true}
