package sockettest

import (
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// FreePort returns a port that no socket of this host uses now (wildcard
// binds of TCP and UDP over IPv4, and over IPv6 where it exists, succeed),
// chosen at random below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range), for a program that must be told which
// port to listen on. Below that range, no port-0 bind and no outgoing
// connection of another test can take the port before the program binds
// it, as they can take a port-0 port that was bound and released (the
// tests of several packages, and of several people, run at once).
func FreePort(t testing.TB) int {
	t.Helper()
	lo, hi := 10000, ephemeralLow()
	if hi-lo < 1000 {
		lo, hi = 1024, max(hi, 2048) // an unusual range: still below it
	}
	for range 200 {
		p := lo + rand.IntN(hi-lo)
		if portFree(p) {
			return p
		}
	}
	t.Fatalf("no free port in %d-%d after 200 tries", lo, hi-1)
	return 0
}

// ephemeralLow is the first port of the ephemeral range.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}

// portFree binds port on the wildcard addresses, TCP and UDP, without
// SO_REUSEADDR (so that any socket on the port, even in TIME_WAIT, makes
// it unfree), and releases it at once.
func portFree(port int) bool {
	type try struct {
		family, typ int
		sa          syscall.Sockaddr
	}
	tries := []try{
		{syscall.AF_INET, syscall.SOCK_STREAM, &syscall.SockaddrInet4{Port: port}},
		{syscall.AF_INET, syscall.SOCK_DGRAM, &syscall.SockaddrInet4{Port: port}},
		{syscall.AF_INET6, syscall.SOCK_STREAM, &syscall.SockaddrInet6{Port: port}},
		{syscall.AF_INET6, syscall.SOCK_DGRAM, &syscall.SockaddrInet6{Port: port}},
	}
	var fds []int
	defer func() {
		for _, fd := range fds {
			syscall.Close(fd)
		}
	}()
	for _, tr := range tries {
		fd, err := syscall.Socket(tr.family, tr.typ, 0)
		if err == nil {
			syscall.CloseOnExec(fd) // SOCK_CLOEXEC is not on every platform
		}
		if err != nil {
			if tr.family == syscall.AF_INET6 {
				continue // no IPv6 here
			}
			return false
		}
		fds = append(fds, fd)
		if tr.family == syscall.AF_INET6 {
			syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 1)
		}
		if err := syscall.Bind(fd, tr.sa); err != nil {
			if tr.family == syscall.AF_INET6 && err == syscall.EADDRNOTAVAIL {
				continue // IPv6 disabled
			}
			return false
		}
	}
	return true
}
