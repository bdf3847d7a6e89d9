// Package rawaddr is the one codec between netip.AddrPort and the kernel's
// sockaddr_in and sockaddr_in6 structures, shared by package socket (the
// AddrPort forms of recvfrom and sendto) and the event-loop engine (its
// recvmmsg and sendmmsg batches). It does not allocate: the ports are
// written in network byte order one byte at a time, so it is right on
// big-endian machines too, and the IPv6 zone travels as sin6_scope_id.
package rawaddr

import (
	"net"
	"strconv"
)

// ZoneToScope turns an IPv6 zone, a number ("2") or an interface name
// ("eth0"), into an interface index for sin6_scope_id. An empty zone or an
// unknown name gives 0. Only a name costs a lookup (and allocates).
func ZoneToScope(zone string) uint32 {
	if zone == "" {
		return 0
	}
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n)
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	return 0
}
