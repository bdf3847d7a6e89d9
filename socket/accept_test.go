//go:build linux

package socket_test

import (
	"errors"
	"syscall"
	"testing"
)

// TestRemoteAddrAfterPeerReset: an accepted socket keeps the address
// accept4(2) returned, so RemoteAddr still names the peer after the peer
// has reset the connection, when getpeername(2) fails with ENOTCONN (as
// Go's net.TCPConn does). Found by the HAProxy test: its health checks
// reset before the server looked.
func TestRemoteAddrAfterPeerReset(t *testing.T) {
	for _, n := range streamNets[:2] {
		t.Run(n.name, func(t *testing.T) {
			ln, addr := listen(t, n)
			c := newSock(t, n.family, n.typ)
			if err := c.Connect(addr); err != nil {
				t.Fatal(err)
			}
			want := sockname(t, c).String()
			c.SetLinger(true, 0)
			c.Close() // RST
			s, peer, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Getpeername(); !errors.Is(err, syscall.ENOTCONN) {
				t.Skipf("getpeername after the reset: %v; the kernel still knows the peer", err)
			}
			if peer == nil || peer.String() != want {
				t.Errorf("Accept's address %v, want %s", peer, want)
			}
			if ra := s.RemoteAddr(); ra == nil || ra.String() != want {
				t.Errorf("RemoteAddr %v, want %s", ra, want)
			}
			if la := s.LocalAddr(); la == nil || la.String() != addr.String() {
				t.Errorf("LocalAddr %v, want %s", la, addr)
			}
		})
	}
}
