//go:build linux

package socket_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/socketkit/socketkit/socket"
)

// loIndex is the interface index of the loopback interface.
func loIndex(t testing.TB) uint32 {
	t.Helper()
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skipf("no lo interface: %v", err)
	}
	return uint32(lo.Index)
}

// TestGetNameInfoScope: an IPv6 address's scope is written as the
// interface's name for a link-local address (unicast fe80::/10 or
// multicast ff?2::) and as a number otherwise or when no interface has that
// index, as glibc's getnameinfo writes it (Python prints fe80::1%lo).
func TestGetNameInfoScope(t *testing.T) {
	lo := loIndex(t)
	ctx := context.Background()
	cases := []struct {
		addr  string
		scope uint32
		want  string
	}{
		{"fe80::1", lo, "fe80::1%lo"},
		{"ff02::1", lo, "ff02::1%lo"},
		{"ff12::1", lo, "ff12::1%lo"},
		{"fe80::1", 4000000, "fe80::1%4000000"},
		{"::1", lo, "::1%" + strconv.Itoa(int(lo))},
		{"ff01::1", lo, "ff01::1%" + strconv.Itoa(int(lo))},
		{"2001:db8::1", lo, "2001:db8::1%" + strconv.Itoa(int(lo))},
		{"fe80::1", 0, "fe80::1"},
		{"::ffff:1.2.3.4", 0, "::ffff:1.2.3.4"},
		{"::1.2.3.4", 0, "::1.2.3.4"},
	}
	for _, tc := range cases {
		sa := &socket.Inet6Addr{Addr: netip.MustParseAddr(tc.addr).As16(), Port: 80, ScopeID: tc.scope}
		host, serv, err := socket.GetNameInfo(ctx, sa, socket.NI_NUMERICHOST)
		if err != nil || host != tc.want || serv != "http" {
			t.Errorf("GetNameInfo(%s%%%d) = %q %q, %v; want %q http", tc.addr, tc.scope, host, serv, err, tc.want)
		}
	}
}

// TestGetNameInfoMatchesPython compares GetNameInfo's numeric host with
// python3's getnameinfo for scoped addresses and its service with
// NI_DGRAM and without.
func TestGetNameInfoMatchesPython(t *testing.T) {
	lo := loIndex(t)
	type in struct {
		addr  string
		port  int
		scope uint32
		flags socket.NIFlag
	}
	var ins []in
	var inputs []string
	for _, addr := range []string{"fe80::1", "ff02::1", "::1", "ff01::2", "fe80::1:2", "2001:db8::1", "::1.2.3.4", "::ffff:1.2.3.4"} {
		for _, scope := range []uint32{0, lo, 4000000} {
			for _, port := range []int{80, 22, 53, 123, 9} {
				for _, fl := range []socket.NIFlag{socket.NI_NUMERICHOST, socket.NI_NUMERICHOST | socket.NI_DGRAM, socket.NI_NUMERICHOST | socket.NI_NUMERICSERV} {
					ins = append(ins, in{addr, port, scope, fl})
					inputs = append(inputs, fmt.Sprintf("%s %d %d %d", addr, port, scope, fl))
				}
			}
		}
	}
	lines := pythonLines(t, `
import socket, sys
for line in sys.stdin:
    addr, port, scope, flags = bytes.fromhex(line.strip()).decode().split()
    print(*socket.getnameinfo((addr, int(port), 0, int(scope)), int(flags)))
`, inputs)
	for i, c := range ins {
		sa := &socket.Inet6Addr{Addr: netip.MustParseAddr(c.addr).As16(), Port: c.port, ScopeID: c.scope}
		host, serv, err := socket.GetNameInfo(context.Background(), sa, c.flags)
		if got := host + " " + serv; err != nil || got != lines[i] {
			t.Errorf("GetNameInfo(%s) = %q, %v; python3 says %q", inputs[i], got, err, lines[i])
		}
	}
}

// TestServices: the protocol counts, in /etc/services and in the built-in
// table alike; "" matches any protocol, as Python's omitted protocolname
// does; names are case-sensitive, as in glibc. The expected values are
// those of python3 on Debian's /etc/services (netbase), which
// TestServicesMatchPython checks against python3 on whatever file the
// machine has.
func TestServices(t *testing.T) {
	byPort := []struct {
		port  int
		proto string
		want  string // "" for an error
	}{
		{80, "tcp", "http"}, {80, "udp", ""}, {22, "udp", ""}, {22, "", "ssh"}, {80, "", "http"},
		{53, "udp", "domain"}, {123, "", "ntp"}, {123, "tcp", ""}, {9, "udp", "discard"}, {80, "sctp", ""},
		{80, "TCP", ""}, {70000, "tcp", ""}, {-1, "", ""},
	}
	for _, tc := range byPort {
		got, err := socket.GetServByPort(tc.port, tc.proto)
		if got != tc.want || (tc.want == "") != (err != nil) {
			t.Errorf("GetServByPort(%d, %q) = %q, %v; want %q", tc.port, tc.proto, got, err, tc.want)
		}
	}
	byName := []struct {
		name, proto string
		want        int // -1 for an error
	}{
		{"http", "tcp", 80}, {"http", "udp", -1}, {"http", "", 80}, {"www", "", 80}, {"www", "tcp", 80},
		{"ssh", "udp", -1}, {"domain", "udp", 53}, {"ntp", "", 123}, {"ntp", "tcp", -1}, {"HTTP", "", -1},
		{"http", "TCP", -1}, {"no-such-service", "", -1}, {"sink", "udp", 9},
	}
	for _, tc := range byName {
		got, err := socket.GetServByName(tc.name, tc.proto)
		if (tc.want < 0) != (err != nil) || (tc.want >= 0 && got != tc.want) {
			t.Errorf("GetServByName(%q, %q) = %d, %v; want %d", tc.name, tc.proto, got, err, tc.want)
		}
		var ae *socket.AddrInfoError
		if err != nil && !errors.As(err, &ae) {
			t.Errorf("GetServByName(%q, %q) error %T", tc.name, tc.proto, err)
		}
	}
}

// TestGetAddrInfoServiceProtocol: a service name gives results only for
// the socket types whose protocol has it (glibc: "http" is stream only,
// "ntp" datagram only, a raw socket has no services), as Python's
// getaddrinfo returns them.
func TestGetAddrInfoServiceProtocol(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		port string
		typ  socket.Type
		want string // types joined, or an EAI code
	}{
		{"http", 0, "SOCK_STREAM"},
		{"ntp", 0, "SOCK_DGRAM"},
		{"domain", 0, "SOCK_STREAM SOCK_DGRAM"},
		{"7", 0, "SOCK_STREAM SOCK_DGRAM SOCK_RAW"},
		{"http", socket.SOCK_STREAM, "SOCK_STREAM"},
		{"ntp", socket.SOCK_DGRAM, "SOCK_DGRAM"},
		{"ntp", socket.SOCK_STREAM, "-8"},
		{"http", socket.SOCK_RAW, "-8"},
		{"HTTP", 0, "-8"},
		{"no-such-service", 0, "-8"},
	}
	for _, tc := range cases {
		ais, err := socket.GetAddrInfo(ctx, "127.0.0.1", tc.port, &socket.AddrInfoHints{Type: tc.typ})
		var got []string
		for _, ai := range ais {
			got = append(got, ai.Type.String())
		}
		if err != nil {
			var ae *socket.AddrInfoError
			if errors.As(err, &ae) {
				got = []string{strconv.Itoa(int(ae.Code))}
			} else {
				got = []string{err.Error()}
			}
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("GetAddrInfo(127.0.0.1, %q, type %v) = %v; want %s", tc.port, tc.typ, got, tc.want)
		}
	}
}

// TestServicesMatchPython compares GetServByPort and GetServByName with
// python3's on every port of 0..1100 and every name of /etc/services.
func TestServicesMatchPython(t *testing.T) {
	var inputs []string
	for port := range 1100 {
		for _, proto := range []string{"tcp", "udp", ""} {
			inputs = append(inputs, fmt.Sprintf("port %d %s", port, proto))
		}
	}
	for _, name := range []string{"http", "www", "ntp", "domain", "ssh", "sink", "null", "HTTP", "nope", "https", "imap", "pop-3", "echo"} {
		for _, proto := range []string{"tcp", "udp", ""} {
			inputs = append(inputs, fmt.Sprintf("name %s %s", name, proto))
		}
	}
	lines := pythonLines(t, `
import socket, sys
for line in sys.stdin:
    kind, what, *proto = bytes.fromhex(line.strip()).decode().split()
    try:
        if kind == 'port':
            print(socket.getservbyport(int(what), *proto))
        else:
            print(socket.getservbyname(what, *proto))
    except OSError:
        print('-')
`, inputs)
	for i, in := range inputs {
		f := strings.Fields(in)
		proto := ""
		if len(f) > 2 {
			proto = f[2]
		}
		got := "-"
		if f[0] == "port" {
			port, _ := strconv.Atoi(f[1])
			if name, err := socket.GetServByPort(port, proto); err == nil {
				got = name
			}
		} else if port, err := socket.GetServByName(f[1], proto); err == nil {
			got = strconv.Itoa(port)
		}
		if got != lines[i] {
			t.Errorf("%s: got %s; python3 says %s", in, got, lines[i])
		}
	}
}

// TestServicesTable: the built-in table (used without /etc/services) and
// the file parser keep each entry's protocol, and the first match in file
// order wins.
func TestServicesTable(t *testing.T) {
	const file = `# comment
http		80/tcp		www		# WorldWideWeb HTTP
bad line
odd		x/tcp
domain		53/udp
domain		53/tcp
other		53/udp		domain
  ntp 123/udp
`
	byPort := []struct {
		table string
		port  int
		proto string
		want  string
	}{
		{"", 80, "tcp", "http"}, {"", 80, "udp", ""}, {"", 22, "udp", ""}, {"", 22, "tcp", "ssh"},
		{"", 22, "", "ssh"}, {"", 123, "", "ntp"}, {"", 123, "tcp", ""}, {"", 53, "udp", "domain"},
		{file, 80, "udp", ""}, {file, 80, "", "http"}, {file, 53, "", "domain"}, {file, 123, "udp", "ntp"},
		{file, 53, "sctp", ""},
	}
	for _, tc := range byPort {
		got, ok := socket.ServByPortIn(tc.table, tc.port, tc.proto)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("byPort(%d, %q) in table %.10q = %q, %v; want %q", tc.port, tc.proto, tc.table, got, ok, tc.want)
		}
	}
	byName := []struct {
		table, name, proto string
		want               int
	}{
		{"", "http", "tcp", 80}, {"", "http", "udp", -1}, {"", "www", "", 80}, {"", "ntp", "tcp", -1},
		{"", "HTTP", "", -1}, {"", "sink", "udp", 9}, {file, "www", "tcp", 80}, {file, "domain", "udp", 53},
		{file, "odd", "", -1}, {file, "ntp", "", 123},
	}
	for _, tc := range byName {
		got, ok := socket.ServByNameIn(tc.table, tc.name, tc.proto)
		if ok != (tc.want >= 0) || (ok && got != tc.want) {
			t.Errorf("byName(%q, %q) in table %.10q = %d, %v; want %d", tc.name, tc.proto, tc.table, got, ok, tc.want)
		}
	}
}

// TestGetAddrInfoTypesMatchPython compares the (type, protocol, port)
// triples GetAddrInfo returns for a numeric host with python3's
// getaddrinfo (glibc) over every combination of type, protocol and service
// that glibc treats differently.
func TestGetAddrInfoTypesMatchPython(t *testing.T) {
	var inputs []string
	type in struct {
		typ   socket.Type
		proto socket.Protocol
		port  string
	}
	var ins []in
	for _, typ := range []socket.Type{0, socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW, socket.SOCK_RDM, socket.SOCK_SEQPACKET, 6} {
		for _, proto := range []socket.Protocol{0, socket.IPPROTO_TCP, socket.IPPROTO_UDP, socket.IPPROTO_ICMP, socket.IPPROTO_SCTP, socket.IPPROTO_UDPLITE, 33, 99, socket.IPPROTO_RAW} {
			for _, port := range []string{"", "80", "http", "domain", "ntp", "nosuchservice"} {
				ins = append(ins, in{typ, proto, port})
				inputs = append(inputs, fmt.Sprintf("%d %d %s", typ, proto, port))
			}
		}
	}
	lines := pythonLines(t, `
import socket, sys
for line in sys.stdin:
    typ, proto, *port = bytes.fromhex(line.strip()).decode().split(' ')
    port = port[0] if port and port[0] else None
    try:
        ais = socket.getaddrinfo('127.0.0.1', port, socket.AF_INET, int(typ), int(proto))
        print(' '.join('%d/%d/%d' % (int(a[1]), a[2], a[4][1]) for a in ais))
    except socket.gaierror as e:
        print('EAI%d' % e.errno)
`, inputs)
	for i, c := range ins {
		ais, err := socket.GetAddrInfo(context.Background(), "127.0.0.1", c.port,
			&socket.AddrInfoHints{Family: socket.AF_INET, Type: c.typ, Proto: c.proto})
		var got []string
		for _, ai := range ais {
			ap, _ := socket.AddrPortOf(ai.Addr)
			got = append(got, fmt.Sprintf("%d/%d/%d", ai.Type, ai.Proto, ap.Port()))
		}
		if err != nil {
			var ae *socket.AddrInfoError
			if !errors.As(err, &ae) {
				t.Fatalf("%s: %T %v", inputs[i], err, err)
			}
			got = []string{fmt.Sprintf("EAI%d", int(ae.Code))}
		}
		if g := strings.Join(got, " "); g != lines[i] {
			t.Errorf("GetAddrInfo(type %d, proto %d, %q) = %s; python3 says %s", c.typ, c.proto, c.port, g, lines[i])
		}
	}
}

func TestResolver(t *testing.T) {
	ctx := context.Background()
	ais, err := socket.GetAddrInfo(ctx, "localhost", "http", &socket.AddrInfoHints{Family: socket.AF_INET, Type: socket.SOCK_STREAM})
	if err != nil || len(ais) == 0 {
		t.Fatalf("GetAddrInfo(localhost, http) = %v, %v", ais, err)
	}
	if ais[0].Addr.String() != "127.0.0.1:80" || ais[0].Proto != socket.IPPROTO_TCP {
		t.Fatalf("first result %+v", ais[0])
	}
	// Type 0 gives stream, dgram and raw for each address, as glibc does.
	ais, err = socket.GetAddrInfo(ctx, "127.0.0.1", "7", nil)
	if err != nil || len(ais) != 3 || ais[0].Type != socket.SOCK_STREAM || ais[1].Type != socket.SOCK_DGRAM || ais[2].Type != socket.SOCK_RAW {
		t.Fatalf("GetAddrInfo(numeric) = %+v, %v", ais, err)
	}
	// No host: wildcard with AI_PASSIVE, loopback without.
	ais, _ = socket.GetAddrInfo(ctx, "", "80", &socket.AddrInfoHints{Type: socket.SOCK_STREAM, Flags: socket.AI_PASSIVE})
	if len(ais) != 2 || ais[0].Addr.String() != "0.0.0.0:80" || ais[1].Addr.String() != "[::]:80" {
		t.Fatalf("passive: %+v", ais)
	}
	ais, _ = socket.GetAddrInfo(ctx, "", "80", &socket.AddrInfoHints{Type: socket.SOCK_STREAM})
	if len(ais) != 2 || ais[0].Addr.String() != "[::1]:80" {
		t.Fatalf("no host: %+v", ais)
	}
	// Errors carry EAI codes.
	errCases := []struct {
		host, port string
		hints      *socket.AddrInfoHints
		want       socket.EAI
	}{
		{"no-such-host.invalid", "80", nil, socket.EAI_NONAME},
		{"localhost", "no-such-service", nil, socket.EAI_SERVICE},
		{"localhost", "80", &socket.AddrInfoHints{Flags: socket.AI_NUMERICHOST}, socket.EAI_NONAME},
		{"127.0.0.1", "http", &socket.AddrInfoHints{Flags: socket.AI_NUMERICSERV}, socket.EAI_NONAME},
		{"127.0.0.1", "80", &socket.AddrInfoHints{Family: socket.AF_UNIX}, socket.EAI_FAMILY},
		{"127.0.0.1", "80", &socket.AddrInfoHints{Type: socket.SOCK_RDM}, socket.EAI_SOCKTYPE},
		{"127.0.0.1", "80", &socket.AddrInfoHints{Type: socket.SOCK_STREAM, Proto: socket.IPPROTO_UDP}, socket.EAI_SOCKTYPE},
		{"127.0.0.1", "70000", nil, socket.EAI_SERVICE},
		{"", "", nil, socket.EAI_NONAME},
	}
	for _, tc := range errCases {
		_, err := socket.GetAddrInfo(ctx, tc.host, tc.port, tc.hints)
		var ae *socket.AddrInfoError
		if !errors.As(err, &ae) || !errors.Is(err, tc.want) {
			t.Errorf("GetAddrInfo(%q, %q) = %v; want %v", tc.host, tc.port, err, tc.want)
		}
	}
	if ip, err := socket.GetHostByName("localhost"); err != nil || ip.String() != "127.0.0.1" {
		t.Fatalf("GetHostByName(localhost) = %v, %v", ip, err)
	}
	if he, err := socket.GetHostByAddr("127.0.0.1"); err != nil || he.Name == "" {
		t.Fatalf("GetHostByAddr = %+v, %v", he, err)
	}
	var he *socket.HostError
	if _, err := socket.GetHostByAddr("192.0.2.255"); !errors.As(err, &he) || he.Code != socket.HOST_NOT_FOUND {
		t.Fatalf("GetHostByAddr(TEST-NET) = %v; want a HostError HOST_NOT_FOUND", err)
	}
	if got := (socket.AI_PASSIVE | socket.AI_CANONNAME).String(); got != "AI_PASSIVE|AI_CANONNAME" {
		t.Fatalf("AIFlag.String = %q", got)
	}
	host, serv, err := socket.GetNameInfo(ctx, &socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}, Port: 80}, socket.NI_NUMERICHOST)
	if err != nil || host != "127.0.0.1" || serv != "http" {
		t.Fatalf("GetNameInfo = %q %q, %v", host, serv, err)
	}
	if _, serv, _ := socket.GetNameInfo(ctx, &socket.Inet4Addr{Port: 80}, socket.NI_NUMERICHOST|socket.NI_NUMERICSERV); serv != "80" {
		t.Fatalf("NI_NUMERICSERV gave %q", serv)
	}
	if p, err := socket.GetServByName("echo", "tcp"); err != nil || p != 7 {
		t.Fatalf("GetServByName(echo) = %d, %v", p, err)
	}
	if name, err := socket.GetServByPort(13, ""); err != nil || name != "daytime" {
		t.Fatalf("GetServByPort(13) = %q, %v", name, err)
	}
	if p, err := socket.GetProtoByName("icmp"); err != nil || p != socket.IPPROTO_ICMP {
		t.Fatalf("GetProtoByName(icmp) = %v, %v", p, err)
	}
	if _, err := socket.GetProtoByName("nope"); err == nil {
		t.Fatal("GetProtoByName(nope) succeeded")
	}
	if h, err := socket.GetHostname(); err != nil || h == "" {
		t.Fatalf("GetHostname = %q, %v", h, err)
	}
	if socket.GetFQDN("") == "" {
		t.Fatal("GetFQDN empty")
	}
}
