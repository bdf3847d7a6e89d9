//go:build unix

package rawaddr

import (
	"net/netip"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Storage is room for either structure: a sockaddr_in6, which is larger
// than a sockaddr_in. A *unix.RawSockaddrAny converts to it with
// unsafe.Pointer, since every sockaddr begins with its family.
type Storage = unix.RawSockaddrInet6

// Decode reads the AF_INET or AF_INET6 address in rsa, as the kernel filled
// it in (recvfrom, recvmsg, accept). A nonzero sin6_scope_id becomes the
// numeric zone ("fe80::1%2"), as socket.Inet6Addr.AddrPort writes it. Any
// other family gives the zero AddrPort.
func Decode(rsa *Storage) netip.AddrPort {
	switch rsa.Family {
	case unix.AF_INET:
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom4(p.Addr), getPort(&p.Port))
	case unix.AF_INET6:
		ip := netip.AddrFrom16(rsa.Addr)
		if rsa.Scope_id != 0 {
			// FormatUint returns a constant string below 100, and the
			// zone is interned: no allocation for the usual indexes.
			ip = ip.WithZone(strconv.FormatUint(uint64(rsa.Scope_id), 10))
		}
		return netip.AddrPortFrom(ip, getPort(&rsa.Port))
	}
	return netip.AddrPort{}
}

// Encode writes ap into rsa for a socket of family family and returns the
// length to pass to the kernel, or 0 if ap does not fit:
//
//	unix.AF_INET    an IPv4 address (an IPv4-mapped one is unmapped)
//	unix.AF_INET6   any address; an IPv4 address is mapped (::ffff:a.b.c.d)
//	unix.AF_UNSPEC  as the address is: IPv4 as sockaddr_in, IPv6 as
//	                sockaddr_in6 (a dual-stack IPv6 socket takes both)
//
// The zone of an IPv6 address becomes sin6_scope_id (see ZoneToScope).
func Encode(ap netip.AddrPort, family int, rsa *Storage) uint32 {
	ip := ap.Addr()
	if !ip.IsValid() {
		return 0
	}
	switch family {
	case unix.AF_INET:
		ip = ip.Unmap()
	case unix.AF_INET6:
	case unix.AF_UNSPEC:
		if ip.Is4() {
			family = unix.AF_INET
		} else {
			family = unix.AF_INET6
		}
	default:
		return 0
	}
	if family == unix.AF_INET {
		if !ip.Is4() {
			return 0
		}
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		*p = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: ip.As4()}
		putPort(&p.Port, ap.Port())
		return unix.SizeofSockaddrInet4
	}
	*rsa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: ip.As16(), Scope_id: ZoneToScope(ip.Zone())}
	putPort(&rsa.Port, ap.Port())
	return unix.SizeofSockaddrInet6
}

// getPort and putPort read and write a port in network byte order, whatever
// the machine's.
func getPort(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return uint16(b[0])<<8 | uint16(b[1])
}

func putPort(p *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}
