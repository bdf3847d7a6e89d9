//go:build linux

package rawaddr_test

import (
	"net"
	"net/netip"
	"strconv"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/socketkit/socketkit/internal/rawaddr"
	"github.com/socketkit/socketkit/internal/sockettest"
)

func TestMain(m *testing.M) { sockettest.VerifyTestMain(m) }

func TestRoundTrip(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	loZone := netip.MustParseAddr("fe80::1").WithZone(strconv.Itoa(lo.Index))
	for _, tc := range []struct {
		name   string
		in     string
		family int
		want   string // "" means it does not fit
		length uint32
	}{
		{"v4 on AF_INET", "127.0.0.1:6254", unix.AF_INET, "127.0.0.1:6254", unix.SizeofSockaddrInet4},
		{"v4 on AF_UNSPEC", "10.1.2.3:1", unix.AF_UNSPEC, "10.1.2.3:1", unix.SizeofSockaddrInet4},
		{"v4 mapped on AF_INET6", "127.0.0.1:80", unix.AF_INET6, "[::ffff:127.0.0.1]:80", unix.SizeofSockaddrInet6},
		{"mapped unmapped on AF_INET", "[::ffff:127.0.0.1]:80", unix.AF_INET, "127.0.0.1:80", unix.SizeofSockaddrInet4},
		{"v6", "[2001:db8::1]:65535", unix.AF_INET6, "[2001:db8::1]:65535", unix.SizeofSockaddrInet6},
		{"v6 on AF_UNSPEC", "[::1]:0", unix.AF_UNSPEC, "[::1]:0", unix.SizeofSockaddrInet6},
		{"v6 numeric zone", "[fe80::1%7]:443", unix.AF_INET6, "[fe80::1%7]:443", unix.SizeofSockaddrInet6},
		{"v6 named zone", "[fe80::1%lo]:443", unix.AF_INET6, netip.AddrPortFrom(loZone, 443).String(), unix.SizeofSockaddrInet6},
		{"v6 on AF_INET", "[::1]:80", unix.AF_INET, "", 0},
		{"v4 on AF_UNIX", "127.0.0.1:80", unix.AF_UNIX, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rsa rawaddr.Storage
			l := rawaddr.Encode(netip.MustParseAddrPort(tc.in), tc.family, &rsa)
			if l != tc.length {
				t.Fatalf("Encode length %d, want %d", l, tc.length)
			}
			if tc.want == "" {
				return
			}
			if got := rawaddr.Decode(&rsa).String(); got != tc.want {
				t.Fatalf("Decode(Encode(%s)) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
	var rsa rawaddr.Storage
	if l := rawaddr.Encode(netip.AddrPort{}, unix.AF_INET6, &rsa); l != 0 {
		t.Fatalf("Encode of the zero AddrPort: length %d, want 0", l)
	}
	rsa = rawaddr.Storage{Family: unix.AF_UNIX}
	if ap := rawaddr.Decode(&rsa); ap.IsValid() {
		t.Fatalf("Decode of AF_UNIX = %v, want the zero AddrPort", ap)
	}
}

// TestWireLayout checks the bytes the kernel reads: the port in network
// byte order at offset 2, the address after it, the scope id in host
// order. It holds on either byte order.
func TestWireLayout(t *testing.T) {
	var rsa rawaddr.Storage
	rawaddr.Encode(netip.MustParseAddrPort("[fe80::1%5]:258"), unix.AF_INET6, &rsa)
	b := (*[unix.SizeofSockaddrInet6]byte)(unsafe.Pointer(&rsa))
	if b[2] != 1 || b[3] != 2 {
		t.Fatalf("port bytes %d %d, want 1 2 (258 big-endian)", b[2], b[3])
	}
	if b[8] != 0xfe || b[9] != 0x80 || b[23] != 1 {
		t.Fatalf("address bytes % x", b[8:24])
	}
	if rsa.Scope_id != 5 {
		t.Fatalf("scope id %d, want 5", rsa.Scope_id)
	}
	rawaddr.Encode(netip.MustParseAddrPort("1.2.3.4:258"), unix.AF_INET, &rsa)
	if b[2] != 1 || b[3] != 2 || b[4] != 1 || b[7] != 4 {
		t.Fatalf("IPv4 bytes % x", b[:8])
	}
}

func TestNoAllocs(t *testing.T) {
	v4 := netip.MustParseAddrPort("127.0.0.1:9")
	v6 := netip.MustParseAddrPort("[fe80::1%3]:9")
	var rsa rawaddr.Storage
	for _, ap := range []netip.AddrPort{v4, v6} {
		rawaddr.Encode(ap, unix.AF_INET6, &rsa)
		rawaddr.Decode(&rsa) // intern the zone once
		if n := testing.AllocsPerRun(100, func() {
			rawaddr.Encode(ap, unix.AF_INET6, &rsa)
			rawaddr.Decode(&rsa)
		}); n != 0 {
			t.Errorf("%v: %v allocations per round trip, want 0", ap, n)
		}
	}
}
