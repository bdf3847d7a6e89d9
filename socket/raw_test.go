//go:build linux

package socket_test

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// icmpEcho builds an ICMP echo request by hand.
func icmpEcho(id, seq uint16, payload []byte) []byte {
	b := make([]byte, 8+len(payload))
	b[0] = 8 // echo request
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	copy(b[8:], payload)
	binary.BigEndian.PutUint16(b[2:], checksum(b))
	return b
}

// waitEchoReply reads IPv4 packets from a raw ICMP socket until the echo
// reply with id and seq arrives.
func waitEchoReply(t *testing.T, s *socket.Socket, id, seq uint16, payload string) {
	t.Helper()
	s.SetTimeout(3 * time.Second)
	buf := make([]byte, 1500)
	for {
		n, from, err := s.Recvfrom(buf, 0)
		if err != nil {
			t.Fatalf("no echo reply: %v", err)
		}
		pkt := buf[:n]
		ihl := int(pkt[0]&0x0f) * 4 // raw IPv4 sockets deliver the IP header
		if len(pkt) < ihl+8 {
			continue
		}
		icmp := pkt[ihl:]
		if icmp[0] == 0 && binary.BigEndian.Uint16(icmp[4:]) == id && binary.BigEndian.Uint16(icmp[6:]) == seq {
			if string(icmp[8:]) != payload {
				t.Fatalf("reply payload %q", icmp[8:])
			}
			if from.String() != "127.0.0.1:0" {
				t.Fatalf("reply from %v", from)
			}
			return
		}
	}
}

func TestRawICMPEcho(t *testing.T) {
	sockettest.RequireRoot(t)
	sockettest.LeakCheck(t)
	s, err := socket.New(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lo := &socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}}
	id := uint16(os.Getpid())
	if _, err := s.Sendto(icmpEcho(id, 1, []byte("socketkit")), 0, lo); err != nil {
		t.Fatal(err)
	}
	waitEchoReply(t, s, id, 1, "socketkit")
}

// TestRawHdrIncl builds the IPv4 header too (IP_HDRINCL).
func TestRawHdrIncl(t *testing.T) {
	sockettest.RequireRoot(t)
	sockettest.LeakCheck(t)
	s, err := socket.New(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetHdrIncl(true); err != nil {
		t.Fatal(err)
	}
	id := uint16(os.Getpid()) ^ 0x5a5a
	icmp := icmpEcho(id, 7, []byte("hdrincl"))
	ip := make([]byte, 20)
	ip[0] = 0x45                                             // version 4, IHL 5
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(icmp))) // total length
	ip[8] = 64                                               // TTL
	ip[9] = byte(socket.IPPROTO_ICMP)
	copy(ip[12:16], []byte{127, 0, 0, 1})
	copy(ip[16:20], []byte{127, 0, 0, 1})
	binary.BigEndian.PutUint16(ip[10:], checksum(ip))
	if _, err := s.Sendto(append(ip, icmp...), 0, &socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	waitEchoReply(t, s, id, 7, "hdrincl")
}

func TestRawNeedsPrivilege(t *testing.T) {
	if !sockettest.RunUnprivileged(t) {
		return
	}
	_, err := socket.New(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
	wantErrno(t, err, syscall.EPERM)
	if !strings.Contains(err.Error(), "CAP_NET_RAW") {
		t.Fatalf("error %q does not say what is missing", err)
	}
	_, err = socket.New(socket.AF_PACKET, socket.SOCK_RAW, 0)
	wantErrno(t, err, syscall.EPERM)
}

func TestRDM(t *testing.T) {
	_, err := socket.New(socket.AF_INET, socket.SOCK_RDM, 0)
	wantErrno(t, err, syscall.ESOCKTNOSUPPORT)
	if !strings.Contains(err.Error(), "TIPC") || !strings.Contains(err.Error(), "RDS") {
		t.Fatalf("error %q does not name what is missing", err)
	}
	_, err = socket.New(socket.AF_TIPC, socket.SOCK_RDM, 0)
	if err == nil {
		t.Skip("this kernel has TIPC")
	}
	wantErrno(t, err, syscall.EAFNOSUPPORT)
	if !strings.Contains(err.Error(), "TIPC") {
		t.Fatalf("error %q does not name TIPC", err)
	}
	_, err = socket.New(socket.AF_RDS, socket.SOCK_SEQPACKET, 0)
	wantErrno(t, err, syscall.EAFNOSUPPORT)
}

// TestFamilyTypeMatrix creates every family × type of the tutorial and
// checks each result against what Linux provides.
func TestFamilyTypeMatrix(t *testing.T) {
	sockettest.LeakCheck(t)
	root := sockettest.IsRoot()
	type want struct {
		ok    bool
		errno syscall.Errno
	}
	cases := []struct {
		f socket.Family
		t socket.Type
		p socket.Protocol
		w want
	}{
		{socket.AF_INET, socket.SOCK_STREAM, 0, want{ok: true}},
		{socket.AF_INET, socket.SOCK_DGRAM, 0, want{ok: true}},
		{socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP, want{ok: root, errno: syscall.EPERM}},
		{socket.AF_INET, socket.SOCK_RAW, 0, want{errno: syscall.EPROTONOSUPPORT}},
		{socket.AF_INET, socket.SOCK_RDM, 0, want{errno: syscall.ESOCKTNOSUPPORT}},
		{socket.AF_INET, socket.SOCK_SEQPACKET, 0, want{errno: syscall.ESOCKTNOSUPPORT}},
		{socket.AF_INET6, socket.SOCK_STREAM, 0, want{ok: true}},
		{socket.AF_INET6, socket.SOCK_DGRAM, 0, want{ok: true}},
		{socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6, want{ok: root, errno: syscall.EPERM}},
		{socket.AF_INET6, socket.SOCK_RDM, 0, want{errno: syscall.ESOCKTNOSUPPORT}},
		{socket.AF_UNIX, socket.SOCK_STREAM, 0, want{ok: true}},
		{socket.AF_UNIX, socket.SOCK_DGRAM, 0, want{ok: true}},
		{socket.AF_UNIX, socket.SOCK_SEQPACKET, 0, want{ok: true}},
		{socket.AF_UNIX, socket.SOCK_RDM, 0, want{errno: syscall.ESOCKTNOSUPPORT}},
		{socket.AF_NETLINK, socket.SOCK_DGRAM, 0, want{ok: true}},
		{socket.AF_PACKET, socket.SOCK_DGRAM, 0, want{ok: root, errno: syscall.EPERM}},
		{socket.Family(4321), socket.SOCK_STREAM, 0, want{errno: syscall.EAFNOSUPPORT}},
	}
	for _, tc := range cases {
		name := tc.f.String() + "/" + tc.t.String()
		s, err := socket.New(tc.f, tc.t, tc.p)
		switch {
		case tc.w.ok && err != nil:
			t.Errorf("%s: %v", name, err)
		case tc.w.ok:
			if s.Family() != tc.f || s.Type() != tc.t {
				t.Errorf("%s: got %v %v", name, s.Family(), s.Type())
			}
			got, err := s.GetsockoptInt(socket.SOL_SOCKET, socket.SO_TYPE)
			if err != nil || socket.Type(got) != tc.t {
				t.Errorf("%s: SO_TYPE = %d, %v", name, got, err)
			}
			s.Close()
		case err == nil:
			s.Close()
			t.Errorf("%s: created; want %v", name, tc.w.errno)
		case !errors.Is(err, tc.w.errno):
			t.Errorf("%s: %v; want %v", name, err, tc.w.errno)
		}
	}
}
