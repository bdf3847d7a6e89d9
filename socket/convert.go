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

// InetAton parses an IPv4 address in any form glibc's inet_aton(3)
// accepts: "a.b.c.d", and the legacy "a.b.c", "a.b" and "a" forms, whose
// last part fills the bytes left (so "127.1" is 127.0.0.1), each part a
// number as C writes it: decimal, octal with a leading 0, hexadecimal with a
// leading 0x. As in glibc, the address may be followed by whitespace and
// then anything ("1.2.3.4 junk" is 1.2.3.4), and a part must start with a
// digit and be a whole number ("0x", "08" and "1.+2" are rejected). A NUL
// byte anywhere is rejected, as Python rejects it. A string that does not
// parse gives an *AddrError matching syscall.EINVAL.
//
// Python: socket.inet_aton(ip_string).
func InetAton(s string) ([4]byte, error) {
	bad := func(reason string) ([4]byte, error) {
		return [4]byte{}, &AddrError{Addr: s, Family: AF_INET, Reason: reason, Err: syscall.EINVAL}
	}
	if strings.IndexByte(s, 0) >= 0 {
		return bad("embedded null character")
	}
	// glibc's inet_aton_end, step by step: a part is what strtoul(3) with
	// base 0 reads from a digit; '.' ends the first three parts.
	var res [4]byte
	dots, i := 0, 0
	var val uint64
	for {
		if i >= len(s) || !isDigit(s[i]) {
			return bad("illegal IP address string passed to inet_aton")
		}
		var n int
		val, n = cStrtoul(s[i:])
		i += n
		if val > 0xffffffff {
			return bad("illegal IP address string passed to inet_aton")
		}
		if i < len(s) && s[i] == '.' {
			if dots > 2 || val > 0xff {
				return bad("illegal IP address string passed to inet_aton")
			}
			res[dots] = byte(val)
			dots++
			i++
			continue
		}
		break
	}
	if i < len(s) && !isCSpace(s[i]) {
		return bad("illegal IP address string passed to inet_aton")
	}
	if val > [4]uint64{0xffffffff, 0xffffff, 0xffff, 0xff}[dots] {
		return bad("illegal IP address string passed to inet_aton")
	}
	n := binary.BigEndian.Uint32(res[:]) | uint32(val)
	return [4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isCSpace is isspace(3) in the C locale.
func isCSpace(c byte) bool { return c == ' ' || ('\t' <= c && c <= '\r') }

func hexVal(c byte) (uint64, bool) {
	switch {
	case '0' <= c && c <= '9':
		return uint64(c - '0'), true
	case 'a' <= c && c <= 'f':
		return uint64(c-'a') + 10, true
	case 'A' <= c && c <= 'F':
		return uint64(c-'A') + 10, true
	}
	return 0, false
}

// cStrtoul reads a number from s, which starts with a digit, as strtoul(3)
// with base 0 does: "0x1f" is hexadecimal, "017" octal, "17" decimal, and a
// "0x" not followed by a hexadecimal digit is the number 0 followed by
// "x...". It returns the value (saturated above 2^32, where the caller
// rejects it anyway) and the bytes read.
func cStrtoul(s string) (uint64, int) {
	base, i := uint64(10), 0
	if s[0] == '0' {
		base = 8
		if len(s) > 2 && (s[1] == 'x' || s[1] == 'X') {
			if _, ok := hexVal(s[2]); ok {
				base, i = 16, 2
			}
		}
	}
	var v uint64
	for ; i < len(s); i++ {
		d, ok := hexVal(s[i])
		if !ok || d >= base {
			break
		}
		if v <= 1<<32 {
			v = v*base + d
		}
	}
	return v, i
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
// AF_INET6, the way glibc's inet_ntop(3) writes it: the longest run of two
// or more zero groups becomes "::" (the first of equal runs), and an address
// whose first 96 bits are zero but for a nonzero seventh group
// (IPv4-compatible, "::1.2.3.4") or whose first 80 bits are zero and the
// next 16 ones (IPv4-mapped, "::ffff:1.2.3.4") ends in dotted IPv4.
//
// Python: socket.inet_ntop(address_family, packed_ip).
func InetNtop(f Family, b []byte) (string, error) {
	switch {
	case f == AF_INET && len(b) == 4:
		return netip.AddrFrom4([4]byte(b)).String(), nil
	case f == AF_INET6 && len(b) == 16:
		return inetNtop6([16]byte(b)), nil
	case f != AF_INET && f != AF_INET6:
		return "", &AddrError{Addr: "", Family: f, Reason: "inet_ntop needs AF_INET or AF_INET6", Err: syscall.EAFNOSUPPORT}
	}
	return "", &AddrError{Addr: "", Family: f, Reason: "packed IP wrong length for inet_ntop: " + strconv.Itoa(len(b)) + " bytes", Err: syscall.EINVAL}
}

// inetNtop6 is glibc's inet_ntop6.
func inetNtop6(a [16]byte) string {
	var w [8]uint16
	for i := range w {
		w[i] = binary.BigEndian.Uint16(a[2*i:])
	}
	bestBase, bestLen, curBase, curLen := -1, 0, -1, 0
	for i, v := range w {
		if v == 0 {
			if curBase == -1 {
				curBase, curLen = i, 1
			} else {
				curLen++
			}
			continue
		}
		if curBase != -1 {
			if bestBase == -1 || curLen > bestLen {
				bestBase, bestLen = curBase, curLen
			}
			curBase = -1
		}
	}
	if curBase != -1 && (bestBase == -1 || curLen > bestLen) {
		bestBase, bestLen = curBase, curLen
	}
	if bestBase != -1 && bestLen < 2 {
		bestBase = -1
	}
	buf := make([]byte, 0, 46)
	for i := 0; i < 8; i++ {
		if bestBase != -1 && i >= bestBase && i < bestBase+bestLen {
			if i == bestBase {
				buf = append(buf, ':')
			}
			continue
		}
		if i != 0 {
			buf = append(buf, ':')
		}
		if i == 6 && bestBase == 0 && (bestLen == 6 || (bestLen == 5 && w[5] == 0xffff)) {
			buf = netip.AddrFrom4([4]byte(a[12:])).AppendTo(buf)
			return string(buf)
		}
		buf = strconv.AppendUint(buf, uint64(w[i]), 16)
	}
	if bestBase != -1 && bestBase+bestLen == 8 {
		buf = append(buf, ':')
	}
	return string(buf)
}
