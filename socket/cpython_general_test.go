//go:build linux

package socket_test

// The port of CPython 3.11's GeneralModuleTests (Lib/test/test_socket.py).

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/socketkit/socketkit/socket"
)

func TestGeneralModuleTests_test_repr(t *testing.T) {
	s := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	r := s.String()
	for _, want := range []string{"fd=" + strconv.Itoa(s.Fd()), "family=AF_INET", "type=SOCK_STREAM", "proto=0"} {
		if !strings.Contains(r, want) {
			t.Errorf("%s lacks %q", r, want)
		}
	}
	if strings.Contains(r, "raddr") {
		t.Errorf("%s has a raddr before connect", r)
	}
	if err := s.Bind(loop4); err != nil {
		t.Fatal(err)
	}
	r = s.String()
	if !strings.Contains(r, "laddr="+sockname(t, s).String()) {
		t.Errorf("%s lacks laddr=%s", r, sockname(t, s))
	}
	s.Close()
	r = s.String()
	if !strings.Contains(r, "[closed]") || strings.Contains(r, "laddr") {
		t.Errorf("closed socket: %s", r)
	}
}

func TestGeneralModuleTests_testSocketError(t *testing.T) {
	// socket.error, herror and gaierror are OSError: here every resolver
	// error is an error value that errors.As and errors.Is see through.
	var he error = &socket.HostError{Code: socket.HOST_NOT_FOUND, Name: "x"}
	var ge error = &socket.AddrInfoError{Code: socket.EAI_NONAME, Name: "x"}
	if he.Error() == "" || ge.Error() == "" || !errors.Is(ge, socket.EAI_NONAME) {
		t.Fatalf("HostError %q, AddrInfoError %q", he, ge)
	}
}

func TestGeneralModuleTests_testCrucialConstants(t *testing.T) {
	for _, c := range []struct {
		got, want int
	}{
		{int(socket.AF_INET), syscall.AF_INET}, {int(socket.AF_INET6), syscall.AF_INET6},
		{int(socket.SOCK_STREAM), syscall.SOCK_STREAM}, {int(socket.SOCK_DGRAM), syscall.SOCK_DGRAM},
		{int(socket.SOCK_RAW), syscall.SOCK_RAW}, {int(socket.SOCK_RDM), syscall.SOCK_RDM},
		{int(socket.SOCK_SEQPACKET), syscall.SOCK_SEQPACKET}, {socket.SOL_SOCKET, syscall.SOL_SOCKET},
		{socket.SO_REUSEADDR, syscall.SO_REUSEADDR},
	} {
		if c.got != c.want {
			t.Errorf("constant %d, want %d", c.got, c.want)
		}
	}
}

func TestGeneralModuleTests_testCrucialIpProtoConstants(t *testing.T) {
	if socket.IPPROTO_TCP != syscall.IPPROTO_TCP || socket.IPPROTO_UDP != syscall.IPPROTO_UDP ||
		socket.IPPROTO_IPV6 != syscall.IPPROTO_IPV6 {
		t.Fatal("IPPROTO constants differ from the kernel's")
	}
}

func TestGeneralModuleTests_test_socket_methods(t *testing.T) {
	// The methods Python checks for (accept, bind, connect, connect_ex,
	// getpeername, getsockname, listen, recvfrom, recvfrom_into, sendto,
	// setsockopt, shutdown) are methods of *Socket; this compiles only if
	// they exist.
	var s *socket.Socket
	_ = []any{s.Accept, s.Bind, s.Connect, s.ConnectEx, s.Getpeername, s.Getsockname, s.Listen,
		s.Recvfrom, s.Sendto, s.SetsockoptInt, s.SetsockoptBytes, s.Shutdown}
}

func TestGeneralModuleTests_testHostnameRes(t *testing.T) {
	hostname, err := socket.GetHostname()
	if err != nil {
		t.Fatal(err)
	}
	ip, err := socket.GetHostByName(hostname)
	if err != nil {
		t.Skipf("name lookup failure: %v", err)
	}
	if !ip.Is4() {
		t.Fatalf("GetHostByName(%q) = %v", hostname, ip)
	}
	he, err := socket.GetHostByAddr(ip.String())
	if err != nil {
		t.Skipf("name lookup failure: %v", err)
	}
	all := append([]string{hostname, he.Name}, he.Aliases...)
	fqhn := socket.GetFQDN(ip.String())
	for _, n := range all {
		if n == fqhn {
			return
		}
	}
	t.Fatalf("GetFQDN(%s) = %q, not among %q", ip, fqhn, all)
}

func TestGeneralModuleTests_test_host_resolution(t *testing.T) {
	for _, addr := range []string{"127.0.0.1", "10.0.0.1", "255.255.255.255"} {
		if ip, err := socket.GetHostByName(addr); err != nil || ip.String() != addr {
			t.Errorf("GetHostByName(%s) = %v, %v", addr, ip, err)
		}
	}
	he, err := socket.GetHostByAddr("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range he.Addrs {
		found = found || a.String() == "127.0.0.1"
	}
	if !found {
		t.Fatalf("GetHostByAddr(127.0.0.1).Addrs = %v", he.Addrs)
	}
}

func TestGeneralModuleTests_test_host_resolution_bad_address(t *testing.T) {
	for _, addr := range []string{"0.1.1.~1", "1+.1.1.1", "::1q", "::1::2", "1:1:1:1:1:1:1:1:1"} {
		if ip, err := socket.GetHostByName(addr); err == nil {
			t.Errorf("GetHostByName(%q) = %v", addr, ip)
		}
		if he, err := socket.GetHostByAddr(addr); err == nil {
			t.Errorf("GetHostByAddr(%q) = %+v", addr, he)
		}
	}
}

func TestGeneralModuleTests_testInterpreterCrash(t *testing.T) {
	// getnameinfo(('x', 0, 0, 0), 0) must fail, not crash: here a Sockaddr
	// that is not an IP address, or none at all.
	for _, sa := range []socket.Sockaddr{&socket.UnixAddr{Path: "x"}, nil, (*socket.Inet6Addr)(nil)} {
		if h, s, err := socket.GetNameInfo(context.Background(), sa, 0); err == nil {
			t.Errorf("GetNameInfo(%v) = %q %q", sa, h, s)
		}
	}
}

func TestGeneralModuleTests_testNtoH(t *testing.T) {
	for _, i := range []uint32{0, 1, 0xffff, ^uint32(0xffff), 2, 0x01234567, 0x76543210} {
		if socket.Htonl(socket.Htonl(i)) != i || socket.Ntohl(socket.Ntohl(i)) != i {
			t.Errorf("Htonl/Ntohl(%#x) not their own inverse", i)
		}
		s := uint16(i)
		if socket.Htons(socket.Htons(s)) != s || socket.Ntohs(socket.Ntohs(s)) != s {
			t.Errorf("Htons/Ntohs(%#x) not their own inverse", s)
		}
	}
	if socket.Htonl(0xffffffff) != 0xffffffff || socket.Htons(0xffff) != 0xffff {
		t.Error("all-ones not preserved")
	}
}

func TestGeneralModuleTests_testGetServBy(t *testing.T) {
	var service string
	var port int
	for _, name := range []string{"daytime", "qotd", "domain"} {
		if p, err := socket.GetServByName(name, "tcp"); err == nil {
			service, port = name, p
			break
		}
	}
	if service == "" {
		t.Fatal("no service among daytime, qotd, domain")
	}
	port2, err := socket.GetServByName(service, "")
	if err != nil || port2 != port {
		t.Fatalf("GetServByName(%s, \"\") = %d, %v; want %d", service, port2, err, port)
	}
	udpport, err := socket.GetServByName(service, "udp")
	if err == nil && udpport != port {
		t.Fatalf("GetServByName(%s, udp) = %d; want %d", service, udpport, port)
	}
	if name, err := socket.GetServByPort(port2, ""); err != nil || name != service {
		t.Fatalf("GetServByPort(%d) = %q, %v", port2, name, err)
	}
	if name, err := socket.GetServByPort(port, "tcp"); err != nil || name != service {
		t.Fatalf("GetServByPort(%d, tcp) = %q, %v", port, name, err)
	}
	if err == nil {
		if name, err := socket.GetServByPort(udpport, "udp"); err != nil || name != service {
			t.Fatalf("GetServByPort(%d, udp) = %q, %v", udpport, name, err)
		}
	}
	for _, bad := range []int{-1, 65536} {
		if name, err := socket.GetServByPort(bad, ""); err == nil {
			t.Errorf("GetServByPort(%d) = %q", bad, name)
		}
	}
}

func TestGeneralModuleTests_testDefaultTimeout(t *testing.T) {
	defer socket.SetDefaultTimeout(0)
	if socket.DefaultTimeout() != 0 {
		t.Fatalf("DefaultTimeout = %v; want 0 (None)", socket.DefaultTimeout())
	}
	if s := newSock(t, socket.AF_INET, socket.SOCK_STREAM); s.Timeout() != 0 {
		t.Fatalf("new socket timeout %v", s.Timeout())
	}
	socket.SetDefaultTimeout(10 * time.Second)
	if socket.DefaultTimeout() != 10*time.Second {
		t.Fatalf("DefaultTimeout = %v", socket.DefaultTimeout())
	}
	if s := newSock(t, socket.AF_INET, socket.SOCK_STREAM); s.Timeout() != 10*time.Second {
		t.Fatalf("new socket timeout %v; want 10s", s.Timeout())
	}
	socket.SetDefaultTimeout(0)
	if s := newSock(t, socket.AF_INET, socket.SOCK_STREAM); s.Timeout() != 0 {
		t.Fatalf("new socket timeout %v after reset", s.Timeout())
	}
	// Python raises ValueError for -1; SetDefaultTimeout has no error
	// result and takes d <= 0 as "no timeout" (a difference by design).
	socket.SetDefaultTimeout(-time.Second)
	if socket.DefaultTimeout() != 0 {
		t.Fatalf("SetDefaultTimeout(-1s) left %v", socket.DefaultTimeout())
	}
}

func TestGeneralModuleTests_testIPv4_inet_aton_fourbytes(t *testing.T) {
	if b, err := socket.InetAton("0.0.0.0"); err != nil || b != [4]byte{} {
		t.Fatalf("InetAton(0.0.0.0) = %v, %v", b, err)
	}
	if b, err := socket.InetAton("255.255.255.255"); err != nil || b != [4]byte{255, 255, 255, 255} {
		t.Fatalf("InetAton(255.255.255.255) = %v, %v", b, err)
	}
}

func TestGeneralModuleTests_testIPv4toString(t *testing.T) {
	good := map[string][]byte{"0.0.0.0": {0, 0, 0, 0}, "255.0.255.0": {0xff, 0, 0xff, 0},
		"170.170.170.170": {0xaa, 0xaa, 0xaa, 0xaa}, "255.255.255.255": {0xff, 0xff, 0xff, 0xff}}
	for s, want := range good {
		if b, err := socket.InetAton(s); err != nil || !bytes.Equal(b[:], want) {
			t.Errorf("InetAton(%s) = %v, %v", s, b, err)
		}
		if b, err := socket.InetPton(socket.AF_INET, s); err != nil || !bytes.Equal(b, want) {
			t.Errorf("InetPton(AF_INET, %s) = %v, %v", s, b, err)
		}
	}
	if b, err := socket.InetAton("1.2.3.4"); err != nil || b != [4]byte{1, 2, 3, 4} {
		t.Errorf("InetAton(1.2.3.4) = %v, %v", b, err)
	}
	for _, bad := range []string{"0.0.0.", "300.0.0.0", "a.0.0.0", "1.2.3.4.5", "::1"} {
		if b, err := socket.InetAton(bad); err == nil {
			t.Errorf("InetAton(%q) = %v", bad, b)
		}
		if b, err := socket.InetPton(socket.AF_INET, bad); err == nil {
			t.Errorf("InetPton(AF_INET, %q) = %v", bad, b)
		}
	}
}

func TestGeneralModuleTests_testIPv6toString(t *testing.T) {
	h := func(s string) []byte {
		b, err := hexBytes(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := []struct {
		in   string
		want []byte
	}{
		{"::", make([]byte, 16)}, {"0::0", make([]byte, 16)}, {"1::", append([]byte{0, 1}, make([]byte, 14)...)},
		{"45ef:76cb:1a:56ef:afeb:bac:1924:aeae", h("45ef76cb001a56efafeb0bac1924aeae")},
		{"ad42:abc::127:0:254:2", h("ad420abc000000000127000002540002")},
		{"12:a::", h("0012000a000000000000000000000000")},
		{"::254.42.23.64", h("000000000000000000000000fe2a1740")},
		{"42::a29b:254.42.23.64", h("00420000000000000000a29bfe2a1740")},
		{"42:a8b9:0:2:ffff:a29b:254.42.23.64", h("0042a8b900000002ffffa29bfe2a1740")},
	}
	for _, g := range good {
		if b, err := socket.InetPton(socket.AF_INET6, g.in); err != nil || !bytes.Equal(b, g.want) {
			t.Errorf("InetPton(AF_INET6, %s) = %x, %v; want %x", g.in, b, err, g.want)
		}
	}
	for _, bad := range []string{"0x20::", ":::", "::0::", "1::abc::", "1::abc::def", "1:2:3:4:5:6",
		"1:2:3:4:5:6:", "1:2:3:4:5:6:7:8:0", "1:2:3:4:5:6:7:8:", "255.254.253.252", "1::260.2.3.0",
		"1::0.be.e.0", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3.4:0", "0.100.200.0:3:4:5:6:7:8"} {
		if b, err := socket.InetPton(socket.AF_INET6, bad); err == nil {
			t.Errorf("InetPton(AF_INET6, %q) = %x", bad, b)
		}
	}
}

func hexBytes(s string) ([]byte, error) {
	b := make([]byte, len(s)/2)
	for i := range b {
		v, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, err
		}
		b[i] = byte(v)
	}
	return b, nil
}

func TestGeneralModuleTests_testStringToIPv4(t *testing.T) {
	for b, want := range map[[4]byte]string{{1, 0, 1, 0}: "1.0.1.0", {0xaa, 0x55, 0xaa, 0x55}: "170.85.170.85",
		{0xff, 0xff, 0xff, 0xff}: "255.255.255.255", {1, 2, 3, 4}: "1.2.3.4"} {
		if got := socket.InetNtoa(b); got != want {
			t.Errorf("InetNtoa(%v) = %q", b, got)
		}
		if got, err := socket.InetNtop(socket.AF_INET, b[:]); err != nil || got != want {
			t.Errorf("InetNtop(AF_INET, %v) = %q, %v", b, got, err)
		}
	}
	// InetNtoa takes a [4]byte, so only InetNtop can get a wrong length.
	for _, n := range []int{3, 5, 16} {
		if s, err := socket.InetNtop(socket.AF_INET, make([]byte, n)); err == nil {
			t.Errorf("InetNtop(AF_INET, %d bytes) = %q", n, s)
		}
	}
}

func TestGeneralModuleTests_testStringToIPv6(t *testing.T) {
	cases := map[string]string{
		"::":                                string(make([]byte, 16)),
		"::1":                               string(append(make([]byte, 15), 1)),
		"aef:b01:506:1001:ffff:9997:55:170": "\x0a\xef\x0b\x01\x05\x06\x10\x01\xff\xff\x99\x97\x00\x55\x01\x70",
	}
	for want, b := range cases {
		if got, err := socket.InetNtop(socket.AF_INET6, []byte(b)); err != nil || got != want {
			t.Errorf("InetNtop(AF_INET6, %x) = %q, %v; want %q", b, got, err, want)
		}
	}
	for _, n := range []int{15, 17, 4} {
		if s, err := socket.InetNtop(socket.AF_INET6, bytes.Repeat([]byte{0x12}, n)); err == nil {
			t.Errorf("InetNtop(AF_INET6, %d bytes) = %q", n, s)
		}
	}
}

func TestGeneralModuleTests_testSockName(t *testing.T) {
	s := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	if err := s.Bind(&socket.Inet4Addr{}); err != nil {
		t.Fatal(err)
	}
	name := sockname(t, s).(*socket.Inet4Addr)
	if name.Addr != [4]byte{} || name.Port == 0 {
		t.Fatalf("Getsockname = %v; want 0.0.0.0 and the port bound", name)
	}
}

func TestGeneralModuleTests_testGetSockOpt(t *testing.T) {
	s := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	if reuse, err := s.GetsockoptInt(socket.SOL_SOCKET, socket.SO_REUSEADDR); err != nil || reuse != 0 {
		t.Fatalf("initial SO_REUSEADDR = %d, %v", reuse, err)
	}
}

func TestGeneralModuleTests_testSetSockOpt(t *testing.T) {
	s := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	if err := s.SetsockoptInt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); err != nil {
		t.Fatal(err)
	}
	if reuse, err := s.GetsockoptInt(socket.SOL_SOCKET, socket.SO_REUSEADDR); err != nil || reuse == 0 {
		t.Fatalf("SO_REUSEADDR = %d, %v after setting it", reuse, err)
	}
}

func TestGeneralModuleTests_testSendAfterClose(t *testing.T) {
	s := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	s.SetTimeout(time.Second)
	s.Close()
	if _, err := s.Send([]byte("spam"), 0); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Send after Close: %v; want net.ErrClosed", err)
	}
}

func TestGeneralModuleTests_testNewAttributes(t *testing.T) {
	s := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	if s.Family() != socket.AF_INET || s.Type() != socket.SOCK_STREAM || s.Proto() != 0 {
		t.Fatalf("Family %v Type %v Proto %v", s.Family(), s.Type(), s.Proto())
	}
}

func TestGeneralModuleTests_test_getsockaddrarg(t *testing.T) {
	s := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	for _, port := range []int{65536 + 1000, 1000 - 65536} {
		err := s.Bind(&socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}, Port: port})
		if !errors.Is(err, syscall.EINVAL) {
			t.Fatalf("Bind(port %d) = %v; want EINVAL", port, err)
		}
		if !strings.Contains(err.Error(), strconv.Itoa(port)) {
			t.Errorf("the error for port %d does not name it: %v", port, err)
		}
	}
	if err := s.Bind(loop4); err != nil {
		t.Fatal(err)
	}
}

func TestGeneralModuleTests_testGetaddrinfo(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct{ host, port string }{
		{"localhost", "80"}, {"127.0.0.1", "80"}, {"", "80"}, {"::1", "80"}, {"127.0.0.1", "http"},
		{"127.0.0.1", ""},
	} {
		if ais, err := socket.GetAddrInfo(ctx, c.host, c.port, nil); err != nil || len(ais) == 0 {
			t.Errorf("GetAddrInfo(%q, %q) = %v, %v", c.host, c.port, ais, err)
		}
	}
	ais, err := socket.GetAddrInfo(ctx, "127.0.0.1", "80", &socket.AddrInfoHints{Family: socket.AF_INET, Type: socket.SOCK_STREAM})
	if err != nil || len(ais) == 0 {
		t.Fatal(err)
	}
	for _, ai := range ais {
		if ai.Family != socket.AF_INET || ai.Family.String() != "AF_INET" || ai.Type != socket.SOCK_STREAM || ai.Type.String() != "SOCK_STREAM" {
			t.Errorf("filtered result %+v", ai)
		}
	}
	ais, _ = socket.GetAddrInfo(ctx, "127.0.0.1", "", &socket.AddrInfoHints{Type: socket.SOCK_STREAM})
	for _, ai := range ais {
		if ai.Type != socket.SOCK_STREAM {
			t.Errorf("type filter: %+v", ai)
		}
	}
	for _, h := range []*socket.AddrInfoHints{
		{Proto: socket.IPPROTO_TCP}, {Flags: socket.AI_PASSIVE},
		{Family: socket.AF_UNSPEC, Type: socket.SOCK_STREAM, Flags: socket.AI_PASSIVE},
	} {
		if _, err := socket.GetAddrInfo(ctx, "127.0.0.1", "", h); err != nil {
			t.Errorf("GetAddrInfo(hints %+v): %v", h, err)
		}
	}
	// The arguments are undefined; it must not crash.
	socket.GetAddrInfo(ctx, "localhost", "", &socket.AddrInfoHints{Flags: socket.AI_NUMERICSERV})
}

func TestGeneralModuleTests_test_getnameinfo(t *testing.T) {
	// Only IP addresses are allowed: a Sockaddr cannot carry a host name,
	// and the other families are refused.
	if _, _, err := socket.GetNameInfo(context.Background(), &socket.UnixAddr{Path: "mail.python.org"}, 0); err == nil {
		t.Fatal("GetNameInfo accepted a non-IP address")
	}
}

func TestGeneralModuleTests_test_listen_backlog(t *testing.T) {
	for _, backlog := range []int{0, -1, socket.SOMAXCONN} {
		s := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
		if err := s.Bind(loop4); err != nil {
			t.Fatal(err)
		}
		if err := s.Listen(backlog); err != nil {
			t.Errorf("Listen(%d): %v", backlog, err)
		}
	}
}

func TestGeneralModuleTests_test_flowinfo(t *testing.T) {
	lo := loop6(t)
	bad := &socket.Inet6Addr{Addr: lo.Addr, FlowInfo: 0xffffffff}
	if _, _, err := socket.GetNameInfo(context.Background(), bad, socket.NI_NUMERICHOST); err == nil {
		t.Error("GetNameInfo accepted a flow label of 32 bits")
	}
	s := newSock(t, socket.AF_INET6, socket.SOCK_STREAM)
	if err := s.Bind(bad); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Bind(flow label %#x) = %v; want EINVAL", bad.FlowInfo, err)
	}
	if err := s.Bind(&socket.Inet6Addr{Addr: lo.Addr, FlowInfo: 0xfffff}); err != nil {
		t.Fatalf("a 20-bit flow label: %v", err)
	}
}

func TestGeneralModuleTests_test_getaddrinfo_ipv6_basic(t *testing.T) {
	loop6(t)
	ais, err := socket.GetAddrInfo(context.Background(), "ff02::1de:c0:face:8D", "1234",
		&socket.AddrInfoHints{Family: socket.AF_INET6, Type: socket.SOCK_DGRAM, Proto: socket.IPPROTO_UDP})
	if err != nil || len(ais) != 1 {
		t.Fatalf("GetAddrInfo = %v, %v", ais, err)
	}
	want := &socket.Inet6Addr{Addr: netip.MustParseAddr("ff02::1de:c0:face:8d").As16(), Port: 1234}
	if got, ok := ais[0].Addr.(*socket.Inet6Addr); !ok || *got != *want {
		t.Fatalf("address %#v; want %#v", ais[0].Addr, want)
	}
}

func TestGeneralModuleTests_test_getfqdn_filter_localhost(t *testing.T) {
	if a, b := socket.GetFQDN(""), socket.GetFQDN("0.0.0.0"); a != b {
		t.Errorf("GetFQDN() = %q, GetFQDN(0.0.0.0) = %q", a, b)
	}
	if a, b := socket.GetFQDN(""), socket.GetFQDN("::"); a != b {
		t.Errorf("GetFQDN() = %q, GetFQDN(::) = %q", a, b)
	}
}

func TestGeneralModuleTests_test_getaddrinfo_ipv6_scopeid_symbolic(t *testing.T) {
	loop6(t)
	idx := loIndex(t)
	ais, err := socket.GetAddrInfo(context.Background(), "ff02::1de:c0:face:8D%lo", "1234",
		&socket.AddrInfoHints{Family: socket.AF_INET6, Type: socket.SOCK_DGRAM, Proto: socket.IPPROTO_UDP})
	if err != nil || len(ais) != 1 {
		t.Fatalf("GetAddrInfo = %v, %v", ais, err)
	}
	want := &socket.Inet6Addr{Addr: netip.MustParseAddr("ff02::1de:c0:face:8d").As16(), Port: 1234, ScopeID: idx}
	if got, ok := ais[0].Addr.(*socket.Inet6Addr); !ok || *got != *want {
		t.Fatalf("address %#v; want %#v", ais[0].Addr, want)
	}
}

func TestGeneralModuleTests_test_getnameinfo_ipv6_scopeid_symbolic(t *testing.T) {
	loop6(t)
	idx := loIndex(t)
	sa := &socket.Inet6Addr{Addr: netip.MustParseAddr("ff02::1de:c0:face:8D").As16(), Port: 1234, ScopeID: idx}
	host, serv, err := socket.GetNameInfo(context.Background(), sa, socket.NI_NUMERICHOST|socket.NI_NUMERICSERV)
	if err != nil || host != "ff02::1de:c0:face:8d%lo" || serv != "1234" {
		t.Fatalf("GetNameInfo = %q %q, %v", host, serv, err)
	}
}

func TestGeneralModuleTests_test_str_for_enums(t *testing.T) {
	s := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	if s.Family().String() != "AF_INET" || s.Type().String() != "SOCK_STREAM" {
		t.Fatalf("Family %q Type %q", s.Family(), s.Type())
	}
}

func TestGeneralModuleTests_test_socket_consistent_sock_type(t *testing.T) {
	s := newSock(t, socket.AF_INET, socket.SOCK_STREAM|socket.SOCK_NONBLOCK|socket.SOCK_CLOEXEC)
	steps := []func() error{
		func() error { return nil },
		func() error { return s.SetTimeout(time.Second) },
		func() error { return s.SetBlocking(false) },
		func() error { return s.SetBlocking(true) },
		func() error { return s.SetBlocking(false) },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
		if s.Type() != socket.SOCK_STREAM {
			t.Fatalf("step %d: Type = %v; want SOCK_STREAM", i, s.Type())
		}
	}
}

func TestGeneralModuleTests_test_unknown_socket_family_repr(t *testing.T) {
	s := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	f, typ := socket.Family(socket.AF_VSOCK+100), socket.Type(socket.SOCK_SEQPACKET+10)
	u, err := socket.FromFd(s.Fd(), f, typ, 23)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if u.Family() != f || u.Type() != typ || (u.Proto() != 0 && u.Proto() != 23) {
		t.Fatalf("Family %v Type %v Proto %v", u.Family(), u.Type(), u.Proto())
	}
	if r := u.String(); !strings.Contains(r, "family="+f.String()) || !strings.Contains(f.String(), strconv.Itoa(int(f))) {
		t.Fatalf("String %q", r)
	}
}

func TestGeneralModuleTests_test_socket_fileno(t *testing.T) {
	check := func(s *socket.Socket, f socket.Family, typ socket.Type) {
		t.Helper()
		if s.Family() != f || s.Type() != typ {
			t.Fatalf("%v: Family %v Type %v", s, s.Family(), s.Type())
		}
		// socket.socket(fileno=fd) reads family and type from the
		// descriptor; Dup stands for detach, which Socket does not have.
		d, err := s.Dup()
		if err != nil {
			t.Fatal(err)
		}
		fd := d.Fd()
		raw, err := d.File()
		d.Close()
		if err != nil {
			t.Fatal(err)
		}
		s2, err := socket.NewFd(int(raw.Fd()))
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		_ = fd
		if s2.Family() != f || s2.Type() != typ {
			t.Fatalf("NewFd: Family %v Type %v; want %v %v", s2.Family(), s2.Type(), f, typ)
		}
	}
	s := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	s.Bind(loop4)
	check(s, socket.AF_INET, socket.SOCK_STREAM)
	s = newSock(t, socket.AF_INET, socket.SOCK_DGRAM)
	s.Bind(loop4)
	check(s, socket.AF_INET, socket.SOCK_DGRAM)
	if socket.HasIPv6() {
		s = newSock(t, socket.AF_INET6, socket.SOCK_STREAM)
		s.Bind(loop6(t))
		check(s, socket.AF_INET6, socket.SOCK_STREAM)
	}
	s = newSock(t, socket.AF_UNIX, socket.SOCK_STREAM)
	s.Bind(localAddr(t, streamNets[2]))
	check(s, socket.AF_UNIX, socket.SOCK_STREAM)
}

func TestGeneralModuleTests_test_socket_fileno_rejects_invalid_socket(t *testing.T) {
	if s, err := socket.NewFd(-1); err == nil {
		s.Close()
		t.Fatal("NewFd(-1) succeeded")
	}
}

func TestGeneralModuleTests_test_socket_fileno_rejects_negative(t *testing.T) {
	if s, err := socket.NewFd(-42); err == nil {
		s.Close()
		t.Fatal("NewFd(-42) succeeded")
	}
}

func TestGeneralModuleTests_test_socket_fileno_requires_valid_fd(t *testing.T) {
	// A descriptor number that is not open: one just closed.
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	bad := int(f.Fd())
	f.Close()
	_, err = socket.NewFd(bad)
	if !errors.Is(err, syscall.EBADF) {
		t.Fatalf("NewFd(closed fd) = %v; want EBADF", err)
	}
	_, err = socket.FromFd(bad, socket.AF_INET, socket.SOCK_STREAM, 0)
	if !errors.Is(err, syscall.EBADF) {
		t.Fatalf("FromFd(closed fd) = %v; want EBADF", err)
	}
}

func TestGeneralModuleTests_test_socket_fileno_requires_socket_fd(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "notasocket")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := socket.NewFd(int(f.Fd())); !errors.Is(err, syscall.ENOTSOCK) {
		t.Fatalf("NewFd(file) = %v; want ENOTSOCK", err)
	}
	if _, err := socket.FromFd(int(f.Fd()), socket.AF_INET, socket.SOCK_STREAM, 0); !errors.Is(err, syscall.ENOTSOCK) {
		t.Fatalf("FromFd(file) = %v; want ENOTSOCK", err)
	}
}

// The four enum tests check that Python's enums hold every AF_, SOCK_,
// MSG_ and AI_ constant of the C module with its value; here each typed
// constant has the kernel's (glibc's) value and prints its C name.
func TestGeneralModuleTests_test_addressfamily_enum(t *testing.T) {
	for f, want := range map[socket.Family]int{socket.AF_UNSPEC: syscall.AF_UNSPEC, socket.AF_UNIX: syscall.AF_UNIX,
		socket.AF_INET: syscall.AF_INET, socket.AF_INET6: syscall.AF_INET6, socket.AF_NETLINK: syscall.AF_NETLINK,
		socket.AF_PACKET: syscall.AF_PACKET, socket.AF_VSOCK: 40} {
		if int(f) != want || !regexp.MustCompile(`^AF_[A-Z0-9]+$`).MatchString(f.String()) {
			t.Errorf("%v = %d; want %d", f, int(f), want)
		}
	}
}

func TestGeneralModuleTests_test_socketkind_enum(t *testing.T) {
	for typ, want := range map[socket.Type]int{socket.SOCK_STREAM: syscall.SOCK_STREAM, socket.SOCK_DGRAM: syscall.SOCK_DGRAM,
		socket.SOCK_RAW: syscall.SOCK_RAW, socket.SOCK_RDM: syscall.SOCK_RDM, socket.SOCK_SEQPACKET: syscall.SOCK_SEQPACKET,
		socket.SOCK_NONBLOCK: syscall.SOCK_NONBLOCK, socket.SOCK_CLOEXEC: syscall.SOCK_CLOEXEC} {
		if int(typ) != want || !strings.Contains(typ.String(), "SOCK_") {
			t.Errorf("%v = %d; want %d", typ, int(typ), want)
		}
	}
}

func TestGeneralModuleTests_test_msgflag_enum(t *testing.T) {
	for f, want := range map[socket.MsgFlag]int{socket.MSG_OOB: syscall.MSG_OOB, socket.MSG_PEEK: syscall.MSG_PEEK,
		socket.MSG_DONTROUTE: syscall.MSG_DONTROUTE, socket.MSG_CTRUNC: syscall.MSG_CTRUNC, socket.MSG_TRUNC: syscall.MSG_TRUNC,
		socket.MSG_DONTWAIT: syscall.MSG_DONTWAIT, socket.MSG_EOR: syscall.MSG_EOR, socket.MSG_WAITALL: syscall.MSG_WAITALL,
		socket.MSG_NOSIGNAL: syscall.MSG_NOSIGNAL, socket.MSG_CMSG_CLOEXEC: syscall.MSG_CMSG_CLOEXEC,
		socket.MSG_ERRQUEUE: syscall.MSG_ERRQUEUE, socket.MSG_CONFIRM: syscall.MSG_CONFIRM, socket.MSG_MORE: syscall.MSG_MORE} {
		if int(f) != want || !strings.HasPrefix(f.String(), "MSG_") {
			t.Errorf("%v = %#x; want %#x", f, int(f), want)
		}
	}
	if got := (socket.MSG_PEEK | socket.MSG_TRUNC).String(); got != "MSG_PEEK|MSG_TRUNC" {
		t.Errorf("flags print %q", got)
	}
}

func TestGeneralModuleTests_test_addressinfo_enum(t *testing.T) {
	for f, want := range map[socket.AIFlag]int{socket.AI_PASSIVE: 1, socket.AI_CANONNAME: 2, socket.AI_NUMERICHOST: 4,
		socket.AI_V4MAPPED: 8, socket.AI_ALL: 0x10, socket.AI_ADDRCONFIG: 0x20, socket.AI_NUMERICSERV: 0x400} {
		if int(f) != want || !strings.HasPrefix(f.String(), "AI_") {
			t.Errorf("%v = %#x; want %#x (glibc)", f, int(f), want)
		}
	}
}

func TestGeneralModuleTests_test_listen_backlog_overflow(t *testing.T) {
	// Python raises OverflowError past INT_MAX; the kernel takes an int, so
	// a larger backlog must not wrap around to a small one (1<<32 would be
	// 0): it is capped, as the kernel caps any backlog at somaxconn.
	s := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	if err := s.Bind(loop4); err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(1 << 32); err != nil {
		t.Fatal(err)
	}
	// With a backlog of 0 the kernel queues one connection at most; with
	// the cap it takes many without anyone accepting.
	addr := sockname(t, s)
	for i := range 8 {
		c := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
		c.SetTimeout(3 * time.Second) // a full queue drops the SYN: connect would wait
		if err := c.Connect(addr); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
	got := 0
	s.SetTimeout(100 * time.Millisecond)
	for {
		c, _, err := s.Accept()
		if err != nil {
			break
		}
		c.Close()
		got++
	}
	if got != 8 {
		t.Fatalf("the listen queue held %d of 8 connections (backlog wrapped around?)", got)
	}
}
