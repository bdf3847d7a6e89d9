// Package proxyproto reads and writes the PROXY protocol header (versions 1
// and 2) that HAProxy, nginx, Envoy and cloud load balancers put in front of
// a TCP connection to tell the server who the real client is.
//
// The specification (haproxy.org/download/2.6/doc/proxy-protocol.txt) says
// a receiver must be configured to expect the header and must not guess
// whether it is there: a client that could reach the server directly could
// otherwise claim any address. So this package never guesses. A Listener
// asks its PolicyFunc, with the address of the immediate peer, whether that
// peer must send a header (Require), is trusted to speak plainly (Skip), or
// is turned away (Reject).
//
// Parse works on a byte slice (for event loops that peek at their input);
// ReadHeader reads a header from a connection without reading past it, so
// the connection can be handed on as is; Header.Format writes one (for
// proxies and tests).
package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Errors Parse and ReadHeader return; test with errors.Is.
var (
	// ErrNoHeader: the input does not start with a PROXY protocol header.
	ErrNoHeader = errors.New("proxyproto: no PROXY protocol header")
	// ErrIncomplete: the input is the start of a header; more is needed.
	ErrIncomplete = errors.New("proxyproto: incomplete header")
	// ErrInvalid: a header that breaks the specification.
	ErrInvalid = errors.New("proxyproto: invalid header")
)

// Signature is the 12 bytes that begin a version 2 header.
var Signature = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// MaxV1Len is the longest a version 1 header may be, CRLF included.
const MaxV1Len = 107

const (
	v1Prefix = "PROXY "
	// minLen is the shortest header of either version: "PROXY UNKNOWN\r\n".
	minLen  = 15
	v2Fixed = 16 // signature, version and command, family, length
)

// Command is a version 2 header's command.
type Command uint8

// The commands of version 2. A version 1 header is always Proxy.
const (
	// Local: the proxy made the connection itself (a health check); the
	// connection's real endpoints apply.
	Local Command = 0x0
	// Proxy: the connection is relayed for the client in Source.
	Proxy Command = 0x1
)

// String returns "LOCAL" or "PROXY".
func (c Command) String() string {
	switch c {
	case Local:
		return "LOCAL"
	case Proxy:
		return "PROXY"
	}
	return fmt.Sprintf("Command(%d)", uint8(c))
}

// Transport is the address family and protocol of the relayed connection:
// version 2's family byte (address family in the high nibble, protocol in
// the low one).
type Transport uint8

// The transports a header can name. Version 1 has only TCP4, TCP6 and
// Unspec ("UNKNOWN").
const (
	Unspec       Transport = 0x00
	TCP4         Transport = 0x11
	UDP4         Transport = 0x12
	TCP6         Transport = 0x21
	UDP6         Transport = 0x22
	UnixStream   Transport = 0x31
	UnixDatagram Transport = 0x32
)

// String returns the transport's name as the specification spells it.
func (t Transport) String() string {
	switch t {
	case Unspec:
		return "UNSPEC"
	case TCP4:
		return "TCP4"
	case UDP4:
		return "UDP4"
	case TCP6:
		return "TCP6"
	case UDP6:
		return "UDP6"
	case UnixStream:
		return "UNIX_STREAM"
	case UnixDatagram:
		return "UNIX_DGRAM"
	}
	return fmt.Sprintf("Transport(%#02x)", uint8(t))
}

// addrLen is the size of a transport's address block in version 2, and
// false for a family byte the specification does not define.
func (t Transport) addrLen() (int, bool) {
	switch t {
	case Unspec:
		return 0, true
	case TCP4, UDP4:
		return 12, true
	case TCP6, UDP6:
		return 36, true
	case UnixStream, UnixDatagram:
		return 216, true
	}
	return 0, false
}

// TLVType is the type of a version 2 TLV (type-length-value) extension.
type TLVType uint8

// The TLV types the specification defines. Others (0xE0-0xEF are for
// applications, 0xF0-0xF7 experimental) are kept as they come.
const (
	TypeALPN      TLVType = 0x01 // the application protocol negotiated
	TypeAuthority TLVType = 0x02 // the host name the client asked for (SNI)
	TypeCRC32C    TLVType = 0x03 // checksum of the whole header; Parse checks it
	TypeNoop      TLVType = 0x04 // padding
	TypeUniqueID  TLVType = 0x05 // a connection id (HAProxy's unique-id)
	TypeSSL       TLVType = 0x20 // TLS details of the client's connection
	TypeNetNS     TLVType = 0x30 // the network namespace's name
)

// TLV is one version 2 extension.
type TLV struct {
	Type  TLVType
	Value []byte
}

// Header is a parsed PROXY protocol header.
type Header struct {
	// Version is 1 (text) or 2 (binary).
	Version int
	// Command is Proxy, or Local for a proxy's own connection.
	Command Command
	// Transport says what Source and Destination are.
	Transport Transport
	// Source is the client's address and Destination the address it
	// connected to: *net.TCPAddr, *net.UDPAddr or *net.UnixAddr. Both are
	// nil for a Local command or an Unspec transport (version 1's
	// UNKNOWN): the connection's own addresses apply then.
	Source, Destination net.Addr
	// TLVs are version 2's extensions, in the order they came.
	TLVs []TLV
}

// TLV returns the value of the first extension of type t.
func (h *Header) TLV(t TLVType) ([]byte, bool) {
	if h == nil {
		return nil, false
	}
	for _, x := range h.TLVs {
		if x.Type == t {
			return x.Value, true
		}
	}
	return nil, false
}

// String describes the header: "v2 PROXY TCP4 127.0.0.1:46668 -> 127.0.0.1:9100 +1 TLV".
func (h *Header) String() string {
	if h == nil {
		return "<nil>"
	}
	s := fmt.Sprintf("v%d %v %v", h.Version, h.Command, h.Transport)
	if h.Source != nil || h.Destination != nil {
		s += fmt.Sprintf(" %v -> %v", h.Source, h.Destination)
	}
	if len(h.TLVs) > 0 {
		s += fmt.Sprintf(" +%d TLV", len(h.TLVs))
	}
	return s
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Parse parses the header at the start of b and returns it with its length
// in bytes; what follows it in b is the connection's data. It returns
// ErrIncomplete when b is the beginning of a header, ErrNoHeader when b
// cannot begin one, and an error wrapping ErrInvalid for a malformed header.
// The Header does not refer to b.
func Parse(b []byte) (*Header, int, error) {
	h, n, _, err := parse(b)
	return h, n, err
}

// parse is Parse that also says, for ErrIncomplete, how many bytes b must
// hold at least before the header can be complete.
func parse(b []byte) (*Header, int, int, error) {
	if len(b) == 0 {
		return nil, 0, minLen, ErrIncomplete
	}
	switch b[0] {
	case Signature[0]:
		if !bytes.HasPrefix(Signature[:], b[:min(len(b), len(Signature))]) {
			return nil, 0, 0, ErrNoHeader
		}
		return parseV2(b)
	case v1Prefix[0]:
		if !strings.HasPrefix(v1Prefix, string(b[:min(len(b), len(v1Prefix))])) {
			return nil, 0, 0, ErrNoHeader
		}
		return parseV1(b)
	}
	return nil, 0, 0, ErrNoHeader
}

func parseV1(b []byte) (*Header, int, int, error) {
	end := -1
	for i, c := range b[:min(len(b), MaxV1Len)] {
		if c == '\r' {
			if i+1 >= MaxV1Len {
				return nil, 0, 0, invalid("v1: no CRLF within %d bytes", MaxV1Len)
			}
			if i+1 < len(b) && b[i+1] != '\n' {
				return nil, 0, 0, invalid("v1: CR not followed by LF")
			}
			if i+1 < len(b) {
				end = i
				break
			}
			continue
		}
		if c < 0x20 || c > 0x7e {
			return nil, 0, 0, invalid("v1: byte %#02x before the CRLF", c)
		}
	}
	if end < 0 {
		if len(b) >= MaxV1Len {
			return nil, 0, 0, invalid("v1: no CRLF within %d bytes", MaxV1Len)
		}
		return nil, 0, max(minLen, len(b)+1), ErrIncomplete
	}
	fields := strings.Split(string(b[len(v1Prefix):end]), " ")
	h := &Header{Version: 1, Command: Proxy}
	switch fields[0] {
	case "UNKNOWN":
		// The rest of the line means nothing and is ignored, as the
		// specification says.
		h.Transport = Unspec
		return h, end + 2, 0, nil
	case "TCP4":
		h.Transport = TCP4
	case "TCP6":
		h.Transport = TCP6
	default:
		return nil, 0, 0, invalid("v1: protocol %q", fields[0])
	}
	if len(fields) != 5 {
		return nil, 0, 0, invalid("v1: %d fields, want 5", len(fields))
	}
	src, err := v1Addr(h.Transport, fields[1], fields[3])
	if err != nil {
		return nil, 0, 0, err
	}
	dst, err := v1Addr(h.Transport, fields[2], fields[4])
	if err != nil {
		return nil, 0, 0, err
	}
	h.Source, h.Destination = src, dst
	return h, end + 2, 0, nil
}

func v1Addr(t Transport, ip, port string) (net.Addr, error) {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Zone() != "" {
		return nil, invalid("v1: address %q", ip)
	}
	if (t == TCP4) != a.Is4() {
		return nil, invalid("v1: %s address %q", t, ip)
	}
	// Decimal, no sign, no leading zero, at most 65535.
	if port == "" || len(port) > 5 || (port[0] == '0' && len(port) > 1) {
		return nil, invalid("v1: port %q", port)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, invalid("v1: port %q", port)
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, uint16(p))), nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func parseV2(b []byte) (*Header, int, int, error) {
	if len(b) < v2Fixed {
		return nil, 0, v2Fixed, ErrIncomplete
	}
	if v := b[12] >> 4; v != 2 {
		return nil, 0, 0, invalid("v2: version %d", v)
	}
	cmd := Command(b[12] & 0x0f)
	if cmd != Local && cmd != Proxy {
		return nil, 0, 0, invalid("v2: command %#x", uint8(cmd))
	}
	tr := Transport(b[13])
	alen, ok := tr.addrLen()
	if !ok {
		return nil, 0, 0, invalid("v2: family and protocol %#02x", b[13])
	}
	total := v2Fixed + int(binary.BigEndian.Uint16(b[14:16]))
	if len(b) < total {
		return nil, 0, total, ErrIncomplete
	}
	if total-v2Fixed < alen {
		return nil, 0, 0, invalid("v2: %d bytes for %s addresses, want %d", total-v2Fixed, tr, alen)
	}
	// One copy, so that the TLV values do not alias the caller's buffer.
	buf := bytes.Clone(b[:total])
	h := &Header{Version: 2, Command: cmd, Transport: tr}
	if cmd == Proxy {
		h.Source, h.Destination = v2Addrs(tr, buf[v2Fixed:v2Fixed+alen])
	}
	rest := buf[v2Fixed+alen:]
	for len(rest) > 0 {
		if len(rest) < 3 {
			return nil, 0, 0, invalid("v2: %d stray bytes after the TLVs", len(rest))
		}
		n := int(binary.BigEndian.Uint16(rest[1:3]))
		if len(rest) < 3+n {
			return nil, 0, 0, invalid("v2: TLV %#02x of %d bytes overruns the header", rest[0], n)
		}
		h.TLVs = append(h.TLVs, TLV{Type: TLVType(rest[0]), Value: rest[3 : 3+n : 3+n]})
		rest = rest[3+n:]
	}
	if sum, ok := h.TLV(TypeCRC32C); ok {
		if len(sum) != 4 {
			return nil, 0, 0, invalid("v2: CRC32C of %d bytes", len(sum))
		}
		want := binary.BigEndian.Uint32(sum)
		var saved [4]byte
		copy(saved[:], sum)
		clear(sum)
		got := crc32.Checksum(buf, castagnoli)
		copy(sum, saved[:])
		if got != want {
			return nil, 0, 0, invalid("v2: CRC32C %#08x, header sums to %#08x", want, got)
		}
	}
	return h, total, 0, nil
}

func v2Addrs(t Transport, a []byte) (src, dst net.Addr) {
	switch t {
	case TCP4, UDP4:
		s := netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[0:4])), binary.BigEndian.Uint16(a[8:10]))
		d := netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[4:8])), binary.BigEndian.Uint16(a[10:12]))
		return ipAddr(t, s), ipAddr(t, d)
	case TCP6, UDP6:
		s := netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[0:16])), binary.BigEndian.Uint16(a[32:34]))
		d := netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[16:32])), binary.BigEndian.Uint16(a[34:36]))
		return ipAddr(t, s), ipAddr(t, d)
	case UnixStream, UnixDatagram:
		nw := "unix"
		if t == UnixDatagram {
			nw = "unixgram"
		}
		return &net.UnixAddr{Name: unixName(a[:108]), Net: nw}, &net.UnixAddr{Name: unixName(a[108:]), Net: nw}
	}
	return nil, nil
}

func ipAddr(t Transport, ap netip.AddrPort) net.Addr {
	if t == UDP4 || t == UDP6 {
		return net.UDPAddrFromAddrPort(ap)
	}
	return net.TCPAddrFromAddrPort(ap)
}

// unixName decodes a sun_path: a path ends at its first NUL; an abstract
// name (a leading NUL) is written "@name", as Go's net package does, with
// the padding NULs after it dropped; all NULs is an unnamed socket ("").
func unixName(p []byte) string {
	if len(p) > 0 && p[0] == 0 {
		name := bytes.TrimRight(p[1:], "\x00")
		if len(name) == 0 {
			return ""
		}
		return "@" + string(name)
	}
	if i := bytes.IndexByte(p, 0); i >= 0 {
		p = p[:i]
	}
	return string(p)
}
