//go:build linux

package socket_test

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/socketkit/socketkit/socket"
)

func TestParseAddr(t *testing.T) {
	cases := []struct {
		f       socket.Family
		in      string
		want    string
		wantFam socket.Family
	}{
		{socket.AF_INET, "127.0.0.1:6254", "127.0.0.1:6254", socket.AF_INET},
		{socket.AF_INET, "localhost:80", "127.0.0.1:80", socket.AF_INET},
		{socket.AF_INET, ":8080", "0.0.0.0:8080", socket.AF_INET},
		{socket.AF_INET, "127.0.0.1:http", "127.0.0.1:80", socket.AF_INET},
		{socket.AF_INET, "<broadcast>:9", "255.255.255.255:9", socket.AF_INET},
		{socket.AF_INET, "10.1.2.3:0", "10.1.2.3:0", socket.AF_INET},
		{socket.AF_INET6, "[::1]:0", "[::1]:0", socket.AF_INET6},
		{socket.AF_INET6, "[::1]:80", "[::1]:80", socket.AF_INET6},
		{socket.AF_INET6, ":80", "[::]:80", socket.AF_INET6},
		{socket.AF_INET6, "[fe80::1%1]:80", "[fe80::1%1]:80", socket.AF_INET6},
		{socket.AF_INET6, "[::ffff:127.0.0.1]:5", "[::ffff:127.0.0.1]:5", socket.AF_INET6},
		{socket.AF_UNIX, "./echo.sock", "./echo.sock", socket.AF_UNIX},
		{socket.AF_UNIX, "/run/x.sock", "/run/x.sock", socket.AF_UNIX},
		{socket.AF_UNIX, "@name", "@name", socket.AF_UNIX},
		{socket.AF_UNIX, "", "", socket.AF_UNIX},
		{socket.AF_VSOCK, "2:1024", "2:1024", socket.AF_VSOCK},
		{socket.AF_UNSPEC, "127.0.0.1:1", "127.0.0.1:1", socket.AF_INET},
		{socket.AF_UNSPEC, "[::1]:1", "[::1]:1", socket.AF_INET6},
		{socket.AF_UNSPEC, "/tmp/a.sock", "/tmp/a.sock", socket.AF_UNIX},
		{socket.AF_UNSPEC, "@abs", "@abs", socket.AF_UNIX},
		{socket.AF_UNSPEC, "localhost:7", "127.0.0.1:7", socket.AF_INET},
	}
	for _, tc := range cases {
		sa, err := socket.ParseAddr(tc.f, tc.in)
		if err != nil {
			t.Errorf("ParseAddr(%v, %q): %v", tc.f, tc.in, err)
			continue
		}
		if sa.String() != tc.want || sa.Family() != tc.wantFam {
			t.Errorf("ParseAddr(%v, %q) = %v %q; want %v %q", tc.f, tc.in, sa.Family(), sa, tc.wantFam, tc.want)
		}
		// String is the form ParseAddr reads back.
		again, err := socket.ParseAddr(sa.Family(), sa.String())
		if err != nil || again.String() != sa.String() {
			t.Errorf("round trip of %q: %v, %v", sa, again, err)
		}
	}
}

func TestParseAddrErrors(t *testing.T) {
	cases := []struct {
		f    socket.Family
		in   string
		want error // nil: any *socket.AddrError
	}{
		{socket.AF_INET, "127.0.0.1", nil},       // no port
		{socket.AF_INET, "127.0.0.1:65536", nil}, // port out of range
		{socket.AF_INET, "127.0.0.1:-1", nil},    // negative port
		{socket.AF_INET, "::1:80", nil},          // IPv6 without brackets
		{socket.AF_INET, "[::1]:80", syscall.EAFNOSUPPORT},
		{socket.AF_INET6, "127.0.0.1:80", syscall.EAFNOSUPPORT},
		{socket.AF_INET, "no-such-host.invalid:80", nil},
		{socket.AF_INET, "127.0.0.1:no-such-service", nil},
		{socket.AF_UNIX, "/" + strings.Repeat("x", 200), syscall.ENAMETOOLONG},
		{socket.AF_UNIX, "/a\x00b", syscall.EINVAL},
		{socket.AF_VSOCK, "x:y", nil},
		{socket.AF_PACKET, "eth0", errors.ErrUnsupported},
		{socket.AF_INET, "", nil},
	}
	for _, tc := range cases {
		sa, err := socket.ParseAddr(tc.f, tc.in)
		var ae *socket.AddrError
		if err == nil || !errors.As(err, &ae) {
			t.Errorf("ParseAddr(%v, %q) = %v, %v; want an *AddrError", tc.f, tc.in, sa, err)
			continue
		}
		if tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("ParseAddr(%v, %q) = %v; want it to match %v", tc.f, tc.in, err, tc.want)
		}
		if !strings.Contains(err.Error(), "address") {
			t.Errorf("error %q does not read well", err)
		}
	}
}

func TestUnixPathLimit(t *testing.T) {
	max := "/" + strings.Repeat("p", socket.MaxUnixPath-1)
	if _, err := socket.ParseAddr(socket.AF_UNIX, max); err != nil {
		t.Errorf("a %d-byte path is valid on Linux: %v", len(max), err)
	}
	if _, err := socket.ParseAddr(socket.AF_UNIX, max+"p"); !errors.Is(err, syscall.ENAMETOOLONG) {
		t.Errorf("a %d-byte path: %v", len(max)+1, err)
	}
}

func TestNetAddrConversions(t *testing.T) {
	cases := []struct {
		sa   socket.Sockaddr
		typ  socket.Type
		want net.Addr
	}{
		{&socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}, Port: 80}, socket.SOCK_STREAM, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}},
		{&socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}, Port: 53}, socket.SOCK_DGRAM, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}},
		{&socket.Inet6Addr{Addr: [16]byte{15: 1}, Port: 1}, socket.SOCK_STREAM, &net.TCPAddr{IP: net.IPv6loopback, Port: 1}},
		{&socket.UnixAddr{Path: "/x"}, socket.SOCK_STREAM, &net.UnixAddr{Name: "/x", Net: "unix"}},
		{&socket.UnixAddr{Path: "/x"}, socket.SOCK_DGRAM, &net.UnixAddr{Name: "/x", Net: "unixgram"}},
		{&socket.UnixAddr{Path: "/x"}, socket.SOCK_SEQPACKET, &net.UnixAddr{Name: "/x", Net: "unixpacket"}},
	}
	for _, tc := range cases {
		got := socket.NetAddr(tc.sa, tc.typ)
		if got.Network() != tc.want.Network() || got.String() != tc.want.String() {
			t.Errorf("NetAddr(%v, %v) = %s %s; want %s %s", tc.sa, tc.typ, got.Network(), got, tc.want.Network(), tc.want)
		}
		back, err := socket.FromNetAddr(got)
		if err != nil || back.String() != tc.sa.String() {
			t.Errorf("FromNetAddr(%v) = %v, %v", got, back, err)
		}
	}
	if socket.NetAddr(nil, socket.SOCK_STREAM) != nil {
		t.Error("NetAddr(nil) != nil")
	}
	if _, err := socket.FromNetAddr(nil); err == nil {
		t.Error("FromNetAddr(nil) succeeded")
	}
	ap := netip.MustParseAddrPort("[2001:db8::1]:443")
	if got, _ := socket.AddrPortOf(socket.InetAddr(ap)); got != ap {
		t.Errorf("InetAddr/AddrPortOf round trip: %v", got)
	}
	if _, ok := socket.AddrPortOf(&socket.UnixAddr{}); ok {
		t.Error("AddrPortOf(unix) ok")
	}
}

// TestSockaddrCodec encodes and decodes every address type through the
// kernel layout, and checks that the decoder refuses short input.
func TestSockaddrCodec(t *testing.T) {
	addrs := []socket.Sockaddr{
		&socket.Inet4Addr{Addr: [4]byte{192, 0, 2, 7}, Port: 6254},
		&socket.Inet6Addr{Addr: [16]byte{0: 0x20, 1: 0x01, 15: 9}, Port: 65535, FlowInfo: 0xabcde, ScopeID: 3},
		&socket.UnixAddr{Path: "/tmp/s.sock"},
		&socket.UnixAddr{Path: "@abstract\x00with-nul"},
		&socket.UnixAddr{},
		&socket.VsockAddr{CID: 3, Port: 1234},
		&socket.NetlinkAddr{PortID: 77, Groups: 5},
		&socket.PacketAddr{Protocol: 0x0800, Ifindex: 2, Hatype: 1, Addr: []byte{1, 2, 3, 4, 5, 6}},
		&socket.UnknownAddr{AF: 99, Data: []byte{1, 2, 3}},
	}
	for _, sa := range addrs {
		raw, err := socket.EncodeRaw(sa)
		if err != nil {
			t.Errorf("encode %v: %v", sa, err)
			continue
		}
		got, err := socket.DecodeRaw(raw)
		if err != nil || got.String() != sa.String() || got.Family() != sa.Family() {
			t.Errorf("decode(encode(%v)) = %v, %v", sa, got, err)
		}
		// Every shorter prefix either decodes or fails cleanly.
		for i := 0; i < len(raw); i++ {
			socket.DecodeRaw(raw[:i])
		}
	}
	if _, err := socket.DecodeRaw([]byte{2, 0, 1}); err == nil {
		t.Error("3-byte AF_INET address decoded")
	}
}

func TestConstNames(t *testing.T) {
	cases := []struct {
		got, want string
	}{
		{socket.AF_INET.String(), "AF_INET"},
		{socket.AF_INET6.String(), "AF_INET6"},
		{socket.AF_UNIX.String(), "AF_UNIX"},
		{socket.AF_PACKET.String(), "AF_PACKET"},
		{socket.AF_NETLINK.String(), "AF_NETLINK"},
		{socket.AF_VSOCK.String(), "AF_VSOCK"},
		{socket.Family(1234).String(), "Family(1234)"},
		{socket.SOCK_STREAM.String(), "SOCK_STREAM"},
		{socket.SOCK_DGRAM.String(), "SOCK_DGRAM"},
		{socket.SOCK_RAW.String(), "SOCK_RAW"},
		{socket.SOCK_RDM.String(), "SOCK_RDM"},
		{socket.SOCK_SEQPACKET.String(), "SOCK_SEQPACKET"},
		{(socket.SOCK_STREAM | socket.SOCK_CLOEXEC).String(), "SOCK_STREAM|SOCK_CLOEXEC"},
		{socket.IPPROTO_TCP.String(), "IPPROTO_TCP"},
		{socket.Protocol(0).String(), "0"},
		{socket.MsgFlag(0).String(), "0"},
		{(socket.MSG_PEEK | socket.MSG_DONTWAIT).String(), "MSG_PEEK|MSG_DONTWAIT"},
		{socket.MsgFlag(0x1000000 | 2).String(), "MSG_PEEK|0x1000000"},
		{socket.SHUT_WR.String(), "SHUT_WR"},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	if socket.IPPORT_RESERVED != 1024 {
		t.Error("IPPORT_RESERVED != 1024")
	}
}
