package cli

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/socketkit/socketkit/socket"
)

type pingOpts struct {
	count          int
	interval, wait durationFlag
	size, ttl      int
	v4, v6         bool
}

func newPing(e *env) *cobra.Command {
	o := pingOpts{count: 0, size: 56}
	o.interval.d = time.Second
	o.wait.d = time.Second
	cmd := &cobra.Command{
		Use:   "ping HOST",
		Short: "Send ICMP echo requests, as ping does",
		Long: `ping sends ICMP echo requests to HOST and prints each reply, as iputils ping
does. It uses an unprivileged ICMP datagram socket when the kernel allows it
(net.ipv4.ping_group_range), otherwise a raw socket (root or CAP_NET_RAW),
and says which.`,
		Example: `  sock ping -c 3 127.0.0.1
  sock ping -6 -c 2 ::1
  sock ping -i 0.2 -s 1000 -t 8 127.0.0.1`,
		Args: rangeArgs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.count < 0 || o.size < 0 || o.size > 65000 || o.ttl < 0 || o.ttl > 255 {
				return usagef("-c, -s (0-65000) and -t (0-255) must be in range")
			}
			if o.v4 && o.v6 {
				return usagef("-4 and -6 exclude each other")
			}
			if o.interval.d < time.Millisecond {
				return usagef("-i must be at least 1ms")
			}
			ctx, stop := signal.NotifyContext(e.ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runPing(ctx, e, &o, args[0])
		},
	}
	f := cmd.Flags()
	f.IntVarP(&o.count, "count", "c", 0, "stop after this many replies (0: until interrupted)")
	f.VarP(&o.interval, "interval", "i", "time between requests (1, 0.2, 200ms)")
	f.VarP(&o.wait, "timeout", "W", "time to wait for each reply")
	f.IntVarP(&o.size, "size", "s", 56, "payload bytes")
	f.IntVarP(&o.ttl, "ttl", "t", 0, "time to live of the requests (0: the system's)")
	f.BoolVarP(&o.v4, "ipv4", "4", false, "IPv4")
	f.BoolVarP(&o.v6, "ipv6", "6", false, "IPv6")
	return cmd
}

// pingSocket opens an ICMP socket: unprivileged datagram first, raw second.
func pingSocket(f socket.Family) (*socket.Socket, string, error) {
	proto := socket.IPPROTO_ICMP
	if f == socket.AF_INET6 {
		proto = socket.IPPROTO_ICMPV6
	}
	s, derr := socket.New(f, socket.SOCK_DGRAM, proto)
	if derr == nil {
		return s, "an unprivileged ICMP datagram socket", nil
	}
	s, rerr := socket.New(f, socket.SOCK_RAW, proto)
	if rerr == nil {
		return s, "a raw ICMP socket", nil
	}
	rng, _ := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	return nil, "", fmt.Errorf("cannot open an ICMP socket: the datagram socket failed (%v; net.ipv4.ping_group_range is %q, gid %d) and the raw socket needs root or CAP_NET_RAW: %w",
		shortCause(derr), string(bytesTrim(rng)), os.Getgid(), rerr)
}

func bytesTrim(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	for i, c := range b {
		if c == '\t' {
			b[i] = ' '
		}
	}
	return b
}

func shortCause(err error) string {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err.Error()
	}
	return err.Error()
}

func runPing(ctx context.Context, e *env, o *pingOpts, host string) error {
	fam := socket.AF_INET
	network := "ip4"
	if o.v6 {
		fam, network = socket.AF_INET6, "ip6"
	} else if ip, err := netip.ParseAddr(host); err == nil && ip.Is6() && !ip.Is4In6() {
		fam, network = socket.AF_INET6, "ip6"
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, network, host)
	if err != nil || len(ips) == 0 {
		return fmt.Errorf("unknown host %s: %w", host, err)
	}
	ip := ips[0].Unmap()
	s, kind, err := pingSocket(fam)
	if err != nil {
		return err
	}
	defer s.Close()
	raw := s.Type() == socket.SOCK_RAW
	if o.ttl > 0 {
		if err := s.SetTTL(o.ttl); err != nil {
			return err
		}
	}
	// The TTL of replies comes in a control message, except on raw IPv4
	// sockets, which deliver the IP header itself.
	if fam == socket.AF_INET && !raw {
		s.SetsockoptInt(socket.SOL_IP, socket.IP_RECVTTL, 1)
	} else if fam == socket.AF_INET6 {
		s.SetsockoptInt(socket.SOL_IPV6, 51 /* IPV6_RECVHOPLIMIT */, 1)
	}
	dst := socket.InetAddr(netip.AddrPortFrom(ip, 0))
	ipHdr := 20
	if fam == socket.AF_INET6 {
		ipHdr = 40
	}
	fmt.Fprintf(e.stdout, "PING %s (%s) %d(%d) bytes of data, using %s.\n", host, ip, o.size, o.size+8+ipHdr, kind)

	id := os.Getpid() & 0xffff
	var typ, reply icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	proto := 1
	if fam == socket.AF_INET6 {
		typ, reply, proto = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply, 58
	}
	if !raw {
		// The kernel sets the identifier of datagram ICMP sockets: the
		// socket's "port". Match replies on it.
		any := netip.IPv4Unspecified()
		if fam == socket.AF_INET6 {
			any = netip.IPv6Unspecified()
		}
		s.Bind(socket.InetAddr(netip.AddrPortFrom(any, 0)))
		if la, err := s.Getsockname(); err == nil {
			if ap, ok := socket.AddrPortOf(la); ok {
				id = int(ap.Port())
			}
		}
	}
	payload := make([]byte, o.size)
	for i := range payload {
		payload[i] = byte(i)
	}
	var sent, received int
	var rtts []float64
	start := time.Now()
	buf := make([]byte, 65536+60)
	oob := make([]byte, 64)
	for seq := 1; o.count == 0 || seq <= o.count; seq++ {
		if ctx.Err() != nil {
			break
		}
		if len(payload) >= 8 {
			binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
		}
		m := icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: payload}}
		b, err := m.Marshal(nil)
		if err != nil {
			return err
		}
		t0 := time.Now()
		if _, err := s.Sendto(b, 0, dst); err != nil {
			return err
		}
		sent++
		deadline := t0.Add(o.wait.d)
		got := false
		for !got {
			s.SetReadDeadline(deadline)
			n, oobn, _, from, err := s.Recvmsg(buf, oob, 0)
			if err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) || ctx.Err() != nil {
					break
				}
				return err
			}
			rtt := time.Since(t0)
			pkt, ttl := buf[:n], -1
			if raw && fam == socket.AF_INET && n > 20 {
				ttl = int(pkt[8])
				pkt = pkt[int(pkt[0]&0x0f)*4:]
			} else if msgs, err := socket.ParseControlMessages(oob[:oobn]); err == nil {
				for _, cm := range msgs {
					if len(cm.Data) >= 4 && ((cm.Level == socket.SOL_IP && cm.Type == socket.IP_TTL) || (cm.Level == socket.SOL_IPV6 && cm.Type == 52)) {
						ttl = int(binary.NativeEndian.Uint32(cm.Data))
					}
				}
			}
			rm, err := icmp.ParseMessage(proto, pkt)
			if err != nil || rm.Type != reply {
				continue
			}
			echo, ok := rm.Body.(*icmp.Echo)
			if !ok || echo.Seq != seq || (raw && echo.ID != id) {
				continue
			}
			if fap, ok := socket.AddrPortOf(from); ok && fap.Addr().Unmap() != ip {
				continue
			}
			got = true
			received++
			ms := float64(rtt) / float64(time.Millisecond)
			rtts = append(rtts, ms)
			ttlText := ""
			if ttl >= 0 {
				ttlText = fmt.Sprintf(" ttl=%d", ttl)
			}
			fmt.Fprintf(e.stdout, "%d bytes from %s: icmp_seq=%d%s time=%.3f ms\n", len(pkt), ip, seq, ttlText, ms)
		}
		if o.count != 0 && seq == o.count {
			break
		}
		if wait := time.Until(t0.Add(o.interval.d)); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
	}
	total := time.Since(start)
	fmt.Fprintf(e.stdout, "\n--- %s ping statistics ---\n", host)
	loss := 0.0
	if sent > 0 {
		loss = 100 * float64(sent-received) / float64(sent)
	}
	fmt.Fprintf(e.stdout, "%d packets transmitted, %d received, %.0f%% packet loss, time %dms\n", sent, received, loss, total.Milliseconds())
	if len(rtts) > 0 {
		min, max, sum, sum2 := rtts[0], rtts[0], 0.0, 0.0
		for _, r := range rtts {
			min, max = math.Min(min, r), math.Max(max, r)
			sum += r
			sum2 += r * r
		}
		avg := sum / float64(len(rtts))
		mdev := math.Sqrt(math.Max(0, sum2/float64(len(rtts))-avg*avg))
		fmt.Fprintf(e.stdout, "rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n", min, avg, max, mdev)
	}
	if received == 0 {
		return fmt.Errorf("no reply from %s", host)
	}
	return nil
}
