package socket

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// AIFlag is a set of getaddrinfo(3) flags (Python: socket.AddressInfo).
type AIFlag int

// getaddrinfo flags.
const (
	AI_PASSIVE     AIFlag = 0x1   // AI_PASSIVE: with no host, return the wildcard address (for Bind).
	AI_CANONNAME   AIFlag = 0x2   // AI_CANONNAME: fill in CanonName of the first result.
	AI_NUMERICHOST AIFlag = 0x4   // AI_NUMERICHOST: host must be an address literal; no DNS.
	AI_V4MAPPED    AIFlag = 0x8   // AI_V4MAPPED: with AF_INET6, return IPv4 addresses as mapped IPv6.
	AI_ALL         AIFlag = 0x10  // AI_ALL: with AI_V4MAPPED, return IPv6 and mapped IPv4 addresses.
	AI_ADDRCONFIG  AIFlag = 0x20  // AI_ADDRCONFIG: accepted; the Go resolver decides.
	AI_NUMERICSERV AIFlag = 0x400 // AI_NUMERICSERV: port must be a number; no service lookup.
)

var aiFlagNames = []struct {
	f AIFlag
	s string
}{{AI_PASSIVE, "AI_PASSIVE"}, {AI_CANONNAME, "AI_CANONNAME"}, {AI_NUMERICHOST, "AI_NUMERICHOST"},
	{AI_V4MAPPED, "AI_V4MAPPED"}, {AI_ALL, "AI_ALL"}, {AI_ADDRCONFIG, "AI_ADDRCONFIG"}, {AI_NUMERICSERV, "AI_NUMERICSERV"}}

// String joins the flag names with "|", such as "AI_PASSIVE|AI_CANONNAME".
func (f AIFlag) String() string {
	if f == 0 {
		return "0"
	}
	var parts []string
	for _, n := range aiFlagNames {
		if f&n.f != 0 {
			parts = append(parts, n.s)
			f &^= n.f
		}
	}
	if f != 0 {
		parts = append(parts, "0x"+strconv.FormatInt(int64(f), 16))
	}
	return strings.Join(parts, "|")
}

// HostError is the error of GetHostByAddr (Python: socket.herror), with
// an h_errno code.
type HostError struct {
	Code int // HOST_NOT_FOUND, TRY_AGAIN, NO_RECOVERY or NO_DATA
	Name string
	Err  error // the resolver's own error, if any
}

// h_errno codes of HostError.
const (
	HOST_NOT_FOUND = 1 // HOST_NOT_FOUND: the host is unknown.
	TRY_AGAIN      = 2 // TRY_AGAIN: a temporary failure; try again later.
	NO_RECOVERY    = 3 // NO_RECOVERY: a non-recoverable name server error.
	NO_DATA        = 4 // NO_DATA: the name is valid but has no such record.
)

// Error returns "gethostbyaddr NAME: Unknown host" and the like.
func (e *HostError) Error() string {
	msg := map[int]string{HOST_NOT_FOUND: "Unknown host", TRY_AGAIN: "Host name lookup failure",
		NO_RECOVERY: "Unknown server error", NO_DATA: "No address associated with name"}[e.Code]
	if msg == "" {
		msg = "Resolver error " + strconv.Itoa(e.Code)
	}
	s := "gethostbyaddr " + e.Name + ": " + msg
	if e.Err != nil {
		s += " (" + e.Err.Error() + ")"
	}
	return s
}

// Unwrap returns the resolver's error.
func (e *HostError) Unwrap() error { return e.Err }

// NIFlag is a set of getnameinfo(3) flags.
type NIFlag int

// getnameinfo flags and buffer sizes.
const (
	NI_NUMERICHOST NIFlag = 1  // NI_NUMERICHOST: return the address, not a name.
	NI_NUMERICSERV NIFlag = 2  // NI_NUMERICSERV: return the port number, not a service name.
	NI_NOFQDN      NIFlag = 4  // NI_NOFQDN: return only the first label of a name.
	NI_NAMEREQD    NIFlag = 8  // NI_NAMEREQD: fail if the address has no name.
	NI_DGRAM       NIFlag = 16 // NI_DGRAM: look the service up as UDP.

	NI_MAXHOST = 1025 // NI_MAXHOST is the longest host name getnameinfo returns.
	NI_MAXSERV = 32   // NI_MAXSERV is the longest service name getnameinfo returns.
)

// AddrInfoHints narrows GetAddrInfo, as struct addrinfo hints do.
type AddrInfoHints struct {
	Family Family   // AF_UNSPEC (both), AF_INET or AF_INET6
	Type   Type     // 0 (every type), SOCK_STREAM, SOCK_DGRAM or SOCK_RAW
	Proto  Protocol // 0 or the protocol matching Type
	Flags  AIFlag
}

// AddrInfo is one result of GetAddrInfo: the arguments for New and the
// address for Bind or Connect.
//
// Python: the (family, type, proto, canonname, sockaddr) tuple.
type AddrInfo struct {
	Family    Family
	Type      Type
	Proto     Protocol
	CanonName string
	Addr      Sockaddr
}

// GetAddrInfo resolves host and port into socket addresses, as
// getaddrinfo(3) does, with the Go resolver. host may be a name, an address
// literal or "" (the wildcard address with AI_PASSIVE, loopback without).
// port may be a number, a service name ("http") or "". Types and protocols
// follow glibc: with neither Type nor Proto each address comes once for
// each of SOCK_STREAM, SOCK_DGRAM and SOCK_RAW, in that order; a Type or a
// Proto picks the one pair that fits (Proto IPPROTO_UDP alone is
// SOCK_DGRAM, SOCK_SEQPACKET is SCTP, a protocol of no other type is
// SOCK_RAW) and a pair that does not exist is EAI_SOCKTYPE. A service name
// keeps only the types whose protocol has it in /etc/services ("http" is
// tcp only, so SOCK_STREAM; "ntp" SOCK_DGRAM); a raw socket takes no
// service; none left is EAI_SERVICE. Errors are *AddrInfoError, matching
// their EAI code with errors.Is.
//
// Python: socket.getaddrinfo(host, port, family, type, proto, flags).
func GetAddrInfo(ctx context.Context, host, port string, hints *AddrInfoHints) ([]AddrInfo, error) {
	if ctx == nil {
		return nil, &AddrInfoError{Code: EAI_SYSTEM, Name: host, Err: errNilContext}
	}
	var h AddrInfoHints
	if hints != nil {
		h = *hints
	}
	h.Type &^= typeFlags
	name := host
	if name == "" {
		name = port
	}
	fail := func(code EAI, err error) ([]AddrInfo, error) {
		return nil, &AddrInfoError{Code: code, Name: name, Err: err}
	}
	if h.Family != AF_UNSPEC && h.Family != AF_INET && h.Family != AF_INET6 {
		return fail(EAI_FAMILY, nil)
	}
	if host == "" && port == "" {
		return fail(EAI_NONAME, nil)
	}
	types, code, err := gaiTypes(h, port)
	if code != 0 {
		return fail(code, err)
	}

	// The addresses.
	var ips []netip.Addr
	canon := ""
	switch {
	case host == "":
		v4, v6 := netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()
		if h.Flags&AI_PASSIVE != 0 {
			ips = []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}
		} else {
			ips = []netip.Addr{v6, v4}
		}
	default:
		if ip, err := netip.ParseAddr(host); err == nil {
			ips = []netip.Addr{ip}
			canon = host
		} else if h.Flags&AI_NUMERICHOST != 0 {
			return fail(EAI_NONAME, errors.New("AI_NUMERICHOST: host is not an address"))
		} else {
			network := "ip"
			if h.Family == AF_INET {
				network = "ip4"
			} else if h.Family == AF_INET6 && h.Flags&AI_V4MAPPED == 0 {
				network = "ip6"
			}
			found, err := net.DefaultResolver.LookupNetIP(ctx, network, host)
			if err != nil {
				return fail(eaiFromResolver(ctx, err), err)
			}
			ips = found
			if h.Flags&AI_CANONNAME != 0 {
				if cn, err := net.DefaultResolver.LookupCNAME(ctx, host); err == nil {
					canon = strings.TrimSuffix(cn, ".")
				} else {
					canon = host
				}
			}
		}
	}

	var out []AddrInfo
	seen := map[netip.Addr]bool{}
	for _, ip := range ips {
		ip = ip.Unmap()
		fam := AF_INET
		if !ip.Is4() {
			fam = AF_INET6
		}
		if h.Family == AF_INET6 && fam == AF_INET {
			if h.Flags&AI_V4MAPPED == 0 {
				continue
			}
			ip, fam = netip.AddrFrom16(ip.As16()), AF_INET6
		}
		if h.Family == AF_INET && fam != AF_INET {
			continue
		}
		if seen[ip] {
			continue
		}
		seen[ip] = true
		for _, tp := range types {
			out = append(out, AddrInfo{Family: fam, Type: tp.t, Proto: tp.p,
				Addr: InetAddr(netip.AddrPortFrom(ip, uint16(tp.port)))})
		}
	}
	if len(out) == 0 {
		return fail(EAI_ADDRFAMILY, nil)
	}
	if h.Flags&AI_CANONNAME != 0 {
		out[0].CanonName = canon
	}
	return out, nil
}

// gaiRow is a row of glibc's gaih_inet_typeproto: a socket type, its
// protocol and the name /etc/services knows it by.
type gaiRow struct {
	t         Type
	p         Protocol
	anyProto  bool // the row takes any protocol asked for (raw)
	noService bool // no service, not even a number, applies (raw)
	dflt      bool // returned when neither type nor protocol is asked for
	name      string
}

var gaiRows = []gaiRow{
	{t: SOCK_STREAM, p: IPPROTO_TCP, dflt: true, name: "tcp"},
	{t: SOCK_DGRAM, p: IPPROTO_UDP, dflt: true, name: "udp"},
	{t: 6, p: 33, name: "dccp"}, // SOCK_DCCP, IPPROTO_DCCP
	{t: SOCK_DGRAM, p: IPPROTO_UDPLITE, name: "udplite"},
	{t: SOCK_STREAM, p: IPPROTO_SCTP, name: "sctp"},
	{t: SOCK_SEQPACKET, p: IPPROTO_SCTP, name: "sctp"},
	{t: SOCK_RAW, anyProto: true, noService: true, dflt: true, name: "raw"},
}

// gaiType is one (type, protocol, port) GetAddrInfo returns for each
// address.
type gaiType struct {
	t    Type
	p    Protocol
	port int
}

// gaiTypes picks the socket types, protocols and ports for hints and port
// as glibc's getaddrinfo does: a type or protocol asked for selects the
// first row of gaiRows that fits (SOCK_STREAM with no protocol is TCP,
// protocol 17 with no type is SOCK_DGRAM, a protocol no row has is
// SOCK_RAW); neither gives TCP, UDP and raw. A service name keeps only the
// rows whose protocol has it in /etc/services, and raw takes no service.
// It returns an EAI code and its reason when nothing fits.
func gaiTypes(h AddrInfoHints, port string) ([]gaiType, EAI, error) {
	var row *gaiRow
	if h.Type != 0 || h.Proto != 0 {
		for i := range gaiRows {
			r := &gaiRows[i]
			if (h.Type == 0 || h.Type == r.t) && (h.Proto == 0 || h.Proto == r.p || r.anyProto) {
				row = r
				break
			}
		}
		if row == nil {
			if h.Type != 0 {
				return nil, EAI_SOCKTYPE, nil
			}
			return nil, EAI_SERVICE, nil
		}
	}
	proto := func(r *gaiRow) Protocol {
		if r.anyProto {
			return h.Proto
		}
		return r.p
	}
	portNum, named := 0, false
	if port != "" {
		n, err := strconv.Atoi(port)
		switch {
		case err == nil && n >= 0 && n <= 65535:
			portNum = n
		case err == nil:
			return nil, EAI_SERVICE, errors.New("port out of range")
		case h.Flags&AI_NUMERICSERV != 0:
			return nil, EAI_NONAME, errors.New("AI_NUMERICSERV: port is not a number")
		default:
			named = true
		}
		if row != nil && row.noService {
			return nil, EAI_SERVICE, errors.New(row.t.String() + " takes no service")
		}
	}
	switch {
	case row != nil && named:
		p, ok := services().byName(port, row.name)
		if !ok {
			return nil, EAI_SERVICE, errors.New("service not found in /etc/services for " + row.name)
		}
		return []gaiType{{row.t, proto(row), p}}, 0, nil
	case row != nil:
		return []gaiType{{row.t, proto(row), portNum}}, 0, nil
	case named:
		var out []gaiType
		for i := range gaiRows {
			r := &gaiRows[i]
			if p, ok := services().byName(port, r.name); ok && !r.noService {
				out = append(out, gaiType{r.t, r.p, p})
			}
		}
		if len(out) == 0 {
			return nil, EAI_SERVICE, errors.New("service not found in /etc/services")
		}
		return out, 0, nil
	}
	var out []gaiType
	for _, r := range gaiRows {
		if r.dflt {
			out = append(out, gaiType{r.t, r.p, portNum})
		}
	}
	return out, 0, nil
}

func eaiFromResolver(ctx context.Context, err error) EAI {
	if ctx.Err() != nil {
		return EAI_CANCELED
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		switch {
		case de.IsNotFound:
			return EAI_NONAME
		case de.IsTimeout, de.IsTemporary:
			return EAI_AGAIN
		}
	}
	return EAI_FAIL
}

// GetNameInfo turns an address back into a host and a service name, as
// getnameinfo(3) does. Without NI_NUMERICHOST it looks the address up in
// DNS and /etc/hosts, falling back to the numeric form unless NI_NAMEREQD
// is set. The numeric form is written as InetNtop writes it; an IPv6 scope
// follows a '%', as the interface's name for a link-local address
// ("fe80::1%lo") and as a number otherwise or when no interface has that
// index, as glibc writes it. The service is GetServByPort's name for the
// port with "tcp", or "udp" under NI_DGRAM, and the number when there is
// none or under NI_NUMERICSERV.
//
// Python: socket.getnameinfo(sockaddr, flags).
func GetNameInfo(ctx context.Context, sa Sockaddr, flags NIFlag) (host, serv string, err error) {
	if ctx == nil {
		return "", "", &AddrInfoError{Code: EAI_SYSTEM, Name: addrString(sa), Err: errNilContext}
	}
	ap, ok := AddrPortOf(sa)
	if !ok {
		return "", "", &AddrInfoError{Code: EAI_FAMILY, Name: addrString(sa)}
	}
	switch a := sa.(type) {
	case *Inet4Addr:
		if a.Port < 0 || a.Port > 65535 {
			return "", "", badAddr(sa, "port out of range 0-65535")
		}
	case *Inet6Addr:
		if a.Port < 0 || a.Port > 65535 {
			return "", "", badAddr(sa, "port out of range 0-65535")
		}
		if a.FlowInfo > maxFlowInfo {
			return "", "", badAddr(sa, "flow label out of range 0-1048575 (20 bits)")
		}
	}
	ip := ap.Addr()
	host = numericHost(ip)
	if flags&NI_NUMERICHOST == 0 {
		names, lerr := net.DefaultResolver.LookupAddr(ctx, ip.String())
		if lerr == nil && len(names) > 0 {
			host = strings.TrimSuffix(names[0], ".")
			if flags&NI_NOFQDN != 0 {
				host, _, _ = strings.Cut(host, ".")
			}
		} else if flags&NI_NAMEREQD != 0 {
			return "", "", &AddrInfoError{Code: EAI_NONAME, Name: host, Err: lerr}
		}
	}
	serv = strconv.Itoa(int(ap.Port()))
	if flags&NI_NUMERICSERV == 0 {
		proto := "tcp"
		if flags&NI_DGRAM != 0 {
			proto = "udp"
		}
		if name, ok := services().byPort(int(ap.Port()), proto); ok {
			serv = name
		}
	}
	return host, serv, nil
}

// numericHost writes ip as getnameinfo(NI_NUMERICHOST) does.
func numericHost(ip netip.Addr) string {
	if ip.Is4() {
		return ip.String()
	}
	host := inetNtop6(ip.As16())
	zone := ip.Zone()
	if zone == "" {
		return host
	}
	if idx, err := strconv.ParseUint(zone, 10, 32); err == nil && (ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast()) {
		if ifi, err := net.InterfaceByIndex(int(idx)); err == nil {
			zone = ifi.Name
		}
	}
	return host + "%" + zone
}

func addrString(sa Sockaddr) string {
	if sa == nil {
		return "<nil>"
	}
	return sa.String()
}

// HostEnt is the result of the gethostbyname family: a name, its aliases
// and its addresses.
type HostEnt struct {
	Name    string
	Aliases []string
	Addrs   []netip.Addr
}

// GetHostByName returns the first IPv4 address of name ("localhost" gives
// 127.0.0.1; an IPv4 literal is returned as is).
//
// Python: socket.gethostbyname(hostname).
func GetHostByName(name string) (netip.Addr, error) {
	he, err := GetHostByNameEx(name)
	if err != nil {
		return netip.Addr{}, err
	}
	return he.Addrs[0], nil
}

// GetHostByNameEx returns the IPv4 addresses of name.
//
// Python: socket.gethostbyname_ex(hostname).
func GetHostByNameEx(name string) (HostEnt, error) {
	ais, err := GetAddrInfo(context.Background(), name, "", &AddrInfoHints{Family: AF_INET, Type: SOCK_STREAM, Flags: AI_CANONNAME})
	if err != nil {
		return HostEnt{}, err
	}
	he := HostEnt{Name: ais[0].CanonName}
	if he.Name == "" {
		he.Name = name
	}
	for _, ai := range ais {
		ap, _ := AddrPortOf(ai.Addr)
		he.Addrs = append(he.Addrs, ap.Addr())
	}
	return he, nil
}

// GetHostByAddr looks up the names of an IP address. A failure is a
// *HostError.
//
// Python: socket.gethostbyaddr(ip_address).
func GetHostByAddr(addr string) (HostEnt, error) {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		if he, herr := GetHostByNameEx(addr); herr == nil {
			ip = he.Addrs[0]
		} else {
			return HostEnt{}, herr
		}
	}
	names, err := net.DefaultResolver.LookupAddr(context.Background(), ip.String())
	if err != nil || len(names) == 0 {
		code := HOST_NOT_FOUND
		var de *net.DNSError
		if errors.As(err, &de) && (de.IsTemporary || de.IsTimeout) {
			code = TRY_AGAIN
		}
		return HostEnt{}, &HostError{Code: code, Name: addr, Err: err}
	}
	he := HostEnt{Name: strings.TrimSuffix(names[0], "."), Addrs: []netip.Addr{ip}}
	for _, n := range names[1:] {
		he.Aliases = append(he.Aliases, strings.TrimSuffix(n, "."))
	}
	return he, nil
}

// GetHostname returns the host name (os.Hostname).
//
// Python: socket.gethostname().
func GetHostname() (string, error) { return os.Hostname() }

// GetFQDN returns a fully qualified name for name, or for this host when
// name is empty: the first name containing a dot among the canonical name
// and the reverse names of its address, or name itself.
//
// Python: socket.getfqdn([name]).
func GetFQDN(name string) string {
	if name == "" || name == "0.0.0.0" || name == "::" {
		name, _ = os.Hostname()
	}
	he, err := GetHostByAddr(name)
	if err != nil {
		return name
	}
	for _, n := range append([]string{he.Name}, he.Aliases...) {
		if strings.Contains(n, ".") {
			return n
		}
	}
	return he.Name
}

// builtinProtocols is the table GetProtoByName uses where /etc/protocols
// lacks a name.
var builtinProtocols = map[string]Protocol{"ip": 0, "icmp": 1, "igmp": 2, "tcp": 6, "udp": 17,
	"ipv6": 41, "ipv6-icmp": 58, "icmpv6": 58, "sctp": 132, "udplite": 136, "raw": 255, "mptcp": 262}

// servEntry is one line of /etc/services: "http 80/tcp www".
type servEntry struct {
	name    string
	port    int
	proto   string
	aliases []string
}

// servTable is /etc/services in file order, where glibc's lookups take the
// first match.
type servTable []servEntry

// builtinServices stands in for /etc/services on a machine without one
// (a minimal container): the well-known entries of Debian's netbase file,
// each with its protocols.
var builtinServices = servTable{
	{"echo", 7, "tcp", nil}, {"echo", 7, "udp", nil},
	{"discard", 9, "tcp", []string{"sink", "null"}}, {"discard", 9, "udp", []string{"sink", "null"}},
	{"daytime", 13, "tcp", nil}, {"daytime", 13, "udp", nil},
	{"chargen", 19, "tcp", []string{"ttytst", "source"}}, {"chargen", 19, "udp", []string{"ttytst", "source"}},
	{"ftp-data", 20, "tcp", nil}, {"ftp", 21, "tcp", nil}, {"ssh", 22, "tcp", nil}, {"telnet", 23, "tcp", nil},
	{"smtp", 25, "tcp", []string{"mail"}},
	{"time", 37, "tcp", []string{"timserver"}}, {"time", 37, "udp", []string{"timserver"}},
	{"domain", 53, "tcp", nil}, {"domain", 53, "udp", nil},
	{"http", 80, "tcp", []string{"www"}}, {"pop3", 110, "tcp", []string{"pop-3"}}, {"ntp", 123, "udp", nil},
	{"imap2", 143, "tcp", []string{"imap"}}, {"https", 443, "tcp", nil}, {"https", 443, "udp", nil},
	{"imaps", 993, "tcp", nil}, {"pop3s", 995, "tcp", nil},
}

// services is /etc/services, read once, or builtinServices when the file
// cannot be opened.
var services = sync.OnceValue(func() servTable {
	f, err := os.Open("/etc/services")
	if err != nil {
		return builtinServices
	}
	defer f.Close()
	return parseServices(f)
})

// parseServices reads the services(5) format: "name port/protocol
// [aliases...] [# comment]"; a line that does not parse is skipped.
func parseServices(r io.Reader) servTable {
	var t servTable
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fs := strings.Fields(line)
		if len(fs) < 2 {
			continue
		}
		portStr, proto, ok := strings.Cut(fs[1], "/")
		port, err := strconv.Atoi(portStr)
		if !ok || err != nil || port < 0 || port > 65535 || proto == "" {
			continue
		}
		t = append(t, servEntry{name: fs[0], port: port, proto: proto, aliases: fs[2:]})
	}
	return t
}

// byPort is getservbyport(3): the first entry for port and proto ("" for
// any protocol).
func (t servTable) byPort(port int, proto string) (string, bool) {
	for _, e := range t {
		if e.port == port && (proto == "" || e.proto == proto) {
			return e.name, true
		}
	}
	return "", false
}

// byName is getservbyname(3): the first entry whose name or an alias is
// name (case-sensitive, as in glibc) for proto ("" for any protocol).
func (t servTable) byName(name, proto string) (int, bool) {
	for _, e := range t {
		if (proto == "" || e.proto == proto) && (e.name == name || slices.Contains(e.aliases, name)) {
			return e.port, true
		}
	}
	return 0, false
}

// GetServByName returns the port of a service name for proto ("tcp",
// "udp"... or "" for any protocol), from /etc/services (or, on a machine
// without one, a built-in table of well-known services). Names are
// case-sensitive, as in glibc. A name not found is an *AddrInfoError with
// Code EAI_SERVICE.
//
// Python: socket.getservbyname(servicename[, protocolname]); "" is
// Python's omitted protocolname.
func GetServByName(name, proto string) (int, error) {
	p, ok := services().byName(name, proto)
	if !ok {
		return 0, &AddrInfoError{Code: EAI_SERVICE, Name: name + "/" + proto, Err: errors.New("service/proto not found")}
	}
	return p, nil
}

// GetServByPort returns the service name of a port for proto ("tcp",
// "udp"... or "" for any protocol), from /etc/services (or, on a machine
// without one, a built-in table of well-known services): 80 gives "http"
// for tcp and an error for udp, as Python says. A port not found is an
// *AddrInfoError with Code EAI_SERVICE.
//
// Python: socket.getservbyport(port[, protocolname]); "" is Python's
// omitted protocolname.
func GetServByPort(port int, proto string) (string, error) {
	if port < 0 || port > 65535 {
		return "", &AddrInfoError{Code: EAI_SERVICE, Name: strconv.Itoa(port), Err: errors.New("port out of range")}
	}
	name, ok := services().byPort(port, proto)
	if !ok {
		return "", &AddrInfoError{Code: EAI_SERVICE, Name: strconv.Itoa(port) + "/" + proto, Err: errors.New("port/proto not found")}
	}
	return name, nil
}

var protoDB = sync.OnceValue(func() map[string]Protocol {
	m := map[string]Protocol{}
	for k, v := range builtinProtocols {
		m[k] = v
	}
	f, err := os.Open("/etc/protocols")
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fs := strings.Fields(line)
		if len(fs) < 2 {
			continue
		}
		n, err := strconv.Atoi(fs[1])
		if err != nil {
			continue
		}
		m[strings.ToLower(fs[0])] = Protocol(n)
		for _, alias := range fs[2:] {
			m[strings.ToLower(alias)] = Protocol(n)
		}
	}
	return m
})

// GetProtoByName returns the number of a protocol name ("tcp" gives 6),
// from /etc/protocols or a built-in table.
//
// Python: socket.getprotobyname(protocolname).
func GetProtoByName(name string) (Protocol, error) {
	if p, ok := protoDB()[strings.ToLower(name)]; ok {
		return p, nil
	}
	return 0, &AddrInfoError{Code: EAI_NONAME, Name: name, Err: errors.New("protocol not found")}
}
