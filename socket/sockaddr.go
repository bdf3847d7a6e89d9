package socket

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"

	"github.com/socketkit/socketkit/internal/rawaddr"
)

// Sockaddr is a socket address: what bind(2), connect(2) and sendto(2) take
// and what accept(2), getsockname(2) and recvfrom(2) give back. The concrete
// types are *Inet4Addr, *Inet6Addr, *UnixAddr, *VsockAddr, *NetlinkAddr,
// *PacketAddr and *UnknownAddr.
//
// String prints the address in the form ParseAddr reads: "127.0.0.1:6254",
// "[::1]:80", "/run/echo.sock" or "@abstract".
//
// Python: the address tuples (host, port), (host, port, flowinfo, scope_id)
// and the AF_UNIX path string.
type Sockaddr interface {
	Family() Family
	String() string
}

// Inet4Addr is an AF_INET address: an IPv4 address and a port.
type Inet4Addr struct {
	Addr [4]byte
	Port int
}

// Family returns AF_INET.
func (a *Inet4Addr) Family() Family { return AF_INET }

// String returns "a.b.c.d:port" ("<nil>" for a nil pointer).
func (a *Inet4Addr) String() string {
	if a == nil {
		return "<nil>"
	}
	if a.Port < 0 || a.Port > 65535 {
		// Out of range (an error names it): print it as it is, not cut
		// to 16 bits as AddrPort would.
		return netip.AddrFrom4(a.Addr).String() + ":" + strconv.Itoa(a.Port)
	}
	return a.AddrPort().String()
}

// AddrPort returns a as a netip.AddrPort.
func (a *Inet4Addr) AddrPort() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
}

// Inet6Addr is an AF_INET6 address: an IPv6 address, a port, the flow label
// and the scope (interface index) of a link-local address.
type Inet6Addr struct {
	Addr     [16]byte
	Port     int
	FlowInfo uint32 // the 20-bit flow label: 0 to 1048575, as Python checks
	ScopeID  uint32
}

// badAddr is the error for a non-nil Sockaddr value that cannot be encoded.
func badAddr(sa Sockaddr, reason string) error {
	return &AddrError{Addr: sa.String(), Family: sa.Family(), Reason: reason, Err: syscall.EINVAL}
}

// maxFlowInfo is the largest flow label (20 bits) an address may carry.
const maxFlowInfo = 1<<20 - 1

// Family returns AF_INET6.
func (a *Inet6Addr) Family() Family { return AF_INET6 }

// String returns "[addr]:port", with "%scope" after a nonzero scope.
func (a *Inet6Addr) String() string {
	if a == nil {
		return "<nil>"
	}
	if a.Port < 0 || a.Port > 65535 {
		return "[" + a.AddrPort().Addr().String() + "]:" + strconv.Itoa(a.Port)
	}
	return a.AddrPort().String()
}

// AddrPort returns a as a netip.AddrPort; a nonzero ScopeID becomes the
// numeric zone.
func (a *Inet6Addr) AddrPort() netip.AddrPort {
	ip := netip.AddrFrom16(a.Addr)
	if a.ScopeID != 0 {
		ip = ip.WithZone(strconv.FormatUint(uint64(a.ScopeID), 10))
	}
	return netip.AddrPortFrom(ip, uint16(a.Port))
}

// UnixAddr is an AF_UNIX address. Path is a file system path, or "@name" for
// a Linux abstract address (Python writes these with a leading NUL byte), or
// "" for an unnamed socket such as one end of a Socketpair.
type UnixAddr struct {
	Path string
}

// Family returns AF_UNIX.
func (a *UnixAddr) Family() Family { return AF_UNIX }

// String returns the path.
func (a *UnixAddr) String() string {
	if a == nil {
		return "<nil>"
	}
	return a.Path
}

// VsockAddr is an AF_VSOCK address: a context ID and a port.
type VsockAddr struct {
	CID  uint32
	Port uint32
}

// Family returns AF_VSOCK.
func (a *VsockAddr) Family() Family { return AF_VSOCK }

// String returns "cid:port".
func (a *VsockAddr) String() string {
	if a == nil {
		return "<nil>"
	}
	return strconv.FormatUint(uint64(a.CID), 10) + ":" + strconv.FormatUint(uint64(a.Port), 10)
}

// NetlinkAddr is an AF_NETLINK address: a port ID and a multicast group mask.
type NetlinkAddr struct {
	PortID uint32
	Groups uint32
}

// Family returns AF_NETLINK.
func (a *NetlinkAddr) Family() Family { return AF_NETLINK }

// String returns "portid:groups".
func (a *NetlinkAddr) String() string {
	if a == nil {
		return "<nil>"
	}
	return strconv.FormatUint(uint64(a.PortID), 10) + ":" + strconv.FormatUint(uint64(a.Groups), 10)
}

// PacketAddr is an AF_PACKET (link-layer) address, as packet(7) describes it.
type PacketAddr struct {
	Protocol uint16 // Ethernet protocol in host order, e.g. 0x0800 for IPv4.
	Ifindex  int
	Hatype   uint16
	Pkttype  uint8
	Addr     []byte // hardware address, up to 8 bytes
}

// Family returns AF_PACKET.
func (a *PacketAddr) Family() Family { return AF_PACKET }

// String returns "ifindex:0xproto" followed by the hardware address, if any.
func (a *PacketAddr) String() string {
	if a == nil {
		return "<nil>"
	}
	s := strconv.Itoa(a.Ifindex) + ":0x" + strconv.FormatUint(uint64(a.Protocol), 16)
	if len(a.Addr) > 0 {
		s += "/" + net.HardwareAddr(a.Addr).String()
	}
	return s
}

// UnknownAddr holds an address of a family this package cannot decode, so
// that decoding never fails for lack of a type.
type UnknownAddr struct {
	AF   Family
	Data []byte
}

// Family returns the address's family.
func (a *UnknownAddr) Family() Family {
	if a == nil {
		return AF_UNSPEC
	}
	return a.AF
}

// String returns the family and the bytes in hexadecimal.
func (a *UnknownAddr) String() string {
	if a == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%v:%x", a.AF, a.Data)
}

// isNilAddr reports whether sa is nil or a nil pointer of one of our types.
func isNilAddr(sa Sockaddr) bool {
	switch a := sa.(type) {
	case nil:
		return true
	case *Inet4Addr:
		return a == nil
	case *Inet6Addr:
		return a == nil
	case *UnixAddr:
		return a == nil
	case *VsockAddr:
		return a == nil
	case *NetlinkAddr:
		return a == nil
	case *PacketAddr:
		return a == nil
	case *UnknownAddr:
		return a == nil
	}
	return false
}

// InetAddr returns the *Inet4Addr or *Inet6Addr for ap. An IPv4-mapped IPv6
// address stays IPv6; call ap.Addr().Unmap() first to get AF_INET.
func InetAddr(ap netip.AddrPort) Sockaddr {
	ip := ap.Addr()
	if ip.Is4() {
		return &Inet4Addr{Addr: ip.As4(), Port: int(ap.Port())}
	}
	a := &Inet6Addr{Addr: ip.As16(), Port: int(ap.Port())}
	if z := ip.Zone(); z != "" {
		a.ScopeID = zoneToScope(z)
	}
	return a
}

// AddrPortOf returns the IP address and port of an *Inet4Addr or *Inet6Addr,
// and false for any other address.
func AddrPortOf(sa Sockaddr) (netip.AddrPort, bool) {
	switch a := sa.(type) {
	case *Inet4Addr:
		if a != nil {
			return a.AddrPort(), true
		}
	case *Inet6Addr:
		if a != nil {
			return a.AddrPort(), true
		}
	}
	return netip.AddrPort{}, false
}

// zoneToScope turns a zone ("2" or "eth0") into an interface index; an
// unknown name gives 0.
func zoneToScope(z string) uint32 { return rawaddr.ZoneToScope(z) }

// MaxUnixPath is the size of sun_path on Linux: the longest AF_UNIX path,
// counting the leading "@" of an abstract name as its NUL byte.
const MaxUnixPath = 108

// AddrError is the error ParseAddr returns for text that is not an address.
type AddrError struct {
	Addr   string
	Family Family
	Reason string
	Err    error // an errno or resolver error, if one explains the failure
}

// Error returns "address ADDR: REASON".
func (e *AddrError) Error() string {
	s := "address " + strconv.Quote(e.Addr) + ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error, if any.
func (e *AddrError) Unwrap() error { return e.Err }

// ParseAddr reads an address of family f from text. It accepts
// "127.0.0.1:6254", "localhost:80" (resolved), "[::1]:0",
// "[fe80::1%eth0]:80", ":8080" (the wildcard address) and "host:http" (a
// service name) for AF_INET and AF_INET6; a path such as "./echo.sock" or an
// abstract name "@name" for AF_UNIX; "cid:port" for AF_VSOCK. With AF_UNSPEC
// the family is taken from the text: a path or "@name" is AF_UNIX, an IPv6
// literal is AF_INET6, and anything else is AF_INET, or AF_INET6 when a name
// resolves only to IPv6.
//
// Names are resolved with the Go resolver, bounded by ctx in
// ParseAddrContext. Python: the (host, port) tuples that bind and connect
// take, with getaddrinfo behind them.
func ParseAddr(f Family, s string) (Sockaddr, error) {
	return ParseAddrContext(context.Background(), f, s)
}

// ParseAddrContext is ParseAddr with a context that bounds name resolution.
func ParseAddrContext(ctx context.Context, f Family, s string) (Sockaddr, error) {
	if ctx == nil {
		return nil, &AddrError{Addr: s, Family: f, Reason: "cannot resolve", Err: errNilContext}
	}
	switch f {
	case AF_UNIX:
		return parseUnix(s)
	case AF_INET, AF_INET6:
		return parseInet(ctx, f, s)
	case AF_VSOCK:
		return parseVsock(s)
	case AF_UNSPEC:
		if looksLikeUnix(s) {
			return parseUnix(s)
		}
		return parseInet(ctx, AF_UNSPEC, s)
	}
	return nil, &AddrError{Addr: s, Family: f, Reason: "family " + f.String() + " has no text form", Err: errors.ErrUnsupported}
}

func looksLikeUnix(s string) bool {
	return strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") ||
		strings.HasPrefix(s, "@") || (s != "" && !strings.Contains(s, ":"))
}

func parseUnix(s string) (Sockaddr, error) {
	if s == "" {
		return &UnixAddr{}, nil
	}
	if len(s) > MaxUnixPath {
		return nil, &AddrError{Addr: s, Family: AF_UNIX,
			Reason: fmt.Sprintf("unix socket path is %d bytes, the limit is %d", len(s), MaxUnixPath),
			Err:    syscall.ENAMETOOLONG}
	}
	if strings.IndexByte(s, 0) >= 0 && !strings.HasPrefix(s, "@") {
		return nil, &AddrError{Addr: s, Family: AF_UNIX, Reason: "unix socket path contains a NUL byte", Err: syscall.EINVAL}
	}
	return &UnixAddr{Path: s}, nil
}

func parseVsock(s string) (Sockaddr, error) {
	c, p, ok := strings.Cut(s, ":")
	if !ok {
		return nil, &AddrError{Addr: s, Family: AF_VSOCK, Reason: "want cid:port"}
	}
	cid, err1 := strconv.ParseUint(c, 10, 32)
	port, err2 := strconv.ParseUint(p, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, &AddrError{Addr: s, Family: AF_VSOCK, Reason: "want numeric cid:port"}
	}
	return &VsockAddr{CID: uint32(cid), Port: uint32(port)}, nil
}

// ParsePort reads a port number or a service name ("http") for network
// ("tcp" or "udp") and checks that it is in 0-65535.
func ParsePort(network, s string) (int, error) {
	if s == "" {
		return 0, &AddrError{Addr: s, Reason: "missing port"}
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 || n > 65535 {
			return 0, &AddrError{Addr: s, Reason: "port out of range 0-65535"}
		}
		return n, nil
	}
	network = strings.TrimRight(network, "46")
	if network == "" {
		network = "tcp"
	}
	n, err := GetServByName(s, network)
	if err != nil {
		return 0, &AddrError{Addr: s, Reason: "unknown port or service", Err: err}
	}
	return n, nil
}

func parseInet(ctx context.Context, f Family, s string) (Sockaddr, error) {
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		return nil, &AddrError{Addr: s, Family: f, Reason: "want host:port (IPv6 as [addr]:port)"}
	}
	port, err := ParsePort("tcp", portStr)
	if err != nil {
		ae := err.(*AddrError)
		ae.Addr, ae.Family = s, f
		return nil, ae
	}
	var ip netip.Addr
	switch {
	case host == "":
		ip = netip.IPv4Unspecified()
		if f == AF_INET6 {
			ip = netip.IPv6Unspecified()
		}
	case host == "<broadcast>" && f != AF_INET6:
		ip = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	default:
		if parsed, perr := netip.ParseAddr(host); perr == nil {
			ip = parsed
		} else {
			ip, err = resolveOne(ctx, f, host)
			if err != nil {
				return nil, &AddrError{Addr: s, Family: f, Reason: "cannot resolve " + strconv.Quote(host), Err: err}
			}
		}
	}
	if f == AF_INET {
		ip = ip.Unmap()
		if !ip.Is4() {
			return nil, &AddrError{Addr: s, Family: f, Reason: "not an IPv4 address", Err: syscall.EAFNOSUPPORT}
		}
	}
	if f == AF_INET6 && ip.Is4() {
		return nil, &AddrError{Addr: s, Family: f, Reason: "not an IPv6 address (use ::ffff:a.b.c.d for a mapped address)", Err: syscall.EAFNOSUPPORT}
	}
	return InetAddr(netip.AddrPortFrom(ip, uint16(port))), nil
}

// resolveOne resolves host for family f, preferring IPv4 for AF_UNSPEC as
// Python's socket functions do by default.
func resolveOne(ctx context.Context, f Family, host string) (netip.Addr, error) {
	network := "ip"
	switch f {
	case AF_INET:
		network = "ip4"
	case AF_INET6:
		network = "ip6"
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, network, host)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, ip := range ips {
		if ip.Unmap().Is4() {
			return ip.Unmap(), nil
		}
	}
	if len(ips) == 0 {
		return netip.Addr{}, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	return ips[0], nil
}

// NetAddr converts sa into the net.Addr that the net package uses for a
// socket of type t: *net.TCPAddr, *net.UDPAddr, *net.IPAddr or *net.UnixAddr.
// It returns nil for a nil sa, and a generic net.Addr for other families
// and for an IP address whose port is out of range (0 to 65535), whose
// String is sa.String(), the port as given rather than cut to 16 bits.
func NetAddr(sa Sockaddr, t Type) net.Addr {
	if isNilAddr(sa) {
		return nil
	}
	t &^= typeFlags
	if ap, ok := AddrPortOf(sa); ok {
		if p := inetPort(sa); (p < 0 || p > 65535) && (t == SOCK_STREAM || t == SOCK_DGRAM) {
			// A port out of range (an error names the address) has no
			// net.TCPAddr or netip form: AddrPort would cut it to 16
			// bits. Keep it as the caller gave it.
			return genericAddr{network: inetNetwork(t), addr: sa.String()}
		}
		switch t {
		case SOCK_STREAM:
			return net.TCPAddrFromAddrPort(ap)
		case SOCK_DGRAM:
			return net.UDPAddrFromAddrPort(ap)
		default:
			return &net.IPAddr{IP: ap.Addr().AsSlice(), Zone: ap.Addr().Zone()}
		}
	}
	if ua, ok := sa.(*UnixAddr); ok {
		return &net.UnixAddr{Name: ua.Path, Net: unixNetwork(t)}
	}
	return genericAddr{network: sa.Family().String(), addr: sa.String()}
}

type genericAddr struct{ network, addr string }

// inetPort is the port of an *Inet4Addr or *Inet6Addr as given, wider than
// 16 bits if it is out of range.
func inetPort(sa Sockaddr) int {
	switch a := sa.(type) {
	case *Inet4Addr:
		return a.Port
	case *Inet6Addr:
		return a.Port
	}
	return 0
}

// inetNetwork is the net package's network name for a stream or datagram
// IP socket.
func inetNetwork(t Type) string {
	if t == SOCK_STREAM {
		return "tcp"
	}
	return "udp"
}

func (a genericAddr) Network() string { return a.network }
func (a genericAddr) String() string  { return a.addr }

func unixNetwork(t Type) string {
	switch t &^ typeFlags {
	case SOCK_DGRAM:
		return "unixgram"
	case SOCK_SEQPACKET:
		return "unixpacket"
	}
	return "unix"
}

// FromNetAddr converts a net.Addr from the net package into a Sockaddr:
// *net.TCPAddr, *net.UDPAddr and *net.IPAddr become *Inet4Addr or *Inet6Addr,
// *net.UnixAddr becomes *UnixAddr.
func FromNetAddr(a net.Addr) (Sockaddr, error) {
	switch a := a.(type) {
	case *net.TCPAddr:
		if a != nil {
			return inetFromIP(a.IP, a.Port, a.Zone)
		}
	case *net.UDPAddr:
		if a != nil {
			return inetFromIP(a.IP, a.Port, a.Zone)
		}
	case *net.IPAddr:
		if a != nil {
			return inetFromIP(a.IP, 0, a.Zone)
		}
	case *net.UnixAddr:
		if a != nil {
			return parseUnix(a.Name)
		}
	case Sockaddr:
		return a, nil
	}
	return nil, &AddrError{Addr: fmt.Sprint(a), Reason: fmt.Sprintf("cannot convert %T to a socket address", a), Err: syscall.EAFNOSUPPORT}
}

func inetFromIP(ip net.IP, port int, zone string) (Sockaddr, error) {
	if port < 0 || port > 65535 {
		host := ""
		if len(ip) != 0 {
			host = ip.String()
		}
		if zone != "" {
			host += "%" + zone
		}
		return nil, &AddrError{Addr: net.JoinHostPort(host, strconv.Itoa(port)), Reason: "port out of range 0-65535", Err: syscall.EINVAL}
	}
	if len(ip) == 0 {
		return &Inet4Addr{Port: port}, nil
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return nil, &AddrError{Addr: ip.String(), Reason: "bad IP address", Err: syscall.EINVAL}
	}
	if addr.Is4In6() && zone == "" {
		addr = addr.Unmap()
	}
	if zone != "" {
		addr = addr.WithZone(zone)
	}
	return InetAddr(netip.AddrPortFrom(addr, uint16(port))), nil
}
