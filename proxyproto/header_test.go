package proxyproto_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/socketkit/socketkit/proxyproto"
)

// What HAProxy 2.6.12 sent a backend configured with send-proxy-v2 and
// unique-id (../shared/design/reliability.md, recipe (c)).
var (
	haproxyLocal = unhex("0d0a0d0a000d0a515549540a" + "20" + "00" + "0000")
	haproxyTCP4  = unhex("0d0a0d0a000d0a515549540a" + "21" + "11" + "0025" +
		"7f000001" + "7f000001" + "b64c" + "238c" +
		"05" + "0016" + hex.EncodeToString([]byte("7F000001:B64C_6B080CEE")))
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func tcp(s string) *net.TCPAddr {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		panic(err)
	}
	return a
}

// sameHeader compares headers by what they say: addresses by type and
// text (a 4-byte and a 16-byte net.IP are the same IPv4 address), TLV
// values by content.
func sameHeader(a, b *proxyproto.Header) bool {
	addr := func(x net.Addr) string {
		if x == nil {
			return "<nil>"
		}
		return fmt.Sprintf("%T %s %s", x, x.Network(), x)
	}
	if a.Version != b.Version || a.Command != b.Command || a.Transport != b.Transport ||
		addr(a.Source) != addr(b.Source) || addr(a.Destination) != addr(b.Destination) ||
		len(a.TLVs) != len(b.TLVs) {
		return false
	}
	for i := range a.TLVs {
		if a.TLVs[i].Type != b.TLVs[i].Type || !bytes.Equal(a.TLVs[i].Value, b.TLVs[i].Value) {
			return false
		}
	}
	return true
}

func TestParseValid(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want proxyproto.Header
	}{
		{"v1 TCP4", []byte("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"),
			proxyproto.Header{Version: 1, Command: proxyproto.Proxy, Transport: proxyproto.TCP4,
				Source: tcp("192.0.2.1:56324"), Destination: tcp("198.51.100.2:443")}},
		{"v1 TCP6", []byte("PROXY TCP6 2001:db8::1 ::1 0 65535\r\n"),
			proxyproto.Header{Version: 1, Command: proxyproto.Proxy, Transport: proxyproto.TCP6,
				Source: tcp("[2001:db8::1]:0"), Destination: tcp("[::1]:65535")}},
		{"v1 UNKNOWN", []byte("PROXY UNKNOWN\r\n"),
			proxyproto.Header{Version: 1, Command: proxyproto.Proxy, Transport: proxyproto.Unspec}},
		{"v1 UNKNOWN with addresses", []byte("PROXY UNKNOWN ffff:f...f ffff:f...f 65535 65535\r\n"),
			proxyproto.Header{Version: 1, Command: proxyproto.Proxy, Transport: proxyproto.Unspec}},
		{"v2 LOCAL (HAProxy health check)", haproxyLocal,
			proxyproto.Header{Version: 2, Command: proxyproto.Local, Transport: proxyproto.Unspec}},
		{"v2 TCP4 (HAProxy, unique-id)", haproxyTCP4,
			proxyproto.Header{Version: 2, Command: proxyproto.Proxy, Transport: proxyproto.TCP4,
				Source: tcp("127.0.0.1:46668"), Destination: tcp("127.0.0.1:9100"),
				TLVs: []proxyproto.TLV{{Type: proxyproto.TypeUniqueID, Value: []byte("7F000001:B64C_6B080CEE")}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append(bytes.Clone(tc.in), "payload"...)
			h, n, err := proxyproto.Parse(in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if n != len(tc.in) {
				t.Errorf("length %d, want %d", n, len(tc.in))
			}
			if !sameHeader(h, &tc.want) {
				t.Errorf("got  %+v\nwant %+v", *h, tc.want)
			}
			// Every proper prefix asks for more, and nothing else.
			for i := range len(tc.in) {
				if _, _, err := proxyproto.Parse(tc.in[:i]); !errors.Is(err, proxyproto.ErrIncomplete) {
					t.Fatalf("Parse of the first %d bytes: %v, want ErrIncomplete", i, err)
				}
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	v2 := func(verCmd, fam byte, body string) []byte {
		b := append(proxyproto.Signature[:], verCmd, fam, 0, byte(len(body)/2))
		return append(b, unhex(body)...)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"HTTP request", []byte("GET / HTTP/1.1\r\n\r\n"), proxyproto.ErrNoHeader},
		{"PROXY lowercase", []byte("proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n"), proxyproto.ErrNoHeader},
		{"almost a signature", append(proxyproto.Signature[:11:11], 'X', 0x21, 0x11, 0, 0), proxyproto.ErrNoHeader},
		{"v1 no CRLF in 107 bytes", []byte("PROXY UNKNOWN " + strings.Repeat("x", 100)), proxyproto.ErrInvalid},
		{"v1 CRLF at 108", []byte("PROXY UNKNOWN " + strings.Repeat("x", 92) + "\r\n"), proxyproto.ErrInvalid},
		{"v1 bare LF", []byte("PROXY UNKNOWN\n"), proxyproto.ErrInvalid},
		{"v1 CR without LF", []byte("PROXY UNKNOWN\rX\n"), proxyproto.ErrInvalid},
		{"v1 NUL", []byte("PROXY TCP4 1.2.3.4\x00"), proxyproto.ErrInvalid},
		{"v1 UDP4", []byte("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"), proxyproto.ErrInvalid},
		{"v1 four fields", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), proxyproto.ErrInvalid},
		{"v1 two spaces", []byte("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n"), proxyproto.ErrInvalid},
		{"v1 IPv6 in TCP4", []byte("PROXY TCP4 ::1 ::1 1 2\r\n"), proxyproto.ErrInvalid},
		{"v1 IPv4 in TCP6", []byte("PROXY TCP6 1.2.3.4 1.2.3.4 1 2\r\n"), proxyproto.ErrInvalid},
		{"v1 zone", []byte("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n"), proxyproto.ErrInvalid},
		{"v1 port 65536", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"), proxyproto.ErrInvalid},
		{"v1 port leading zero", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n"), proxyproto.ErrInvalid},
		{"v1 port sign", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 +80 2\r\n"), proxyproto.ErrInvalid},
		{"v1 empty port", []byte("PROXY TCP4 1.2.3.4 5.6.7.8  2\r\n"), proxyproto.ErrInvalid},
		{"v2 version 1", v2(0x11, 0x11, ""), proxyproto.ErrInvalid},
		{"v2 version 3", v2(0x31, 0x00, ""), proxyproto.ErrInvalid},
		{"v2 command 2", v2(0x22, 0x00, ""), proxyproto.ErrInvalid},
		{"v2 family 4", v2(0x21, 0x41, ""), proxyproto.ErrInvalid},
		{"v2 protocol 3", v2(0x21, 0x13, ""), proxyproto.ErrInvalid},
		{"v2 short IPv4 block", v2(0x21, 0x11, "7f0000017f000001b64c"), proxyproto.ErrInvalid},
		{"v2 stray byte", v2(0x20, 0x00, "05"), proxyproto.ErrInvalid},
		{"v2 TLV overrun", v2(0x20, 0x00, "050005616263"), proxyproto.ErrInvalid},
		{"v2 CRC32C wrong", v2(0x20, 0x00, "03000400000000"), proxyproto.ErrInvalid},
		{"v2 CRC32C of 3 bytes", v2(0x20, 0x00, "030003000000"), proxyproto.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, n, err := proxyproto.Parse(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse(%q) = %+v, %d, %v; want %v", tc.in, h, n, err, tc.want)
			}
			if h != nil || n != 0 {
				t.Errorf("a failed Parse returned %+v, %d", h, n)
			}
		})
	}
}

func TestFormatRoundTrip(t *testing.T) {
	for _, h := range []proxyproto.Header{
		{Version: 1, Command: proxyproto.Proxy, Transport: proxyproto.TCP4, Source: tcp("10.0.0.1:1"), Destination: tcp("10.0.0.2:65535")},
		{Version: 1, Command: proxyproto.Proxy, Transport: proxyproto.TCP6, Source: tcp("[2001:db8::1]:80"), Destination: tcp("[::ffff:1.2.3.4]:443")},
		{Version: 1, Command: proxyproto.Proxy, Transport: proxyproto.Unspec},
		{Version: 2, Command: proxyproto.Local, Transport: proxyproto.Unspec},
		{Version: 2, Command: proxyproto.Local, Transport: proxyproto.TCP4},
		{Version: 2, Command: proxyproto.Proxy, Transport: proxyproto.TCP4, Source: tcp("127.0.0.1:46668"), Destination: tcp("127.0.0.1:9100"),
			TLVs: []proxyproto.TLV{{Type: proxyproto.TypeUniqueID, Value: []byte("id")}, {Type: proxyproto.TypeALPN, Value: []byte("h2")}}},
		{Version: 2, Command: proxyproto.Proxy, Transport: proxyproto.UDP6,
			Source: &net.UDPAddr{IP: net.ParseIP("2001:db8::7"), Port: 53}, Destination: &net.UDPAddr{IP: net.ParseIP("::1"), Port: 5353}},
		{Version: 2, Command: proxyproto.Proxy, Transport: proxyproto.UnixStream,
			Source: &net.UnixAddr{Name: "@client", Net: "unix"}, Destination: &net.UnixAddr{Name: "/run/app.sock", Net: "unix"}},
		{Version: 2, Command: proxyproto.Proxy, Transport: proxyproto.UnixDatagram,
			Source: &net.UnixAddr{Name: strings.Repeat("p", 108), Net: "unixgram"}, Destination: &net.UnixAddr{Name: "", Net: "unixgram"}},
		{Version: 2, Command: proxyproto.Proxy, Transport: proxyproto.Unspec,
			TLVs: []proxyproto.TLV{{Type: proxyproto.TypeNoop, Value: []byte{}}, {Type: proxyproto.TypeCRC32C, Value: make([]byte, 4)}}},
	} {
		t.Run(h.String(), func(t *testing.T) {
			b, err := h.Format()
			if err != nil {
				t.Fatal(err)
			}
			got, n, err := proxyproto.Parse(b)
			if err != nil || n != len(b) {
				t.Fatalf("Parse(Format()) = %d of %d bytes, %v", n, len(b), err)
			}
			want := h
			if sum, ok := got.TLV(proxyproto.TypeCRC32C); ok {
				// Format filled the checksum in; Parse checked it.
				want.TLVs = append([]proxyproto.TLV(nil), h.TLVs...)
				want.TLVs[len(want.TLVs)-1].Value = sum
			}
			if !sameHeader(got, &want) {
				t.Errorf("got  %+v\nwant %+v", *got, want)
			}
			if sum, ok := got.TLV(proxyproto.TypeCRC32C); ok {
				b[len(b)-6] ^= 1 // a byte the checksum covers
				if _, _, err := proxyproto.Parse(b); !errors.Is(err, proxyproto.ErrInvalid) {
					t.Errorf("a corrupted header with CRC32C %x parsed: %v", sum, err)
				}
			}
		})
	}
}

func TestFormatRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    proxyproto.Header
	}{
		{"version 3", proxyproto.Header{Version: 3}},
		{"v1 LOCAL", proxyproto.Header{Version: 1, Command: proxyproto.Local}},
		{"v1 UDP4", proxyproto.Header{Version: 1, Command: proxyproto.Proxy, Transport: proxyproto.UDP4}},
		{"v1 TLV", proxyproto.Header{Version: 1, Command: proxyproto.Proxy, TLVs: []proxyproto.TLV{{Type: 1}}}},
		{"v1 no addresses", proxyproto.Header{Version: 1, Command: proxyproto.Proxy, Transport: proxyproto.TCP4}},
		{"v1 IPv6 in TCP4", proxyproto.Header{Version: 1, Command: proxyproto.Proxy, Transport: proxyproto.TCP4,
			Source: tcp("[::1]:1"), Destination: tcp("[::1]:2")}},
		{"v2 unknown transport", proxyproto.Header{Version: 2, Command: proxyproto.Proxy, Transport: 0x44}},
		{"v2 command 7", proxyproto.Header{Version: 2, Command: 7}},
		{"v2 Unix name of 109 bytes", proxyproto.Header{Version: 2, Command: proxyproto.Proxy, Transport: proxyproto.UnixStream,
			Source: &net.UnixAddr{Name: strings.Repeat("p", 109)}, Destination: &net.UnixAddr{}}},
		{"v2 TCP address in UNIX", proxyproto.Header{Version: 2, Command: proxyproto.Proxy, Transport: proxyproto.UnixStream,
			Source: tcp("1.2.3.4:5"), Destination: tcp("1.2.3.4:5")}},
		// A port out of range used to be cut to 16 bits (70000 written
		// as 4464, -1 as 65535) and sent.
		{"v1 source port 70000", proxyproto.Header{Version: 1, Command: proxyproto.Proxy, Transport: proxyproto.TCP4,
			Source: &net.TCPAddr{IP: net.IPv4(1, 2, 3, 4), Port: 70000}, Destination: tcp("1.2.3.4:5")}},
		{"v1 destination port -1", proxyproto.Header{Version: 1, Command: proxyproto.Proxy, Transport: proxyproto.TCP6,
			Source: tcp("[::1]:1"), Destination: &net.TCPAddr{IP: net.IPv6loopback, Port: -1}}},
		{"v2 source port 70000", proxyproto.Header{Version: 2, Command: proxyproto.Proxy, Transport: proxyproto.UDP4,
			Source: &net.UDPAddr{IP: net.IPv4(1, 2, 3, 4), Port: 70000}, Destination: &net.UDPAddr{IP: net.IPv4(1, 2, 3, 4), Port: 5}}},
		{"v2 destination port -1", proxyproto.Header{Version: 2, Command: proxyproto.Proxy, Transport: proxyproto.TCP4,
			Source: tcp("1.2.3.4:5"), Destination: &net.TCPAddr{IP: net.IPv4(1, 2, 3, 4), Port: -1}}},
		{"v2 TLV too long", proxyproto.Header{Version: 2, TLVs: []proxyproto.TLV{{Type: 0xe0, Value: make([]byte, 70000)}}}},
		{"v2 header too long", proxyproto.Header{Version: 2, TLVs: []proxyproto.TLV{{Type: 0xe0, Value: make([]byte, 40000)}, {Type: 0xe1, Value: make([]byte, 40000)}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if b, err := tc.h.Format(); err == nil {
				t.Fatalf("Format() = %q, want an error", b)
			}
		})
	}
}

func unixAddr(name string) *net.UnixAddr { return &net.UnixAddr{Name: name, Net: "unix"} }
