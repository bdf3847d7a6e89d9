package proxyproto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"net/netip"
	"strconv"
)

// Format returns the header's wire form: the version 1 text line or the
// version 2 binary block, as h.Version says. Version 1 can only carry a
// Proxy command over TCP4, TCP6 or Unspec (written "UNKNOWN") and no TLVs.
// In version 2 a Local command or an Unspec transport writes a zeroed
// address block of the transport's size, and a TypeCRC32C extension, if
// present, gets the header's checksum as its value.
func (h *Header) Format() ([]byte, error) {
	if h == nil {
		return nil, errors.New("proxyproto: format: nil *Header")
	}
	switch h.Version {
	case 1:
		return h.formatV1()
	case 2:
		return h.formatV2()
	}
	return nil, fmt.Errorf("proxyproto: format: version %d", h.Version)
}

func (h *Header) formatV1() ([]byte, error) {
	if h.Command != Proxy {
		return nil, fmt.Errorf("proxyproto: format: version 1 has no %v command", h.Command)
	}
	if len(h.TLVs) > 0 {
		return nil, fmt.Errorf("proxyproto: format: version 1 has no TLVs")
	}
	b := []byte(v1Prefix)
	switch h.Transport {
	case Unspec:
		return append(b, "UNKNOWN\r\n"...), nil
	case TCP4, TCP6:
	default:
		return nil, fmt.Errorf("proxyproto: format: version 1 cannot carry %v", h.Transport)
	}
	src, err := addrPort(h.Transport, h.Source)
	if err != nil {
		return nil, err
	}
	dst, err := addrPort(h.Transport, h.Destination)
	if err != nil {
		return nil, err
	}
	b = append(b, h.Transport.String()...)
	b = append(b, ' ')
	b = src.Addr().AppendTo(b)
	b = append(b, ' ')
	b = dst.Addr().AppendTo(b)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(src.Port()), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(dst.Port()), 10)
	return append(b, '\r', '\n'), nil
}

// addrPort converts a Source or Destination to the form t needs.
func addrPort(t Transport, a net.Addr) (netip.AddrPort, error) {
	var ap netip.AddrPort
	var port int
	switch a := a.(type) {
	case *net.TCPAddr:
		if a != nil {
			ap, port = a.AddrPort(), a.Port
		}
	case *net.UDPAddr:
		if a != nil {
			ap, port = a.AddrPort(), a.Port
		}
	default:
		return ap, fmt.Errorf("proxyproto: format: %v needs IP addresses, have %T", t, a)
	}
	if port < 0 || port > 65535 {
		// AddrPort cuts the port to 16 bits: 70000 would go out as 4464.
		return ap, fmt.Errorf("proxyproto: format: address %v: port out of range 0-65535", a)
	}
	ip := ap.Addr()
	switch t {
	case TCP4, UDP4:
		ip = ip.Unmap()
		if !ip.Is4() {
			return ap, fmt.Errorf("proxyproto: format: %v address %v", t, ip)
		}
	default:
		if !ip.IsValid() || ip.Zone() != "" {
			return ap, fmt.Errorf("proxyproto: format: %v address %v", t, ip)
		}
		ip = netip.AddrFrom16(ip.As16())
	}
	return netip.AddrPortFrom(ip, ap.Port()), nil
}

func (h *Header) formatV2() ([]byte, error) {
	if h.Command != Local && h.Command != Proxy {
		return nil, fmt.Errorf("proxyproto: format: command %v", h.Command)
	}
	alen, ok := h.Transport.addrLen()
	if !ok {
		return nil, fmt.Errorf("proxyproto: format: transport %v", h.Transport)
	}
	b := make([]byte, v2Fixed, v2Fixed+alen+64)
	copy(b, Signature[:])
	b[12] = 0x20 | byte(h.Command)
	b[13] = byte(h.Transport)
	addrs := make([]byte, alen)
	if h.Command == Proxy && alen > 0 {
		if err := h.putAddrs(addrs); err != nil {
			return nil, err
		}
	}
	b = append(b, addrs...)
	crcAt := -1
	for _, t := range h.TLVs {
		if len(t.Value) > 0xffff {
			return nil, fmt.Errorf("proxyproto: format: TLV %#02x of %d bytes", t.Type, len(t.Value))
		}
		b = append(b, byte(t.Type), 0, 0)
		binary.BigEndian.PutUint16(b[len(b)-2:], uint16(len(t.Value)))
		if t.Type == TypeCRC32C && crcAt < 0 {
			if len(t.Value) != 4 {
				return nil, fmt.Errorf("proxyproto: format: CRC32C of %d bytes", len(t.Value))
			}
			crcAt = len(b)
			b = append(b, 0, 0, 0, 0)
			continue
		}
		b = append(b, t.Value...)
	}
	if len(b)-v2Fixed > 0xffff {
		return nil, fmt.Errorf("proxyproto: format: header of %d bytes", len(b))
	}
	binary.BigEndian.PutUint16(b[14:16], uint16(len(b)-v2Fixed))
	if crcAt >= 0 {
		binary.BigEndian.PutUint32(b[crcAt:], crc32.Checksum(b, castagnoli))
	}
	return b, nil
}

func (h *Header) putAddrs(a []byte) error {
	switch h.Transport {
	case UnixStream, UnixDatagram:
		for i, addr := range []net.Addr{h.Source, h.Destination} {
			ua, ok := addr.(*net.UnixAddr)
			if !ok {
				return fmt.Errorf("proxyproto: format: %v needs Unix addresses, have %T", h.Transport, addr)
			}
			if ua == nil {
				return fmt.Errorf("proxyproto: format: %v needs Unix addresses, have a nil *net.UnixAddr", h.Transport)
			}
			// "@name" is an abstract name, as in Go's net package; "@"
			// alone stays a path, since an empty abstract name reads back
			// as an unnamed socket.
			name := ua.Name
			if len(name) > 1 && name[0] == '@' {
				name = "\x00" + name[1:]
			}
			if len(name) > 108 {
				return fmt.Errorf("proxyproto: format: Unix address %q is longer than 108 bytes", ua.Name)
			}
			copy(a[i*108:], name)
		}
		return nil
	}
	src, err := addrPort(h.Transport, h.Source)
	if err != nil {
		return err
	}
	dst, err := addrPort(h.Transport, h.Destination)
	if err != nil {
		return err
	}
	n := copy(a, src.Addr().AsSlice())
	copy(a[n:], dst.Addr().AsSlice())
	binary.BigEndian.PutUint16(a[2*n:], src.Port())
	binary.BigEndian.PutUint16(a[2*n+2:], dst.Port())
	return nil
}
