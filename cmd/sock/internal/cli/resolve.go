package cli

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/socket"
)

func newResolve(e *env) *cobra.Command {
	var v4, v6, passive, numeric bool
	var typ string
	cmd := &cobra.Command{
		Use:   "resolve NAME [PORT]",
		Short: "Print what getaddrinfo returns for a name",
		Long: `resolve prints the table Python's socket.getaddrinfo returns: one row per
address and socket type, with the family, type, protocol, canonical name and
address to connect to.`,
		Example: `  sock resolve localhost
  sock resolve localhost http --type stream
  sock resolve "" 8080 --passive          # the addresses a server would bind`,
		Args: rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			hints := &socket.AddrInfoHints{Flags: socket.AI_CANONNAME}
			switch {
			case v4 && v6:
				return usagef("-4 and -6 exclude each other")
			case v4:
				hints.Family = socket.AF_INET
			case v6:
				hints.Family = socket.AF_INET6
			}
			switch strings.ToLower(typ) {
			case "":
			case "stream", "tcp":
				hints.Type = socket.SOCK_STREAM
			case "dgram", "udp":
				hints.Type = socket.SOCK_DGRAM
			case "raw":
				hints.Type = socket.SOCK_RAW
			default:
				return usagef("unknown --type %q (want stream, dgram or raw)", typ)
			}
			if passive {
				hints.Flags |= socket.AI_PASSIVE
			}
			if numeric {
				hints.Flags |= socket.AI_NUMERICHOST
			}
			port := ""
			if len(args) == 2 {
				port = args[1]
			}
			ais, err := socket.GetAddrInfo(e.ctx, args[0], port, hints)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "FAMILY\tTYPE\tPROTO\tCANONNAME\tADDRESS")
			for _, ai := range ais {
				canon := ai.CanonName
				if canon == "" {
					canon = "-"
				}
				fmt.Fprintf(tw, "%v\t%v\t%v\t%s\t%v\n", ai.Family, ai.Type, ai.Proto, canon, ai.Addr)
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&v4, "ipv4", "4", false, "IPv4 only")
	f.BoolVarP(&v6, "ipv6", "6", false, "IPv6 only")
	f.StringVar(&typ, "type", "", "stream, dgram or raw (default: all three)")
	f.BoolVar(&passive, "passive", false, "AI_PASSIVE: with no name, the wildcard addresses")
	f.BoolVarP(&numeric, "numeric", "n", false, "AI_NUMERICHOST: no DNS")
	return cmd
}

func newInfo(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "info",
		Short: "Show what this kernel supports: families x types, limits, ranges",
		Long: `info shows which socket families and types this kernel (and this user) can
create, and the settings that shape socket programs: the listen backlog
limit, the ephemeral port range, who may bind low ports and open ICMP
sockets, and buffer limits.`,
		Example: "  sock info",
		Args:    rangeArgs(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := e.stdout
			uname := "?"
			if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
				uname = strings.TrimSpace(string(b))
			}
			fmt.Fprintf(out, "kernel %s %s/%s, uid %d\n\n", uname, runtime.GOOS, runtime.GOARCH, os.Getuid())
			families := []socket.Family{socket.AF_INET, socket.AF_INET6, socket.AF_UNIX, socket.AF_PACKET, socket.AF_NETLINK, socket.AF_VSOCK, socket.AF_TIPC, socket.AF_RDS}
			types := []socket.Type{socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW, socket.SOCK_RDM, socket.SOCK_SEQPACKET}
			tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
			fmt.Fprint(tw, "FAMILY")
			for _, t := range types {
				fmt.Fprintf(tw, "\t%v", t)
			}
			fmt.Fprintln(tw)
			for _, f := range families {
				fmt.Fprintf(tw, "%v", f)
				for _, t := range types {
					p := socket.Protocol(0)
					if t == socket.SOCK_RAW && f == socket.AF_INET {
						p = socket.IPPROTO_ICMP
					} else if t == socket.SOCK_RAW && f == socket.AF_INET6 {
						p = socket.IPPROTO_ICMPV6
					}
					s, err := socket.New(f, t, p)
					if err == nil {
						s.Close()
						fmt.Fprint(tw, "\tyes")
					} else {
						fmt.Fprintf(tw, "\t%s", errnoName(err))
					}
				}
				fmt.Fprintln(tw)
			}
			tw.Flush()
			fmt.Fprintln(out)
			sysctls := []struct{ label, path string }{
				{"listen backlog limit (net.core.somaxconn)", "/proc/sys/net/core/somaxconn"},
				{"ephemeral ports (net.ipv4.ip_local_port_range)", "/proc/sys/net/ipv4/ip_local_port_range"},
				{"unprivileged ports from (net.ipv4.ip_unprivileged_port_start)", "/proc/sys/net/ipv4/ip_unprivileged_port_start"},
				{"ICMP datagram sockets for gids (net.ipv4.ping_group_range)", "/proc/sys/net/ipv4/ping_group_range"},
				{"TCP congestion control", "/proc/sys/net/ipv4/tcp_congestion_control"},
				{"receive buffer max (net.core.rmem_max)", "/proc/sys/net/core/rmem_max"},
				{"send buffer max (net.core.wmem_max)", "/proc/sys/net/core/wmem_max"},
				{"SYN cookies (net.ipv4.tcp_syncookies)", "/proc/sys/net/ipv4/tcp_syncookies"},
				{"open files per process (fs.nr_open)", "/proc/sys/fs/nr_open"},
			}
			tw = tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
			for _, s := range sysctls {
				v := "?"
				if b, err := os.ReadFile(s.path); err == nil {
					v = strings.Join(strings.Fields(string(b)), " ")
				}
				fmt.Fprintf(tw, "%s\t%s\n", s.label, v)
			}
			fmt.Fprintf(tw, "IPPORT_RESERVED\t%d\n", socket.IPPORT_RESERVED)
			fmt.Fprintf(tw, "SOMAXCONN (compile time)\t%d\n", socket.SOMAXCONN)
			fmt.Fprintf(tw, "IPv6 loopback\t%v\n", yes(socket.HasIPv6()))
			fmt.Fprintf(tw, "dual-stack IPv6 sockets\t%v\n", yes(socket.HasDualStackIPv6()))
			uring := "usable (sock serve --engine uring or auto)"
			if err := eventloop.ProbeIOUring(); err != nil {
				uring = "unusable, so --engine auto runs on epoll: " + err.Error()
			}
			fmt.Fprintf(tw, "io_uring for the event-loop engine\t%s\n", uring)
			return tw.Flush()
		},
	}
}

// errnoName is the errno's C name (EPERM...) for a table cell.
func errnoName(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if name, ok := errnoNames[errno]; ok {
			return name
		}
		return fmt.Sprintf("errno %d", int(errno))
	}
	return "error"
}

var errnoNames = map[syscall.Errno]string{
	syscall.EPERM: "EPERM", syscall.EACCES: "EACCES", syscall.ESOCKTNOSUPPORT: "ESOCKTNOSUPPORT",
	syscall.EPROTONOSUPPORT: "EPROTONOSUPPORT", syscall.EAFNOSUPPORT: "EAFNOSUPPORT",
	syscall.ENODEV: "ENODEV", syscall.EOPNOTSUPP: "EOPNOTSUPP", syscall.EINVAL: "EINVAL",
}
