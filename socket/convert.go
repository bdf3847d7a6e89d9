package socket

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
)

var nativeIsBig = binary.NativeEndian.Uint16([]byte{0, 1}) == 1

// Htons converts a 16-bit value from host to network (big-endian) byte order.
//
// Python: socket.htons(x).
func Htons(x uint16) uint16 {
	if nativeIsBig {
		return x
	}
	return x<<8 | x>>8
}

// Ntohs converts a 16-bit value from network to host byte order.
func Ntohs(x uint16) uint16 { return Htons(x) }

// Htonl converts a 32-bit value from host to network byte order.
func Htonl(x uint32) uint32 {
	if nativeIsBig {
		return x
	}
	return x<<24 | x>>24 | (x>>8)&0xff00 | (x<<8)&0xff0000
}

// Ntohl converts a 32-bit value from network to host byte order.
func Ntohl(x uint32) uint32 { return Htonl(x) }

// InetAton parses an IPv4 address in any form inet_aton(3) accepts:
// "a.b.c.d", and the legacy "a.b.c", "a.b" and "a" forms with decimal,
// octal (leading 0) or hexadecimal (leading 0x) parts, so "127.1" is
// 127.0.0.1.
//
// Python: socket.inet_aton(ip_string).
func InetAton(s string) ([4]byte, error) {
	bad := func() ([4]byte, error) {
		return [4]byte{}, &AddrError{Addr: s, Family: AF_INET, Reason: "illegal IP address string passed to inet_aton", Err: syscall.EINVAL}
	}
	parts := strings.Split(s, ".")
	if len(parts) > 4 || s == "" {
		return bad()
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		base := 10
		switch {
		case strings.HasPrefix(p, "0x") || strings.HasPrefix(p, "0X"):
			base, p = 16, p[2:]
			if p == "" {
				p = "0"
			}
		case len(p) > 1 && p[0] == '0':
			base, p = 8, p[1:]
		}
		v, err := strconv.ParseUint(p, base, 32)
		if err != nil || p == "" {
			return bad()
		}
		vals[i] = v
	}
	var n uint64
	last := vals[len(vals)-1]
	for i, v := range vals[:len(vals)-1] {
		if v > 0xff {
			return bad()
		}
		n |= v << (24 - 8*uint(i))
	}
	if last >= 1<<(8*uint(5-len(vals))) {
		return bad()
	}
	n |= last
	return [4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, nil
}

// InetNtoa formats a 4-byte IPv4 address in dotted-quad form.
//
// Python: socket.inet_ntoa(packed_ip).
func InetNtoa(b [4]byte) string { return netip.AddrFrom4(b).String() }

// InetPton parses an address of family f (AF_INET or AF_INET6) into its
// packed form: 4 or 16 bytes in network order. Unlike InetAton it accepts
// only the standard notation.
//
// Python: socket.inet_pton(address_family, ip_string).
func InetPton(f Family, s string) ([]byte, error) {
	if f != AF_INET && f != AF_INET6 {
		return nil, &AddrError{Addr: s, Family: f, Reason: "inet_pton needs AF_INET or AF_INET6", Err: syscall.EAFNOSUPPORT}
	}
	if ip, err := netip.ParseAddr(s); err == nil && ip.Zone() == "" {
		if f == AF_INET && ip.Is4() {
			b := ip.As4()
			return b[:], nil
		}
		if f == AF_INET6 && ip.Is6() {
			b := ip.As16()
			return b[:], nil
		}
	}
	return nil, &AddrError{Addr: s, Family: f, Reason: "illegal IP address string passed to inet_pton", Err: syscall.EINVAL}
}

// InetNtop formats a packed address of family f: 4 bytes for AF_INET, 16 for
// AF_INET6.
//
// Python: socket.inet_ntop(address_family, packed_ip).
func InetNtop(f Family, b []byte) (string, error) {
	switch {
	case f == AF_INET && len(b) == 4:
		return netip.AddrFrom4([4]byte(b)).String(), nil
	case f == AF_INET6 && len(b) == 16:
		return netip.AddrFrom16([16]byte(b)).String(), nil
	case f != AF_INET && f != AF_INET6:
		return "", &AddrError{Addr: "", Family: f, Reason: "inet_ntop needs AF_INET or AF_INET6", Err: syscall.EAFNOSUPPORT}
	}
	return "", &AddrError{Addr: "", Family: f, Reason: "packed IP wrong length for inet_ntop: " + strconv.Itoa(len(b)) + " bytes", Err: syscall.EINVAL}
}
