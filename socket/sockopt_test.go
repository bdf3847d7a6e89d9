//go:build linux

package socket_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"syscall"
	"testing"

	"errors"
	"time"

	"github.com/socketkit/socketkit/socket"
)

// TestGetsockoptBytes: GetsockoptBytes returns the option's bytes exactly as
// the kernel wrote them, zero bytes included, cut to the length asked, as
// Python's getsockopt(level, opt, buflen) does. Struct-valued options
// (SO_LINGER, SO_PEERCRED, struct timeval) are full of zero bytes.
func TestGetsockoptBytes(t *testing.T) {
	s := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	// struct linger {int l_onoff; int l_linger;} = {1, 0}.
	if err := s.SetsockoptBytes(socket.SOL_SOCKET, socket.SO_LINGER, []byte{1, 0, 0, 0, 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	a, _ := socketpair(t, socket.SOCK_STREAM)
	pid := make([]byte, 4)
	binary.NativeEndian.PutUint32(pid, uint32(os.Getpid()))
	uid := make([]byte, 4)
	binary.NativeEndian.PutUint32(uid, uint32(os.Getuid()))
	cases := []struct {
		name   string
		s      *socket.Socket
		level  int
		opt    int
		buflen int
		want   []byte // exact, or nil to check only the length and prefix
		prefix []byte
		length int
	}{
		{name: "SO_LINGER 8", s: s, level: socket.SOL_SOCKET, opt: socket.SO_LINGER, buflen: 8, want: []byte{1, 0, 0, 0, 0, 0, 0, 0}},
		{name: "SO_LINGER 4", s: s, level: socket.SOL_SOCKET, opt: socket.SO_LINGER, buflen: 4, want: []byte{1, 0, 0, 0}},
		{name: "SO_LINGER 100", s: s, level: socket.SOL_SOCKET, opt: socket.SO_LINGER, buflen: 100, want: []byte{1, 0, 0, 0, 0, 0, 0, 0}},
		{name: "SO_TYPE 4", s: s, level: socket.SOL_SOCKET, opt: socket.SO_TYPE, buflen: 4, want: []byte{1, 0, 0, 0}},
		{name: "SO_TYPE 1024", s: s, level: socket.SOL_SOCKET, opt: socket.SO_TYPE, buflen: 1024, want: []byte{1, 0, 0, 0}},
		{name: "SO_RCVTIMEO 16", s: s, level: socket.SOL_SOCKET, opt: socket.SO_RCVTIMEO, buflen: 16, want: make([]byte, 16)},
		{name: "SO_PEERCRED 12", s: a, level: socket.SOL_SOCKET, opt: socket.SO_PEERCRED, buflen: 12, prefix: append(pid, uid...), length: 12},
		{name: "SO_PEERCRED 1", s: a, level: socket.SOL_SOCKET, opt: socket.SO_PEERCRED, buflen: 1, prefix: pid[:1], length: 1},
		{name: "TCP_CONGESTION 16", s: s, level: socket.SOL_TCP, opt: socket.TCP_CONGESTION, buflen: 16, length: 16},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.s.GetsockoptBytes(tc.level, tc.opt, tc.buflen)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != nil && !bytes.Equal(got, tc.want) {
				t.Fatalf("GetsockoptBytes(%d) = %v, want %v", tc.buflen, got, tc.want)
			}
			if tc.length != 0 && (len(got) != tc.length || !bytes.HasPrefix(got, tc.prefix)) {
				t.Fatalf("GetsockoptBytes(%d) = %v, want %d bytes starting %v", tc.buflen, got, tc.length, tc.prefix)
			}
		})
	}
	// TCP_CONGESTION is a NUL-padded name: the bytes up to the first NUL
	// name the algorithm, the same one the kernel reports for a 4-byte read
	// cut short.
	full, _ := s.GetsockoptBytes(socket.SOL_TCP, socket.TCP_CONGESTION, 16)
	name, _, _ := bytes.Cut(full, []byte{0})
	if len(name) == 0 {
		t.Fatalf("TCP_CONGESTION = %q", full)
	}
	for _, bad := range []int{-1, 1<<20 + 1} {
		if _, err := s.GetsockoptBytes(socket.SOL_SOCKET, socket.SO_TYPE, bad); err == nil {
			t.Errorf("GetsockoptBytes(buflen %d) succeeded", bad)
		} else {
			wantErrno(t, err, syscall.EINVAL)
		}
	}
}

func socketpair(t testing.TB, typ socket.Type) (a, b *socket.Socket) {
	t.Helper()
	a, b, err := socket.Socketpair(socket.AF_UNIX, typ, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestPeerCred(t *testing.T) {
	a, b, err := socket.Socketpair(socket.AF_UNIX, socket.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	cred, err := b.PeerCred()
	if err != nil {
		t.Fatal(err)
	}
	if int(cred.Pid) != os.Getpid() || int(cred.Uid) != os.Getuid() || int(cred.Gid) != os.Getgid() {
		t.Fatalf("PeerCred = %+v; want pid %d uid %d gid %d", cred, os.Getpid(), os.Getuid(), os.Getgid())
	}
	// SCM_CREDENTIALS round trip with SO_PASSCRED.
	if err := b.SetPassCred(true); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Sendmsg([][]byte{[]byte("c")}, socket.UnixCredentials(cred), 0, nil); err != nil {
		t.Fatal(err)
	}
	oob := make([]byte, socket.CmsgSpace(12))
	_, oobn, _, _, err := b.Recvmsg(make([]byte, 1), oob, 0)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := socket.ParseControlMessages(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages %v, %v", msgs, err)
	}
	got, err := msgs[0].Credentials()
	if err != nil || got != cred {
		t.Fatalf("SCM_CREDENTIALS = %+v, %v; want %+v", got, err, cred)
	}
}

func TestSockopts(t *testing.T) {
	for _, f := range []socket.Family{socket.AF_INET, socket.AF_INET6} {
		t.Run(f.String(), func(t *testing.T) {
			if f == socket.AF_INET6 && !socket.HasIPv6() {
				t.Skip("no IPv6")
			}
			s := newSock(t, f, socket.SOCK_STREAM)
			bools := []struct {
				name string
				set  func(bool) error
				get  func() (bool, error)
			}{
				{"ReuseAddr", s.SetReuseAddr, s.ReuseAddr},
				{"ReusePort", s.SetReusePort, s.ReusePort},
				{"KeepAlive", s.SetKeepAlive, s.KeepAlive},
				{"NoDelay", s.SetNoDelay, s.NoDelay},
				{"Broadcast", s.SetBroadcast, s.Broadcast},
			}
			if f == socket.AF_INET6 {
				bools = append(bools, struct {
					name string
					set  func(bool) error
					get  func() (bool, error)
				}{"V6Only", s.SetV6Only, s.V6Only})
			}
			for _, b := range bools {
				for _, v := range []bool{true, false} {
					if err := b.set(v); err != nil {
						t.Fatalf("Set%s(%v): %v", b.name, v, err)
					}
					if got, err := b.get(); err != nil || got != v {
						t.Fatalf("%s = %v, %v after setting %v", b.name, got, err, v)
					}
				}
			}
			if err := s.SetTTL(42); err != nil {
				t.Fatal(err)
			}
			if ttl, err := s.TTL(); err != nil || ttl != 42 {
				t.Fatalf("TTL = %d, %v", ttl, err)
			}
			if err := s.SetTOS(0x10); err != nil {
				t.Fatal(err)
			}
			if tos, err := s.TOS(); err != nil || tos != 0x10 {
				t.Fatalf("TOS = %#x, %v", tos, err)
			}
			s.SetReadBuffer(65536)
			if v, err := s.ReadBuffer(); err != nil || v < 65536 {
				t.Fatalf("ReadBuffer = %d, %v (Linux doubles the value set)", v, err)
			}
			s.SetWriteBuffer(65536)
			if v, err := s.WriteBuffer(); err != nil || v < 65536 {
				t.Fatalf("WriteBuffer = %d, %v", v, err)
			}
			if err := s.SetUserTimeout(2500 * time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if d, err := s.UserTimeout(); err != nil || d != 2500*time.Millisecond {
				t.Fatalf("UserTimeout = %v, %v", d, err)
			}
			if err := s.SetLinger(true, 3*time.Second); err != nil {
				t.Fatal(err)
			}
			if on, d, err := s.Linger(); err != nil || !on || d != 3*time.Second {
				t.Fatalf("Linger = %v %v, %v", on, d, err)
			}
			if err := s.SetKeepAlivePeriod(1500 * time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if v, _ := s.GetsockoptInt(socket.SOL_TCP, socket.TCP_KEEPIDLE); v != 2 {
				t.Fatalf("TCP_KEEPIDLE = %d, want 2 (rounded up)", v)
			}
			if err := s.SocketError(); err != nil {
				t.Fatalf("SO_ERROR = %v", err)
			}
			cc, err := s.GetsockoptBytes(socket.SOL_TCP, socket.TCP_CONGESTION, 16)
			if err != nil || len(cc) == 0 {
				t.Fatalf("TCP_CONGESTION = %q, %v", cc, err)
			}
			if err := s.SetsockoptInt(socket.SOL_SOCKET, 9999, 1); !errors.Is(err, syscall.ENOPROTOOPT) {
				t.Fatalf("unknown option: %v; want ENOPROTOOPT", err)
			}
		})
	}
}

func TestTCPInfo(t *testing.T) {
	c, _ := connPair(t, streamNets[0])
	ti, err := c.TCPInfo()
	if err != nil {
		t.Fatal(err)
	}
	if ti.State != 1 { // TCP_ESTABLISHED
		t.Fatalf("state = %d", ti.State)
	}
}
