package socket

import (
	"time"
)

// Option levels for GetsockoptInt and SetsockoptInt (Linux values).
const (
	SOL_SOCKET = 1  // SOL_SOCKET is the socket level (socket(7)).
	SOL_IP     = 0  // SOL_IP is the IPv4 level (ip(7)).
	SOL_TCP    = 6  // SOL_TCP is the TCP level (tcp(7)).
	SOL_UDP    = 17 // SOL_UDP is the UDP level (udp(7)).
	SOL_IPV6   = 41 // SOL_IPV6 is the IPv6 level (ipv6(7)).
)

// Socket-level options (socket(7)).
const (
	SO_DEBUG        = 1  // SO_DEBUG enables socket debugging.
	SO_REUSEADDR    = 2  // SO_REUSEADDR allows reuse of local addresses (TIME_WAIT).
	SO_TYPE         = 3  // SO_TYPE reads the socket type.
	SO_ERROR        = 4  // SO_ERROR reads and clears the pending error.
	SO_DONTROUTE    = 5  // SO_DONTROUTE bypasses routing.
	SO_BROADCAST    = 6  // SO_BROADCAST permits sending to broadcast addresses.
	SO_SNDBUF       = 7  // SO_SNDBUF is the send buffer size.
	SO_RCVBUF       = 8  // SO_RCVBUF is the receive buffer size.
	SO_KEEPALIVE    = 9  // SO_KEEPALIVE enables keep-alive probes.
	SO_OOBINLINE    = 10 // SO_OOBINLINE puts out-of-band data inline.
	SO_PRIORITY     = 12 // SO_PRIORITY sets the queuing priority.
	SO_LINGER       = 13 // SO_LINGER controls lingering on close.
	SO_REUSEPORT    = 15 // SO_REUSEPORT lets several sockets bind one port and share its load.
	SO_PASSCRED     = 16 // SO_PASSCRED enables SCM_CREDENTIALS.
	SO_PEERCRED     = 17 // SO_PEERCRED reads the peer's credentials (AF_UNIX).
	SO_RCVLOWAT     = 18 // SO_RCVLOWAT is the receive low-water mark.
	SO_SNDLOWAT     = 19 // SO_SNDLOWAT is the send low-water mark.
	SO_RCVTIMEO     = 20 // SO_RCVTIMEO is a kernel receive timeout (no effect on this package's non-blocking descriptors; use SetTimeout).
	SO_SNDTIMEO     = 21 // SO_SNDTIMEO is a kernel send timeout (likewise).
	SO_BINDTODEVICE = 25 // SO_BINDTODEVICE binds to a network interface.
	SO_TIMESTAMP    = 29 // SO_TIMESTAMP enables receive timestamps.
	SO_ACCEPTCONN   = 30 // SO_ACCEPTCONN reports whether the socket is listening.
	SO_SNDBUFFORCE  = 32 // SO_SNDBUFFORCE is SO_SNDBUF beyond the limit (CAP_NET_ADMIN).
	SO_RCVBUFFORCE  = 33 // SO_RCVBUFFORCE is SO_RCVBUF beyond the limit (CAP_NET_ADMIN).
	SO_MARK         = 36 // SO_MARK sets the packet mark (CAP_NET_ADMIN).
	SO_PROTOCOL     = 38 // SO_PROTOCOL reads the protocol.
	SO_DOMAIN       = 39 // SO_DOMAIN reads the family.
	SO_INCOMING_CPU = 49 // SO_INCOMING_CPU reads or sets the CPU that handles the socket.
	SO_COOKIE       = 57 // SO_COOKIE reads the socket's unique cookie.
)

// IPv4 options (ip(7)).
const (
	IP_TOS                  = 1  // IP_TOS is the type-of-service byte.
	IP_TTL                  = 2  // IP_TTL is the time to live.
	IP_HDRINCL              = 3  // IP_HDRINCL means the caller builds the IP header (SOCK_RAW).
	IP_OPTIONS              = 4  // IP_OPTIONS sets IP options.
	IP_PKTINFO              = 8  // IP_PKTINFO enables IP_PKTINFO control messages.
	IP_MTU_DISCOVER         = 10 // IP_MTU_DISCOVER sets path MTU discovery.
	IP_RECVERR              = 11 // IP_RECVERR enables extended error reports.
	IP_RECVTTL              = 12 // IP_RECVTTL enables IP_TTL control messages.
	IP_RECVTOS              = 13 // IP_RECVTOS enables IP_TOS control messages.
	IP_MTU                  = 14 // IP_MTU reads the path MTU.
	IP_FREEBIND             = 15 // IP_FREEBIND allows binding a non-local address.
	IP_TRANSPARENT          = 19 // IP_TRANSPARENT enables transparent proxying.
	IP_BIND_ADDRESS_NO_PORT = 24 // IP_BIND_ADDRESS_NO_PORT delays port choice to connect.
	IP_MULTICAST_IF         = 32 // IP_MULTICAST_IF is the multicast interface.
	IP_MULTICAST_TTL        = 33 // IP_MULTICAST_TTL is the multicast TTL.
	IP_MULTICAST_LOOP       = 34 // IP_MULTICAST_LOOP loops multicast back.
	IP_ADD_MEMBERSHIP       = 35 // IP_ADD_MEMBERSHIP joins a multicast group.
	IP_DROP_MEMBERSHIP      = 36 // IP_DROP_MEMBERSHIP leaves a multicast group.
)

// IPv6 options (ipv6(7)).
const (
	IPV6_UNICAST_HOPS   = 16 // IPV6_UNICAST_HOPS is the hop limit.
	IPV6_MULTICAST_IF   = 17 // IPV6_MULTICAST_IF is the multicast interface.
	IPV6_MULTICAST_HOPS = 18 // IPV6_MULTICAST_HOPS is the multicast hop limit.
	IPV6_MULTICAST_LOOP = 19 // IPV6_MULTICAST_LOOP loops multicast back.
	IPV6_JOIN_GROUP     = 20 // IPV6_JOIN_GROUP joins a multicast group.
	IPV6_LEAVE_GROUP    = 21 // IPV6_LEAVE_GROUP leaves a multicast group.
	IPV6_V6ONLY         = 26 // IPV6_V6ONLY restricts an AF_INET6 socket to IPv6.
	IPV6_RECVPKTINFO    = 49 // IPV6_RECVPKTINFO enables IPV6_PKTINFO control messages.
	IPV6_PKTINFO        = 50 // IPV6_PKTINFO is the packet-info control message.
	IPV6_RECVTCLASS     = 66 // IPV6_RECVTCLASS enables IPV6_TCLASS control messages.
	IPV6_TCLASS         = 67 // IPV6_TCLASS is the traffic class.
)

// TCP options (tcp(7)).
const (
	TCP_NODELAY          = 1  // TCP_NODELAY disables Nagle's algorithm.
	TCP_MAXSEG           = 2  // TCP_MAXSEG is the maximum segment size.
	TCP_CORK             = 3  // TCP_CORK holds partial frames.
	TCP_KEEPIDLE         = 4  // TCP_KEEPIDLE is the idle time before keep-alive probes, in seconds.
	TCP_KEEPINTVL        = 5  // TCP_KEEPINTVL is the time between probes, in seconds.
	TCP_KEEPCNT          = 6  // TCP_KEEPCNT is the number of probes before the connection drops.
	TCP_SYNCNT           = 7  // TCP_SYNCNT is the number of SYN retransmits.
	TCP_LINGER2          = 8  // TCP_LINGER2 is the FIN_WAIT2 lifetime.
	TCP_DEFER_ACCEPT     = 9  // TCP_DEFER_ACCEPT wakes the listener only when data arrives.
	TCP_WINDOW_CLAMP     = 10 // TCP_WINDOW_CLAMP bounds the advertised window.
	TCP_INFO             = 11 // TCP_INFO reads connection statistics.
	TCP_QUICKACK         = 12 // TCP_QUICKACK disables delayed ACKs.
	TCP_CONGESTION       = 13 // TCP_CONGESTION names the congestion control algorithm.
	TCP_USER_TIMEOUT     = 18 // TCP_USER_TIMEOUT bounds unacknowledged data, in milliseconds.
	TCP_FASTOPEN         = 23 // TCP_FASTOPEN enables TCP Fast Open on a listener.
	TCP_NOTSENT_LOWAT    = 25 // TCP_NOTSENT_LOWAT bounds unsent data in the send buffer.
	TCP_FASTOPEN_CONNECT = 30 // TCP_FASTOPEN_CONNECT enables Fast Open on connect.
)

// Ancillary message types.
const (
	SCM_RIGHTS      = 1 // SCM_RIGHTS passes file descriptors over AF_UNIX.
	SCM_CREDENTIALS = 2 // SCM_CREDENTIALS passes process credentials over AF_UNIX.
)

// SCM_MAX_FD is the most file descriptors the kernel passes in one
// SCM_RIGHTS message (include/net/scm.h); RecvFds accepts a maxfds from 0
// to SCM_MAX_FD.
const SCM_MAX_FD = 253

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *Socket) getBool(level, opt int) (bool, error) {
	v, err := s.GetsockoptInt(level, opt)
	return v != 0, err
}

// SetReuseAddr sets SO_REUSEADDR: bind may reuse a local address still in
// TIME_WAIT. Servers set it before Bind.
func (s *Socket) SetReuseAddr(on bool) error {
	return s.SetsockoptInt(SOL_SOCKET, SO_REUSEADDR, boolInt(on))
}

// ReuseAddr reads SO_REUSEADDR.
func (s *Socket) ReuseAddr() (bool, error) { return s.getBool(SOL_SOCKET, SO_REUSEADDR) }

// SetReusePort sets SO_REUSEPORT: several sockets may bind the same address
// and port, and Linux spreads incoming connections among them.
func (s *Socket) SetReusePort(on bool) error {
	return s.SetsockoptInt(SOL_SOCKET, SO_REUSEPORT, boolInt(on))
}

// ReusePort reads SO_REUSEPORT.
func (s *Socket) ReusePort() (bool, error) { return s.getBool(SOL_SOCKET, SO_REUSEPORT) }

// SetKeepAlive sets SO_KEEPALIVE.
func (s *Socket) SetKeepAlive(on bool) error {
	return s.SetsockoptInt(SOL_SOCKET, SO_KEEPALIVE, boolInt(on))
}

// KeepAlive reads SO_KEEPALIVE.
func (s *Socket) KeepAlive() (bool, error) { return s.getBool(SOL_SOCKET, SO_KEEPALIVE) }

// SetKeepAlivePeriod sets TCP_KEEPIDLE and TCP_KEEPINTVL to d, rounded up to
// whole seconds, as net.TCPConn.SetKeepAlivePeriod does.
func (s *Socket) SetKeepAlivePeriod(d time.Duration) error {
	secs := int((d + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	if err := s.SetsockoptInt(SOL_TCP, TCP_KEEPIDLE, secs); err != nil {
		return err
	}
	return s.SetsockoptInt(SOL_TCP, TCP_KEEPINTVL, secs)
}

// SetKeepAliveCount sets TCP_KEEPCNT, the unanswered probes before the
// connection is dropped.
func (s *Socket) SetKeepAliveCount(n int) error { return s.SetsockoptInt(SOL_TCP, TCP_KEEPCNT, n) }

// SetBroadcast sets SO_BROADCAST, needed to send to a broadcast address.
func (s *Socket) SetBroadcast(on bool) error {
	return s.SetsockoptInt(SOL_SOCKET, SO_BROADCAST, boolInt(on))
}

// Broadcast reads SO_BROADCAST.
func (s *Socket) Broadcast() (bool, error) { return s.getBool(SOL_SOCKET, SO_BROADCAST) }

// SetReadBuffer sets SO_RCVBUF. Linux doubles the value for bookkeeping and
// caps it at net.core.rmem_max.
func (s *Socket) SetReadBuffer(bytes int) error { return s.SetsockoptInt(SOL_SOCKET, SO_RCVBUF, bytes) }

// ReadBuffer reads SO_RCVBUF.
func (s *Socket) ReadBuffer() (int, error) { return s.GetsockoptInt(SOL_SOCKET, SO_RCVBUF) }

// SetWriteBuffer sets SO_SNDBUF.
func (s *Socket) SetWriteBuffer(bytes int) error {
	return s.SetsockoptInt(SOL_SOCKET, SO_SNDBUF, bytes)
}

// WriteBuffer reads SO_SNDBUF.
func (s *Socket) WriteBuffer() (int, error) { return s.GetsockoptInt(SOL_SOCKET, SO_SNDBUF) }

// SetNoDelay sets TCP_NODELAY: small writes go out at once instead of waiting
// for Nagle's algorithm. Python: StreamRequestHandler.disable_nagle_algorithm.
func (s *Socket) SetNoDelay(on bool) error { return s.SetsockoptInt(SOL_TCP, TCP_NODELAY, boolInt(on)) }

// NoDelay reads TCP_NODELAY.
func (s *Socket) NoDelay() (bool, error) { return s.getBool(SOL_TCP, TCP_NODELAY) }

// SetUserTimeout sets TCP_USER_TIMEOUT: how long sent data may stay
// unacknowledged before the kernel drops the connection with ETIMEDOUT.
// It is how a partitioned peer is noticed in seconds rather than minutes.
func (s *Socket) SetUserTimeout(d time.Duration) error {
	return s.SetsockoptInt(SOL_TCP, TCP_USER_TIMEOUT, int(d/time.Millisecond))
}

// UserTimeout reads TCP_USER_TIMEOUT.
func (s *Socket) UserTimeout() (time.Duration, error) {
	v, err := s.GetsockoptInt(SOL_TCP, TCP_USER_TIMEOUT)
	return time.Duration(v) * time.Millisecond, err
}

// SetV6Only sets IPV6_V6ONLY on an AF_INET6 socket: false lets it serve IPv4
// too (as IPv4-mapped addresses). Set it before Bind.
func (s *Socket) SetV6Only(on bool) error { return s.SetsockoptInt(SOL_IPV6, IPV6_V6ONLY, boolInt(on)) }

// V6Only reads IPV6_V6ONLY.
func (s *Socket) V6Only() (bool, error) { return s.getBool(SOL_IPV6, IPV6_V6ONLY) }

// SetTTL sets the time to live of outgoing packets: IP_TTL on AF_INET,
// IPV6_UNICAST_HOPS on AF_INET6.
func (s *Socket) SetTTL(ttl int) error {
	if s == nil {
		return errNilSocket("setsockopt")
	}
	if s.family == AF_INET6 {
		return s.SetsockoptInt(SOL_IPV6, IPV6_UNICAST_HOPS, ttl)
	}
	return s.SetsockoptInt(SOL_IP, IP_TTL, ttl)
}

// TTL reads the time to live (see SetTTL).
func (s *Socket) TTL() (int, error) {
	if s == nil {
		return 0, errNilSocket("getsockopt")
	}
	if s.family == AF_INET6 {
		return s.GetsockoptInt(SOL_IPV6, IPV6_UNICAST_HOPS)
	}
	return s.GetsockoptInt(SOL_IP, IP_TTL)
}

// SetTOS sets the type-of-service byte: IP_TOS, or IPV6_TCLASS on AF_INET6.
func (s *Socket) SetTOS(tos int) error {
	if s == nil {
		return errNilSocket("setsockopt")
	}
	if s.family == AF_INET6 {
		return s.SetsockoptInt(SOL_IPV6, IPV6_TCLASS, tos)
	}
	return s.SetsockoptInt(SOL_IP, IP_TOS, tos)
}

// TOS reads the type-of-service byte.
func (s *Socket) TOS() (int, error) {
	if s == nil {
		return 0, errNilSocket("getsockopt")
	}
	if s.family == AF_INET6 {
		return s.GetsockoptInt(SOL_IPV6, IPV6_TCLASS)
	}
	return s.GetsockoptInt(SOL_IP, IP_TOS)
}

// SetHdrIncl sets IP_HDRINCL on a SOCK_RAW socket: the data given to Sendto
// then starts with an IPv4 header that the caller builds.
func (s *Socket) SetHdrIncl(on bool) error { return s.SetsockoptInt(SOL_IP, IP_HDRINCL, boolInt(on)) }

// SetBindToDevice sets SO_BINDTODEVICE: the socket uses only the named
// interface ("" removes the binding).
func (s *Socket) SetBindToDevice(ifname string) error {
	return s.SetsockoptBytes(SOL_SOCKET, SO_BINDTODEVICE, []byte(ifname))
}

// SetMark sets SO_MARK (needs CAP_NET_ADMIN).
func (s *Socket) SetMark(mark int) error { return s.SetsockoptInt(SOL_SOCKET, SO_MARK, mark) }

// SetPassCred sets SO_PASSCRED on an AF_UNIX socket, so the kernel attaches
// the sender's credentials to received messages.
func (s *Socket) SetPassCred(on bool) error {
	return s.SetsockoptInt(SOL_SOCKET, SO_PASSCRED, boolInt(on))
}

// SocketError reads and clears SO_ERROR, the socket's pending error; nil
// means none.
func (s *Socket) SocketError() error {
	v, err := s.GetsockoptInt(SOL_SOCKET, SO_ERROR)
	if err != nil {
		return err
	}
	if v == 0 {
		return nil
	}
	return errnoError(v)
}

// AcceptConn reads SO_ACCEPTCONN: whether the socket is listening.
func (s *Socket) AcceptConn() (bool, error) { return s.getBool(SOL_SOCKET, SO_ACCEPTCONN) }

// SetLinger sets SO_LINGER. on with d == 0 makes Close reset the connection
// (RST) at once, discarding unsent data; on with d > 0 makes close(2) wait
// up to d for unsent data (note: Close of a non-blocking descriptor does not
// wait); off restores the default graceful close.
func (s *Socket) SetLinger(on bool, d time.Duration) error {
	return s.setLinger(on, int(d/time.Second))
}

// Linger reads SO_LINGER.
func (s *Socket) Linger() (on bool, d time.Duration, err error) {
	on, secs, err := s.linger()
	return on, time.Duration(secs) * time.Second, err
}
