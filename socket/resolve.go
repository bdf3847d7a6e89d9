package socket

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
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
// port may be a number, a service name ("http") or "". With Type 0 each
// address comes once for each of SOCK_STREAM, SOCK_DGRAM and SOCK_RAW, in
// that order, as glibc returns them. Errors are *AddrInfoError, matching
// their EAI code with errors.Is.
//
// Python: socket.getaddrinfo(host, port, family, type, proto, flags).
func GetAddrInfo(ctx context.Context, host, port string, hints *AddrInfoHints) ([]AddrInfo, error) {
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
	types := []struct {
		t Type
		p Protocol
	}{{SOCK_STREAM, IPPROTO_TCP}, {SOCK_DGRAM, IPPROTO_UDP}, {SOCK_RAW, 0}}
	switch h.Type {
	case 0:
	case SOCK_STREAM:
		types = types[:1]
	case SOCK_DGRAM:
		types = types[1:2]
	case SOCK_RAW:
		types = types[2:]
		types[0].p = h.Proto
	default:
		return fail(EAI_SOCKTYPE, nil)
	}
	if h.Proto != 0 && h.Type != SOCK_RAW {
		types[0].p = h.Proto
	}

	// The port.
	portNum := 0
	if port != "" {
		n, err := strconv.Atoi(port)
		switch {
		case err == nil && n >= 0 && n <= 65535:
			portNum = n
		case err == nil:
			return fail(EAI_SERVICE, errors.New("port out of range"))
		case h.Flags&AI_NUMERICSERV != 0:
			return fail(EAI_NONAME, errors.New("AI_NUMERICSERV: port is not a number"))
		default:
			network := "tcp"
			if h.Type == SOCK_DGRAM {
				network = "udp"
			}
			n, err := lookupServ(ctx, network, port)
			if err != nil {
				return fail(EAI_SERVICE, err)
			}
			portNum = n
		}
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
				Addr: InetAddr(netip.AddrPortFrom(ip, uint16(portNum)))})
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
// is set.
//
// Python: socket.getnameinfo(sockaddr, flags).
func GetNameInfo(ctx context.Context, sa Sockaddr, flags NIFlag) (host, serv string, err error) {
	ap, ok := AddrPortOf(sa)
	if !ok {
		return "", "", &AddrInfoError{Code: EAI_FAMILY, Name: addrString(sa)}
	}
	host = ap.Addr().String()
	if flags&NI_NUMERICHOST == 0 {
		names, lerr := net.DefaultResolver.LookupAddr(ctx, ap.Addr().String())
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
		if name, err := GetServByPort(int(ap.Port()), proto); err == nil {
			serv = name
		}
	}
	return host, serv, nil
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

// builtin tables for machines without /etc/protocols or /etc/services.
var (
	builtinProtocols = map[string]Protocol{"ip": 0, "icmp": 1, "igmp": 2, "tcp": 6, "udp": 17,
		"ipv6": 41, "ipv6-icmp": 58, "icmpv6": 58, "sctp": 132, "udplite": 136, "raw": 255, "mptcp": 262}
	builtinServices = map[int]string{7: "echo", 9: "discard", 13: "daytime", 19: "chargen", 20: "ftp-data",
		21: "ftp", 22: "ssh", 23: "telnet", 25: "smtp", 37: "time", 53: "domain", 80: "http", 110: "pop3",
		123: "ntp", 143: "imap", 443: "https", 993: "imaps", 995: "pop3s"}
)

type servEntry struct{ name, proto string }

// servDB maps ports to service names, and servNames names (and aliases)
// with "/proto" to ports, both from /etc/services, read once.
var servDB = sync.OnceValue(func() map[int][]servEntry {
	m, _ := readServices()
	return m
})

var servNames = sync.OnceValue(func() map[string]int {
	_, n := readServices()
	return n
})

func readServices() (map[int][]servEntry, map[string]int) {
	m, names := map[int][]servEntry{}, map[string]int{}
	f, err := os.Open("/etc/services")
	if err != nil {
		return m, names
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fs := strings.Fields(line)
		if len(fs) < 2 {
			continue
		}
		portStr, proto, ok := strings.Cut(fs[1], "/")
		port, err := strconv.Atoi(portStr)
		if !ok || err != nil {
			continue
		}
		m[port] = append(m[port], servEntry{fs[0], proto})
		for _, name := range append([]string{fs[0]}, fs[2:]...) {
			if _, dup := names[name+"/"+proto]; !dup {
				names[name+"/"+proto] = port
			}
		}
	}
	return m, names
}

// lookupServ finds a service name's port in /etc/services, or asks the
// resolver when the file does not have it.
func lookupServ(ctx context.Context, network, name string) (int, error) {
	if p, ok := servNames()[name+"/"+network]; ok {
		return p, nil
	}
	return net.DefaultResolver.LookupPort(ctx, network, name)
}

// GetServByName returns the port of a service name for proto ("tcp" or
// "udp"; "" means tcp).
//
// Python: socket.getservbyname(servicename[, protocolname]).
func GetServByName(name, proto string) (int, error) {
	if proto == "" {
		proto = "tcp"
	}
	p, err := lookupServ(context.Background(), proto, name)
	if err != nil {
		return 0, &AddrInfoError{Code: EAI_SERVICE, Name: name, Err: err}
	}
	return p, nil
}

// GetServByPort returns the service name of a port for proto ("" means
// tcp), from /etc/services or a built-in table of well-known services.
//
// Python: socket.getservbyport(port[, protocolname]).
func GetServByPort(port int, proto string) (string, error) {
	if proto == "" {
		proto = "tcp"
	}
	if port < 0 || port > 65535 {
		return "", &AddrInfoError{Code: EAI_SERVICE, Name: strconv.Itoa(port), Err: errors.New("port out of range")}
	}
	for _, e := range servDB()[port] {
		if e.proto == proto {
			return e.name, nil
		}
	}
	if name, ok := builtinServices[port]; ok {
		return name, nil
	}
	return "", &AddrInfoError{Code: EAI_SERVICE, Name: strconv.Itoa(port) + "/" + proto}
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
