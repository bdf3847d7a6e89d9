//go:build linux

package reliability_test

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// netns is a network namespace a test creates and removes, with its
// loopback at MTU 1500 and offloads off, so that nft drops packets rather
// than 64 KB aggregates. All traffic stays inside it.
type netns struct {
	name string
	fd   int
}

var nsSeq atomic.Int32

// newNetns makes a namespace, or skips (fails under REQUIRE_CHAOS=1) when
// the test cannot: it needs root, ip, nft and ethtool.
func newNetns(t *testing.T) *netns {
	t.Helper()
	if os.Geteuid() != 0 {
		requireChaos(t, "needs root for network namespaces")
	}
	for _, tool := range []string{"ip", "nft", "ethtool", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			requireChaos(t, tool+" is not installed (apt-get install -y iproute2 nftables ethtool)")
		}
	}
	n := &netns{name: fmt.Sprintf("skrel%d-%d", os.Getpid(), nsSeq.Add(1))}
	if out, err := exec.Command("ip", "netns", "add", n.name).CombinedOutput(); err != nil {
		requireChaos(t, fmt.Sprintf("ip netns add: %v: %s", err, out))
	}
	t.Cleanup(func() {
		unix.Close(n.fd)
		if out, err := exec.Command("ip", "netns", "del", n.name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", n.name, err, out)
		}
	})
	n.sh(t, "ip link set lo mtu 1500 up")
	n.sh(t, "ethtool -K lo tso off gso off gro off")
	fd, err := unix.Open("/var/run/netns/"+n.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	n.fd = fd
	return n
}

// sh runs a command inside the namespace.
func (n *netns) sh(t *testing.T, cmd string) {
	t.Helper()
	args := append([]string{"netns", "exec", n.name}, strings.Fields(cmd)...)
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", cmd, err, out)
	}
}

// nft adds nftables rules inside the namespace (one nft script).
func (n *netns) nft(t *testing.T, script string) {
	t.Helper()
	c := exec.Command("ip", "netns", "exec", n.name, "nft", "-f", "-")
	c.Stdin = strings.NewReader(script)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s\n%s", err, out, script)
	}
}

// dropped sums the packet counters of the namespace's nft rules: how many
// packets the chaos rules actually dropped.
func (n *netns) dropped(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", n.name, "nft", "list", "ruleset").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list ruleset: %v: %s", err, out)
	}
	total := 0
	f := strings.Fields(string(out))
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "packets" {
			v, err := strconv.Atoi(f[i+1])
			if err != nil {
				t.Fatalf("nft counter %q: %v", f[i+1], err)
			}
			total += v
		}
	}
	return total
}

// do runs f on a thread that has entered the namespace: sockets f creates
// belong to it (and stay in it whatever thread uses them later). The
// thread is not unlocked, so it ends with the goroutine and nothing else
// runs in the namespace by accident.
func (n *netns) do(t *testing.T, f func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(n.fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		defer func() { errc <- nil }()
		f()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
