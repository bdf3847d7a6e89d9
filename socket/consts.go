package socket

import (
	"strconv"
	"strings"
)

// The numeric values of the constants in this file are Linux's. On other
// platforms the package compiles, but creating a socket returns an error
// wrapping errors.ErrUnsupported, so the values are never handed to a kernel
// that reads them differently.

// Family is an address family, the first argument of socket(2): AF_INET,
// AF_INET6, AF_UNIX and so on. Its String method prints the C name.
//
// Python: socket.AddressFamily.
type Family int

// Address families.
const (
	AF_UNSPEC    Family = 0  // AF_UNSPEC is "any family" (getaddrinfo hints).
	AF_UNIX      Family = 1  // AF_UNIX is local inter-process communication (unix(7)).
	AF_INET      Family = 2  // AF_INET is IPv4 (ip(7)).
	AF_INET6     Family = 10 // AF_INET6 is IPv6 (ipv6(7)).
	AF_NETLINK   Family = 16 // AF_NETLINK is kernel/user communication (netlink(7)).
	AF_PACKET    Family = 17 // AF_PACKET is link-level packets (packet(7)).
	AF_RDS       Family = 21 // AF_RDS is Reliable Datagram Sockets (rds(7)).
	AF_CAN       Family = 29 // AF_CAN is Controller Area Network.
	AF_TIPC      Family = 30 // AF_TIPC is Transparent Inter-Process Communication (tipc(7)).
	AF_BLUETOOTH Family = 31 // AF_BLUETOOTH is Bluetooth.
	AF_ALG       Family = 38 // AF_ALG is the kernel crypto API.
	AF_VSOCK     Family = 40 // AF_VSOCK is host/guest communication (vsock(7)).
)

// AF_LOCAL is the POSIX name of AF_UNIX.
const AF_LOCAL = AF_UNIX

var familyNames = map[Family]string{
	AF_UNSPEC: "AF_UNSPEC", AF_UNIX: "AF_UNIX", AF_INET: "AF_INET", AF_INET6: "AF_INET6",
	AF_NETLINK: "AF_NETLINK", AF_PACKET: "AF_PACKET", AF_RDS: "AF_RDS", AF_CAN: "AF_CAN",
	AF_TIPC: "AF_TIPC", AF_BLUETOOTH: "AF_BLUETOOTH", AF_ALG: "AF_ALG", AF_VSOCK: "AF_VSOCK",
}

// String returns the C name of f, such as "AF_INET", or "Family(n)" for a
// family this package has no name for.
func (f Family) String() string {
	if s, ok := familyNames[f]; ok {
		return s
	}
	return "Family(" + strconv.Itoa(int(f)) + ")"
}

// Type is a socket type, the second argument of socket(2). Its String method
// prints the C name, followed by any creation flags ("SOCK_STREAM|SOCK_CLOEXEC").
//
// Python: socket.SocketKind.
type Type int

// Socket types.
const (
	SOCK_STREAM    Type = 1 // SOCK_STREAM is a reliable byte stream (TCP over IP).
	SOCK_DGRAM     Type = 2 // SOCK_DGRAM is connectionless datagrams (UDP over IP).
	SOCK_RAW       Type = 3 // SOCK_RAW gives raw protocol access (ICMP, IP_HDRINCL); it needs CAP_NET_RAW.
	SOCK_RDM       Type = 4 // SOCK_RDM is reliably delivered messages; only TIPC and RDS provide it.
	SOCK_SEQPACKET Type = 5 // SOCK_SEQPACKET is a reliable, ordered, connection-based record stream.

	// SOCK_NONBLOCK is a creation flag that New always adds to the
	// descriptor; given in New's or Socketpair's type, it also starts the
	// socket in non-blocking mode, as Python does.
	SOCK_NONBLOCK Type = 0x800
	// SOCK_CLOEXEC is a creation flag that New always adds.
	SOCK_CLOEXEC Type = 0x80000
)

const typeFlags = SOCK_NONBLOCK | SOCK_CLOEXEC

var typeNames = map[Type]string{
	SOCK_STREAM: "SOCK_STREAM", SOCK_DGRAM: "SOCK_DGRAM", SOCK_RAW: "SOCK_RAW",
	SOCK_RDM: "SOCK_RDM", SOCK_SEQPACKET: "SOCK_SEQPACKET",
}

// String returns the C name of t, such as "SOCK_STREAM".
func (t Type) String() string {
	base := t &^ typeFlags
	s, ok := typeNames[base]
	if !ok {
		s = "Type(" + strconv.Itoa(int(base)) + ")"
	}
	if t&SOCK_NONBLOCK != 0 {
		s += "|SOCK_NONBLOCK"
	}
	if t&SOCK_CLOEXEC != 0 {
		s += "|SOCK_CLOEXEC"
	}
	return s
}

// Protocol is the third argument of socket(2). For AF_INET and AF_INET6 it is
// an IPPROTO_* value; 0 lets the kernel pick the family's default protocol.
type Protocol int

// IP protocols.
const (
	IPPROTO_IP      Protocol = 0   // IPPROTO_IP is the default protocol (and the IPv4 option level).
	IPPROTO_ICMP    Protocol = 1   // IPPROTO_ICMP is ICMP (ping).
	IPPROTO_IGMP    Protocol = 2   // IPPROTO_IGMP is IGMP.
	IPPROTO_TCP     Protocol = 6   // IPPROTO_TCP is TCP.
	IPPROTO_UDP     Protocol = 17  // IPPROTO_UDP is UDP.
	IPPROTO_IPV6    Protocol = 41  // IPPROTO_IPV6 is the IPv6 option level.
	IPPROTO_ICMPV6  Protocol = 58  // IPPROTO_ICMPV6 is ICMPv6.
	IPPROTO_SCTP    Protocol = 132 // IPPROTO_SCTP is SCTP.
	IPPROTO_UDPLITE Protocol = 136 // IPPROTO_UDPLITE is UDP-Lite.
	IPPROTO_RAW     Protocol = 255 // IPPROTO_RAW is raw IP: sending implies IP_HDRINCL.
	IPPROTO_MPTCP   Protocol = 262 // IPPROTO_MPTCP is Multipath TCP.
)

var protoNames = map[Protocol]string{
	IPPROTO_ICMP: "IPPROTO_ICMP", IPPROTO_IGMP: "IPPROTO_IGMP", IPPROTO_TCP: "IPPROTO_TCP",
	IPPROTO_UDP: "IPPROTO_UDP", IPPROTO_IPV6: "IPPROTO_IPV6", IPPROTO_ICMPV6: "IPPROTO_ICMPV6",
	IPPROTO_SCTP: "IPPROTO_SCTP", IPPROTO_UDPLITE: "IPPROTO_UDPLITE", IPPROTO_RAW: "IPPROTO_RAW",
	IPPROTO_MPTCP: "IPPROTO_MPTCP",
}

// String returns the IPPROTO_* name of p, or its number: 0 prints "0", as
// Python's repr prints proto=0, because its meaning depends on the family.
func (p Protocol) String() string {
	if s, ok := protoNames[p]; ok {
		return s
	}
	return strconv.Itoa(int(p))
}

// MsgFlag is a set of MSG_* flags, passed to and returned by the send and
// receive calls. Its String method joins the names with "|".
//
// Python: socket.MsgFlag.
type MsgFlag int

// Message flags.
const (
	MSG_OOB          MsgFlag = 0x1        // MSG_OOB sends or receives out-of-band data.
	MSG_PEEK         MsgFlag = 0x2        // MSG_PEEK returns data without removing it from the queue.
	MSG_DONTROUTE    MsgFlag = 0x4        // MSG_DONTROUTE bypasses routing.
	MSG_CTRUNC       MsgFlag = 0x8        // MSG_CTRUNC reports that ancillary data was truncated.
	MSG_TRUNC        MsgFlag = 0x20       // MSG_TRUNC reports (or asks for) the real length of a truncated datagram.
	MSG_DONTWAIT     MsgFlag = 0x40       // MSG_DONTWAIT makes one call non-blocking.
	MSG_EOR          MsgFlag = 0x80       // MSG_EOR ends a record (SOCK_SEQPACKET).
	MSG_WAITALL      MsgFlag = 0x100      // MSG_WAITALL waits for the whole buffer.
	MSG_CONFIRM      MsgFlag = 0x800      // MSG_CONFIRM confirms the link-layer path.
	MSG_ERRQUEUE     MsgFlag = 0x2000     // MSG_ERRQUEUE receives from the error queue.
	MSG_NOSIGNAL     MsgFlag = 0x4000     // MSG_NOSIGNAL suppresses SIGPIPE; every send here adds it.
	MSG_MORE         MsgFlag = 0x8000     // MSG_MORE tells TCP that more data follows (like TCP_CORK).
	MSG_WAITFORONE   MsgFlag = 0x10000    // MSG_WAITFORONE is for recvmmsg(2).
	MSG_ZEROCOPY     MsgFlag = 0x4000000  // MSG_ZEROCOPY asks for zero-copy transmission.
	MSG_FASTOPEN     MsgFlag = 0x20000000 // MSG_FASTOPEN sends data in the SYN (TCP Fast Open).
	MSG_CMSG_CLOEXEC MsgFlag = 0x40000000 // MSG_CMSG_CLOEXEC sets close-on-exec on received fds; RecvFds adds it.
)

var msgFlagNames = []struct {
	f MsgFlag
	s string
}{
	{MSG_OOB, "MSG_OOB"}, {MSG_PEEK, "MSG_PEEK"}, {MSG_DONTROUTE, "MSG_DONTROUTE"},
	{MSG_CTRUNC, "MSG_CTRUNC"}, {MSG_TRUNC, "MSG_TRUNC"}, {MSG_DONTWAIT, "MSG_DONTWAIT"},
	{MSG_EOR, "MSG_EOR"}, {MSG_WAITALL, "MSG_WAITALL"}, {MSG_CONFIRM, "MSG_CONFIRM"},
	{MSG_ERRQUEUE, "MSG_ERRQUEUE"}, {MSG_NOSIGNAL, "MSG_NOSIGNAL"}, {MSG_MORE, "MSG_MORE"},
	{MSG_WAITFORONE, "MSG_WAITFORONE"}, {MSG_ZEROCOPY, "MSG_ZEROCOPY"},
	{MSG_FASTOPEN, "MSG_FASTOPEN"}, {MSG_CMSG_CLOEXEC, "MSG_CMSG_CLOEXEC"},
}

// String returns the flags joined with "|", such as "MSG_PEEK|MSG_DONTWAIT";
// 0 prints "0" and unknown bits print in hexadecimal.
func (f MsgFlag) String() string {
	if f == 0 {
		return "0"
	}
	var parts []string
	rest := f
	for _, n := range msgFlagNames {
		if f&n.f != 0 {
			parts = append(parts, n.s)
			rest &^= n.f
		}
	}
	if rest != 0 {
		parts = append(parts, "0x"+strconv.FormatInt(int64(rest), 16))
	}
	return strings.Join(parts, "|")
}

// ShutdownHow says which half of a connection Shutdown closes.
type ShutdownHow int

// Shutdown directions.
const (
	SHUT_RD   ShutdownHow = 0 // SHUT_RD stops receiving.
	SHUT_WR   ShutdownHow = 1 // SHUT_WR stops sending: the peer reads EOF.
	SHUT_RDWR ShutdownHow = 2 // SHUT_RDWR stops both.
)

// String returns "SHUT_RD", "SHUT_WR" or "SHUT_RDWR".
func (h ShutdownHow) String() string {
	switch h {
	case SHUT_RD:
		return "SHUT_RD"
	case SHUT_WR:
		return "SHUT_WR"
	case SHUT_RDWR:
		return "SHUT_RDWR"
	}
	return "ShutdownHow(" + strconv.Itoa(int(h)) + ")"
}

// Ports.
const (
	// IPPORT_RESERVED is the first port an unprivileged process may bind:
	// ports below it are reserved for well-known services and binding one
	// needs root or CAP_NET_BIND_SERVICE (on Linux, the limit can be moved
	// with the sysctl net.ipv4.ip_unprivileged_port_start).
	IPPORT_RESERVED = 1024
	// IPPORT_USERRESERVED is the traditional start of ports for user servers.
	IPPORT_USERRESERVED = 5000
)

// IsReservedPort reports whether port is below IPPORT_RESERVED and so needs
// privilege to bind. Port 0 (any port) is not reserved.
func IsReservedPort(port int) bool { return port > 0 && port < IPPORT_RESERVED }

// Backlogs for Listen.
const (
	// SOMAXCONN is the compile-time maximum listen backlog of Linux headers.
	// The kernel silently caps a larger backlog at net.core.somaxconn.
	SOMAXCONN = 4096
	// DefaultBacklog is Python's default for listen() without an argument:
	// min(SOMAXCONN, 128).
	DefaultBacklog = 128
)

// Special IPv4 addresses, in host byte order as Python gives them.
const (
	INADDR_ANY             uint32 = 0x00000000 // INADDR_ANY is 0.0.0.0.
	INADDR_BROADCAST       uint32 = 0xffffffff // INADDR_BROADCAST is 255.255.255.255.
	INADDR_LOOPBACK        uint32 = 0x7f000001 // INADDR_LOOPBACK is 127.0.0.1.
	INADDR_NONE            uint32 = 0xffffffff // INADDR_NONE is the error value of inet_addr.
	INADDR_UNSPEC_GROUP    uint32 = 0xe0000000 // INADDR_UNSPEC_GROUP is 224.0.0.0.
	INADDR_ALLHOSTS_GROUP  uint32 = 0xe0000001 // INADDR_ALLHOSTS_GROUP is 224.0.0.1.
	INADDR_MAX_LOCAL_GROUP uint32 = 0xe00000ff // INADDR_MAX_LOCAL_GROUP is 224.0.0.255.
)

// AF_VSOCK addresses and options (vsock(7)). The buffer-size options are
// 64-bit: read and write them with GetsockoptBytes and SetsockoptBytes (8
// bytes, native order) at level int(AF_VSOCK).
const (
	VMADDR_CID_ANY                 = 0xffffffff // VMADDR_CID_ANY binds to any context ID.
	VMADDR_PORT_ANY                = 0xffffffff // VMADDR_PORT_ANY picks any port.
	VMADDR_CID_HOST                = 2          // VMADDR_CID_HOST is the host's context ID.
	VM_SOCKETS_INVALID_VERSION     = 0xffffffff // VM_SOCKETS_INVALID_VERSION is the invalid vsock version.
	IOCTL_VM_SOCKETS_GET_LOCAL_CID = 0x7b9      // IOCTL_VM_SOCKETS_GET_LOCAL_CID is the ioctl on /dev/vsock that reads the local context ID.
	SO_VM_SOCKETS_BUFFER_SIZE      = 0          // SO_VM_SOCKETS_BUFFER_SIZE is a stream's buffer size.
	SO_VM_SOCKETS_BUFFER_MIN_SIZE  = 1          // SO_VM_SOCKETS_BUFFER_MIN_SIZE is its minimum.
	SO_VM_SOCKETS_BUFFER_MAX_SIZE  = 2          // SO_VM_SOCKETS_BUFFER_MAX_SIZE is its maximum.
)
