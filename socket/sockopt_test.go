//go:build linux

package socket_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"syscall"
	"testing"

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
