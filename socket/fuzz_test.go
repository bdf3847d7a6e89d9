//go:build linux

package socket_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/socketkit/socketkit/socket"
)

// FuzzParseAddr: no input panics, errors are *AddrError or resolver
// failures, and whatever parses prints back to text that parses to the same
// address. Names are not resolved here (only literals reach the network
// code), so the fuzzer never does DNS.
func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"127.0.0.1:6254", "[::1]:0", "[fe80::1%eth0]:80", ":8080", "./echo.sock",
		"@name", "/tmp/x.sock", "1.2.3.4:http", "[::ffff:1.2.3.4]:1", "2:1024", "<broadcast>:9", "[::1]", "a:b:c"} {
		for _, fam := range []int{0, 1, 2, 10, 40, 17} {
			f.Add(fam, s)
		}
	}
	f.Fuzz(func(t *testing.T, fam int, s string) {
		if looksLikeName(s) || strings.Contains(s, "%") {
			return // would resolve a name or an interface: keep the fuzzer off the network
		}
		sa, err := socket.ParseAddr(socket.Family(fam), s)
		if err != nil {
			var ae *socket.AddrError
			if !errors.As(err, &ae) {
				t.Fatalf("ParseAddr(%d, %q) error %T %v is not an *AddrError", fam, s, err, err)
			}
			return
		}
		again, err := socket.ParseAddr(sa.Family(), sa.String())
		if err != nil || again.String() != sa.String() {
			t.Fatalf("ParseAddr(%d, %q) = %q, which reads back as %v, %v", fam, s, sa, again, err)
		}
		raw, err := socket.EncodeRaw(sa)
		if err != nil {
			return
		}
		dec, err := socket.DecodeRaw(raw)
		if err != nil || dec.String() != sa.String() {
			t.Fatalf("codec round trip of %q: %v, %v", sa, dec, err)
		}
	})
}

// looksLikeName reports whether the host part of s would need a DNS lookup.
func looksLikeName(s string) bool {
	i := bytes.LastIndexByte([]byte(s), ':')
	if i < 0 {
		return false
	}
	host := s[:i]
	if host == "" || host == "<broadcast>" || host[0] == '[' {
		return false
	}
	for _, c := range host {
		if (c < '0' || c > '9') && c != '.' {
			return true
		}
	}
	return false
}

// FuzzSockaddrDecode: any bytes the kernel could hand back decode without
// panicking, and what decodes encodes back to the same text.
func FuzzSockaddrDecode(f *testing.F) {
	seeds := []socket.Sockaddr{
		&socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}, Port: 6254},
		&socket.Inet6Addr{Addr: [16]byte{15: 1}, Port: 80, ScopeID: 1},
		&socket.UnixAddr{Path: "/tmp/s"}, &socket.UnixAddr{Path: "@abs"}, &socket.UnixAddr{},
		&socket.VsockAddr{CID: 2, Port: 9}, &socket.NetlinkAddr{PortID: 1},
		&socket.PacketAddr{Protocol: 0x800, Ifindex: 1, Addr: []byte{1, 2, 3, 4, 5, 6}},
	}
	for _, sa := range seeds {
		raw, _ := socket.EncodeRaw(sa)
		f.Add(raw)
	}
	f.Add([]byte{})
	f.Add([]byte{2})
	f.Add([]byte{17, 0, 0, 8, 1, 0, 0, 0, 0, 0, 0, 255})
	f.Fuzz(func(t *testing.T, b []byte) {
		sa, err := socket.DecodeRaw(b)
		if err != nil || sa == nil {
			return
		}
		_ = sa.String()
		raw, err := socket.EncodeRaw(sa)
		if err != nil {
			return
		}
		again, err := socket.DecodeRaw(raw)
		if err != nil || again.String() != sa.String() {
			t.Fatalf("decode %x = %v; re-encoded %x decodes to %v, %v", b, sa, raw, again, err)
		}
	})
}

// FuzzCmsgParse: malformed ancillary data never panics or reads past the
// buffer, and well-formed messages survive a round trip.
func FuzzCmsgParse(f *testing.F) {
	f.Add(socket.UnixRights(0, 1, 2))
	f.Add(socket.UnixCredentials(socket.Ucred{Pid: 1, Uid: 2, Gid: 3}))
	f.Add(append(socket.UnixRights(5), socket.UnixCredentials(socket.Ucred{})...))
	f.Add(socket.UnixRights()[:10])
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, err := socket.ParseControlMessages(b)
		if err != nil && !errors.Is(err, socket.ErrBadControlMessage) {
			t.Fatalf("error %v does not match ErrBadControlMessage", err)
		}
		var rebuilt []byte
		for _, m := range msgs {
			m.Rights()
			m.Credentials()
			rebuilt = socket.AppendControlMessage(rebuilt, m.Level, m.Type, m.Data)
		}
		again, err := socket.ParseControlMessages(rebuilt)
		if err != nil || len(again) != len(msgs) {
			t.Fatalf("re-parsing %d rebuilt messages: %d, %v", len(msgs), len(again), err)
		}
		for i := range msgs {
			if !bytes.Equal(again[i].Data, msgs[i].Data) || again[i].Type != msgs[i].Type || again[i].Level != msgs[i].Level {
				t.Fatalf("message %d changed in the round trip", i)
			}
		}
	})
}
