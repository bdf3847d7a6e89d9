package sockettest_test

import (
	"net"
	"strconv"
	"testing"

	"github.com/socketkit/socketkit/internal/sockettest"
)

// TestFreePort: the port is below the ephemeral range and a listener can
// take it on the wildcard address and on loopback, TCP and UDP.
func TestFreePort(t *testing.T) {
	for range 20 {
		p := sockettest.FreePort(t)
		if p < 1024 || p >= 32768 && p <= 60999 {
			t.Fatalf("FreePort = %d: in the ephemeral range", p)
		}
		for _, addr := range []string{":", "127.0.0.1:"} {
			l, err := net.Listen("tcp", addr+strconv.Itoa(p))
			if err != nil {
				t.Fatalf("listen on FreePort's %d: %v", p, err)
			}
			u, err := net.ListenPacket("udp", addr+strconv.Itoa(p))
			if err != nil {
				t.Fatalf("UDP on FreePort's %d: %v", p, err)
			}
			l.Close()
			u.Close()
		}
	}
}
