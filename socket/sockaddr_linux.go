//go:build linux

package socket

import (
	"fmt"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Lengths of the kernel's address structures.
const (
	sizeofSockaddrInet4   = unix.SizeofSockaddrInet4
	sizeofSockaddrInet6   = unix.SizeofSockaddrInet6
	sizeofSockaddrUnix    = unix.SizeofSockaddrUnix
	sizeofSockaddrVM      = unix.SizeofSockaddrVM
	sizeofSockaddrNetlink = unix.SizeofSockaddrNetlink
	sizeofSockaddrLinkl   = unix.SizeofSockaddrLinklayer
	sizeofSockaddrAny     = unix.SizeofSockaddrAny
)

// encodeSockaddr writes sa into rsa in the kernel's layout and returns its
// length. It does not allocate.
func encodeSockaddr(sa Sockaddr, rsa *unix.RawSockaddrAny) (uint32, error) {
	switch a := sa.(type) {
	case *Inet4Addr:
		if a == nil {
			break
		}
		if a.Port < 0 || a.Port > 65535 {
			return 0, badAddr(sa, "port out of range 0-65535")
		}
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		*p = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.Addr}
		pp := (*[2]byte)(unsafe.Pointer(&p.Port))
		pp[0], pp[1] = byte(a.Port>>8), byte(a.Port)
		return sizeofSockaddrInet4, nil
	case *Inet6Addr:
		if a == nil {
			break
		}
		if a.Port < 0 || a.Port > 65535 {
			return 0, badAddr(sa, "port out of range 0-65535")
		}
		if a.FlowInfo > maxFlowInfo {
			return 0, badAddr(sa, "flow label out of range 0-1048575 (20 bits)")
		}
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		*p = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.Addr, Scope_id: a.ScopeID}
		pp := (*[2]byte)(unsafe.Pointer(&p.Port))
		pp[0], pp[1] = byte(a.Port>>8), byte(a.Port)
		fp := (*[4]byte)(unsafe.Pointer(&p.Flowinfo))
		fp[0], fp[1], fp[2], fp[3] = byte(a.FlowInfo>>24), byte(a.FlowInfo>>16), byte(a.FlowInfo>>8), byte(a.FlowInfo)
		return sizeofSockaddrInet6, nil
	case *UnixAddr:
		if a == nil {
			break
		}
		name := a.Path
		if len(name) > MaxUnixPath {
			return 0, &AddrError{Addr: name, Family: AF_UNIX,
				Reason: "unix socket path is " + strconv.Itoa(len(name)) + " bytes, the limit is " + strconv.Itoa(MaxUnixPath),
				Err:    syscall.ENAMETOOLONG}
		}
		p := (*unix.RawSockaddrUnix)(unsafe.Pointer(rsa))
		p.Family = unix.AF_UNIX
		if name == "" {
			// An empty address: bind autobinds to an abstract name.
			return 2, nil
		}
		abstract := name[0] == '@'
		for i := 0; i < len(name); i++ {
			if name[i] == 0 && !abstract {
				return 0, badAddr(sa, "unix socket path contains a NUL byte")
			}
			p.Path[i] = int8(name[i])
		}
		n := uint32(2 + len(name))
		if abstract {
			p.Path[0] = 0 // the kernel's abstract namespace marker
		} else if len(name) < len(p.Path) {
			p.Path[len(name)] = 0
			n++ // count the NUL, as the C library's SUN_LEN convention does
		}
		return n, nil
	case *VsockAddr:
		if a == nil {
			break
		}
		p := (*unix.RawSockaddrVM)(unsafe.Pointer(rsa))
		*p = unix.RawSockaddrVM{Family: unix.AF_VSOCK, Cid: a.CID, Port: a.Port}
		return sizeofSockaddrVM, nil
	case *NetlinkAddr:
		if a == nil {
			break
		}
		p := (*unix.RawSockaddrNetlink)(unsafe.Pointer(rsa))
		*p = unix.RawSockaddrNetlink{Family: unix.AF_NETLINK, Pid: a.PortID, Groups: a.Groups}
		return sizeofSockaddrNetlink, nil
	case *PacketAddr:
		if a == nil {
			break
		}
		if len(a.Addr) > 8 || a.Ifindex < 0 || a.Ifindex > 1<<31-1 {
			return 0, badAddr(sa, "hardware address longer than 8 bytes or bad interface index")
		}
		p := (*unix.RawSockaddrLinklayer)(unsafe.Pointer(rsa))
		*p = unix.RawSockaddrLinklayer{Family: unix.AF_PACKET, Protocol: Htons(a.Protocol),
			Ifindex: int32(a.Ifindex), Hatype: a.Hatype, Pkttype: a.Pkttype, Halen: uint8(len(a.Addr))}
		copy(p.Addr[:], a.Addr)
		return sizeofSockaddrLinkl, nil
	case *UnknownAddr:
		if a == nil {
			break
		}
		if len(a.Data) > len(rsa.Addr.Data) {
			return 0, badAddr(sa, "address data too long")
		}
		rsa.Addr.Family = uint16(a.AF)
		for i, b := range a.Data {
			rsa.Addr.Data[i] = int8(b)
		}
		return uint32(2 + len(a.Data)), nil
	case nil:
		return 0, &AddrError{Addr: "<nil>", Reason: "nil address", Err: syscall.EINVAL}
	default:
		return 0, &AddrError{Addr: fmt.Sprint(sa), Reason: fmt.Sprintf("unsupported address type %T", sa), Err: syscall.EAFNOSUPPORT}
	}
	return 0, &AddrError{Addr: "<nil>", Reason: fmt.Sprintf("nil %T", sa), Err: syscall.EINVAL}
}

// decodeSockaddr reads the n bytes of rsa that the kernel filled in. It
// checks n against the family's layout and never reads past it. n == 0 (an
// unconnected datagram peer, or a TCP recvfrom) gives (nil, nil).
func decodeSockaddr(rsa *unix.RawSockaddrAny, n uint32) (Sockaddr, error) {
	if n == 0 {
		return nil, nil
	}
	if n < 2 || n > sizeofSockaddrAny {
		return nil, &AddrError{Addr: "<raw>", Reason: "address length " + strconv.Itoa(int(n)) + " out of range", Err: syscall.EINVAL}
	}
	raw := (*[sizeofSockaddrAny]byte)(unsafe.Pointer(rsa))[:n:n]
	fam := Family(rsa.Addr.Family)
	short := func(want int) error {
		return &AddrError{Addr: "<raw>", Family: fam, Reason: fmt.Sprintf("%d-byte address, want %d", n, want), Err: syscall.EINVAL}
	}
	switch fam {
	case AF_INET:
		if n < sizeofSockaddrInet4-8 { // sin_zero may be omitted
			return nil, short(sizeofSockaddrInet4)
		}
		a := &Inet4Addr{Port: int(raw[2])<<8 | int(raw[3])}
		copy(a.Addr[:], raw[4:8])
		return a, nil
	case AF_INET6:
		if n < sizeofSockaddrInet6 {
			return nil, short(sizeofSockaddrInet6)
		}
		a := &Inet6Addr{Port: int(raw[2])<<8 | int(raw[3])}
		a.FlowInfo = uint32(raw[4])<<24 | uint32(raw[5])<<16 | uint32(raw[6])<<8 | uint32(raw[7])
		copy(a.Addr[:], raw[8:24])
		a.ScopeID = (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa)).Scope_id
		return a, nil
	case AF_UNIX:
		path := raw[2:]
		if len(path) == 0 {
			return &UnixAddr{}, nil
		}
		if path[0] == 0 {
			// Abstract: every byte after the marker is part of the name.
			return &UnixAddr{Path: "@" + string(path[1:])}, nil
		}
		for i, b := range path {
			if b == 0 {
				path = path[:i]
				break
			}
		}
		return &UnixAddr{Path: string(path)}, nil
	case AF_VSOCK:
		if n < sizeofSockaddrVM {
			return nil, short(sizeofSockaddrVM)
		}
		p := (*unix.RawSockaddrVM)(unsafe.Pointer(rsa))
		return &VsockAddr{CID: p.Cid, Port: p.Port}, nil
	case AF_NETLINK:
		if n < sizeofSockaddrNetlink {
			return nil, short(sizeofSockaddrNetlink)
		}
		p := (*unix.RawSockaddrNetlink)(unsafe.Pointer(rsa))
		return &NetlinkAddr{PortID: p.Pid, Groups: p.Groups}, nil
	case AF_PACKET:
		if n < 12 {
			return nil, short(sizeofSockaddrLinkl)
		}
		p := (*unix.RawSockaddrLinklayer)(unsafe.Pointer(rsa))
		halen := int(p.Halen)
		if halen > len(p.Addr) {
			halen = len(p.Addr)
		}
		if 12+halen > int(n) {
			halen = int(n) - 12
		}
		return &PacketAddr{Protocol: Htons(p.Protocol), Ifindex: int(p.Ifindex), Hatype: p.Hatype,
			Pkttype: p.Pkttype, Addr: append([]byte(nil), p.Addr[:halen]...)}, nil
	case AF_UNSPEC:
		return nil, nil
	}
	return &UnknownAddr{AF: fam, Data: append([]byte(nil), raw[2:]...)}, nil
}
