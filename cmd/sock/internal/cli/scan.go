package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/time/rate"

	"github.com/socketkit/socketkit/socket"
)

// parsePorts reads a port list such as "1-1024,8080" into sorted, distinct
// ports in 1-65535.
func parsePorts(spec string) ([]int, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, usagef("empty port list")
	}
	seen := map[int]bool{}
	var out []int
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 1 || a > 65535 {
			return nil, usagef("bad port %q in %q: want 1-65535", lo, spec)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < 1 || b > 65535 {
				return nil, usagef("bad port %q in %q: want 1-65535", hi, spec)
			}
			if b < a {
				return nil, usagef("bad range %q: %d is above %d", part, a, b)
			}
		}
		for p := a; p <= b; p++ {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	sort.Ints(out)
	return out, nil
}

func newScan(e *env) *cobra.Command {
	var workers, perSec int
	var timeout durationFlag
	timeout.d = time.Second
	var allowRemote, v4, v6 bool
	cmd := &cobra.Command{
		Use:   "scan HOST PORTS",
		Short: "Find the open TCP ports of a host with connect_ex, concurrently and rate-limited",
		Long: `scan tries to connect to each port in PORTS ("1-1024,8080") the way Python's
connect_ex does, several at once and at most --rate per second, and lists the
ports that accept. It refuses to scan anything but a loopback address unless
--allow-remote is given: scan only hosts you are allowed to.`,
		Example: `  sock scan 127.0.0.1 1-1024
  sock scan localhost 22,80,443,8000-8100 --rate 500`,
		Args: rangeArgs(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ports, err := parsePorts(args[1])
			if err != nil {
				return err
			}
			if workers < 1 || perSec < 1 {
				return usagef("--workers and --rate must be positive")
			}
			return runScan(e, args[0], ports, workers, perSec, timeout.d, allowRemote, v4, v6)
		},
	}
	f := cmd.Flags()
	f.IntVar(&workers, "workers", 64, "connections tried at once")
	f.IntVar(&perSec, "rate", 2000, "connection attempts per second at most")
	f.VarP(&timeout, "wait", "w", "give up on a port after this long")
	f.BoolVar(&allowRemote, "allow-remote", false, "allow scanning an address that is not loopback")
	f.BoolVarP(&v4, "ipv4", "4", false, "IPv4")
	f.BoolVarP(&v6, "ipv6", "6", false, "IPv6")
	return cmd
}

func runScan(e *env, host string, ports []int, workers, perSec int, timeout time.Duration, allowRemote, v4, v6 bool) error {
	network := "ip"
	switch {
	case v4:
		network = "ip4"
	case v6:
		network = "ip6"
	}
	ips, err := net.DefaultResolver.LookupNetIP(e.ctx, network, host)
	if err != nil || len(ips) == 0 {
		return fmt.Errorf("unknown host %s: %v", host, err)
	}
	ip := ips[0].Unmap()
	for _, a := range ips {
		if a.Unmap().Is4() && !v6 {
			ip = a.Unmap()
			break
		}
	}
	if !ip.IsLoopback() && !allowRemote {
		return usagef("%s (%s) is not a loopback address: scanning other hosts needs --allow-remote (scan only hosts you may)", host, ip)
	}
	start := time.Now()
	lim := rate.NewLimiter(rate.Limit(perSec), workers)
	jobs := make(chan int)
	var mu sync.Mutex
	var open []int
	var failures []string
	var wg sync.WaitGroup
	for i := 0; i < workers && i < len(ports); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range jobs {
				errno, err := probe(e.ctx, ip, p, timeout)
				mu.Lock()
				switch {
				case err == nil && errno == 0:
					open = append(open, p)
				case err != nil && e.ctx.Err() == nil && !isTimeoutErr(err):
					failures = append(failures, err.Error())
				}
				mu.Unlock()
			}
		}()
	}
	for _, p := range ports {
		if err := lim.Wait(e.ctx); err != nil {
			break
		}
		jobs <- p
	}
	close(jobs)
	wg.Wait()
	if len(failures) > 0 && len(open) == 0 && len(failures) == len(ports) {
		return fmt.Errorf("every probe failed: %s", failures[0])
	}
	sort.Ints(open)
	fmt.Fprintf(e.stdout, "PORT\tSTATE\tSERVICE\n")
	for _, p := range open {
		svc, err := socket.GetServByPort(p, "tcp")
		if err != nil {
			svc = "?"
		}
		fmt.Fprintf(e.stdout, "%d/tcp\topen\t%s\n", p, svc)
	}
	fmt.Fprintf(e.stderr, "sock: scanned %d ports of %s in %v: %d open\n", len(ports), ip, time.Since(start).Round(time.Millisecond), len(open))
	return nil
}

// probe is connect_ex on one port: the errno, or an error for failures that
// are not connect(2)'s (a timeout included).
func probe(ctx context.Context, ip netip.Addr, port int, timeout time.Duration) (syscall.Errno, error) {
	fam := socket.AF_INET
	if ip.Is6() {
		fam = socket.AF_INET6
	}
	s, err := socket.New(fam, socket.SOCK_STREAM, 0)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	s.SetLinger(true, 0) // reset, not FIN: the scanned side keeps no TIME_WAIT
	s.SetTimeout(timeout)
	return s.ConnectEx(socket.InetAddr(netip.AddrPortFrom(ip, uint16(port))))
}

func isTimeoutErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
