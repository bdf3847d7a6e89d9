package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/socketkit/socketkit/cmd/sock/internal/sockdiag"
)

// ssOpts are the flags of sock ss.
type ssOpts struct {
	tcp, udp, unix, v4, v6, listening bool
	ports                             []int
	states                            []string
	pids                              []int
	process                           string
	json                              bool
}

func newSS(e *env) *cobra.Command {
	o := &ssOpts{}
	cmd := &cobra.Command{
		Use:   "ss",
		Short: "List this machine's sockets like ss -tuanp: state, queues, addresses, process",
		Long: `ss lists the sockets of this machine as iproute2's "ss -tuanp" does: TCP,
UDP and Unix sockets with their state, receive and send queues, local and peer
addresses and the process that owns each (command, pid and descriptor). It
reads the kernel's tables through NETLINK_SOCK_DIAG (inet_diag and
unix_diag), the source ss itself uses, and finds owners from the socket
inodes under /proc/PID/fd; a normal user sees the owners of its own
processes only, as with ss -p.

Recv-Q and Send-Q mean: for a listening socket, the connections waiting for
accept() and the backlog limit; for a connection, bytes received and not yet
read, and bytes sent and not yet acknowledged; for UDP, the memory the queued
datagrams take.`,
		Example: `  sock ss                           # TCP, UDP and Unix sockets
  sock ss -tuanp                    # the same as ss -tuanp (-a, -n, -p are always on)
  sock ss -tlnp                     # listening TCP sockets
  sock ss -t --state listen         # listening TCP sockets
  sock ss --port 6254               # every socket with local or peer port 6254
  sock ss -t --state time-wait --port 6254
  sock ss --process python3         # sockets of processes whose name contains python3
  sock ss --pid 1234 --json`,
		Args: rangeArgs(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSS(e, o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.tcp, "tcp", "t", false, "TCP sockets")
	f.BoolVarP(&o.udp, "udp", "u", false, "UDP sockets")
	f.BoolVarP(&o.unix, "unix", "x", false, "Unix sockets")
	f.BoolVarP(&o.v4, "ipv4", "4", false, "IPv4 only")
	f.BoolVarP(&o.v6, "ipv6", "6", false, "IPv6 only")
	f.BoolVarP(&o.listening, "listening", "l", false, "listening sockets only (LISTEN, and unconnected UDP)")
	f.IntSliceVar(&o.ports, "port", nil, "only sockets whose local or peer port is `PORT` (repeat or comma-separate)")
	f.StringSliceVar(&o.states, "state", nil, "only sockets in `STATE` (listen, established, time-wait, close-wait, syn-sent...)")
	f.IntSliceVar(&o.pids, "pid", nil, "only sockets owned by process `PID`")
	f.StringVar(&o.process, "process", "", "only sockets owned by a process whose name contains `NAME`")
	f.BoolVar(&o.json, "json", false, "print JSON")
	// iproute2's ss flags that sock ss always applies, accepted so that
	// "sock ss -tuanp" and "sock ss -tlnp" work from muscle memory.
	var all, numeric, processes bool
	f.BoolVarP(&all, "all", "a", false, "every state (the default without -l)")
	f.BoolVarP(&numeric, "numeric", "n", false, "numeric addresses and ports (always: sock ss resolves no names)")
	f.BoolVarP(&processes, "processes", "p", false, "the owning process (always shown)")
	return cmd
}

// ssRow is a socket as sock ss --json prints it.
type ssRow struct {
	sockdiag.Socket
	StateName string `json:"state"`
	LocalAddr string `json:"local_address"`
	PeerAddr  string `json:"peer_address"`
}

func runSS(e *env, o *ssOpts) error {
	if o.v4 && o.v6 {
		return usagef("-4 and -6 exclude each other")
	}
	for _, p := range o.ports {
		if p < 0 || p > 65535 {
			return usagef("--port %d: port out of range", p)
		}
	}
	var states []sockdiag.State
	for _, s := range o.states {
		st, err := sockdiag.ParseState(s)
		if err != nil {
			return usageError{err}
		}
		states = append(states, st)
	}
	req := sockdiag.Request{TCP: o.tcp, UDP: o.udp, Unix: o.unix, IPv4: o.v4, IPv6: o.v6}
	if !o.tcp && !o.udp && !o.unix {
		req.TCP, req.UDP, req.Unix = true, true, !o.v4 && !o.v6
	}
	socks, err := sockdiag.Dump(req, true)
	if err != nil {
		return err
	}
	rows := filterSockets(socks, o, states)
	if o.json {
		out := make([]ssRow, len(rows))
		for i, s := range rows {
			out[i] = ssRow{Socket: s, StateName: s.StateName(), LocalAddr: s.LocalString(), PeerAddr: s.PeerString()}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return printSS(e.stdout, rows)
}

func filterSockets(socks []sockdiag.Socket, o *ssOpts, states []sockdiag.State) []sockdiag.Socket {
	var out []sockdiag.Socket
	for _, s := range socks {
		if o.listening && s.State != sockdiag.LISTEN && !(s.Netid == sockdiag.UDP && s.State == sockdiag.CLOSE) {
			continue
		}
		if len(states) > 0 && !containsState(states, s.State) {
			continue
		}
		if len(o.ports) > 0 {
			if s.Netid.IsUnix() {
				continue
			}
			ok := false
			for _, p := range o.ports {
				if int(s.Local.Port()) == p || int(s.Peer.Port()) == p {
					ok = true
				}
			}
			if !ok {
				continue
			}
		}
		if len(o.pids) > 0 || o.process != "" {
			ok := false
			for _, ow := range s.Owners {
				if (len(o.pids) == 0 || containsInt(o.pids, ow.PID)) && (o.process == "" || strings.Contains(ow.Name, o.process)) {
					ok = true
				}
			}
			if !ok {
				continue
			}
		}
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool { return netidRank(out[i].Netid) < netidRank(out[j].Netid) })
	return out
}

func netidRank(n sockdiag.Netid) int {
	switch n {
	case sockdiag.TCP:
		return 0
	case sockdiag.UDP:
		return 1
	}
	return 2
}

func containsState(ss []sockdiag.State, s sockdiag.State) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func containsInt(v []int, n int) bool {
	for _, x := range v {
		if x == n {
			return true
		}
	}
	return false
}

// printSS prints rows with ss's columns.
func printSS(w io.Writer, rows []sockdiag.Socket) error {
	tw := tabwriter.NewWriter(w, 0, 8, 1, ' ', 0)
	fmt.Fprintln(tw, "Netid\tState\tRecv-Q\tSend-Q\tLocal Address:Port\tPeer Address:Port\tProcess")
	for _, s := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Netid, s.StateName(), strconv.FormatUint(uint64(s.RecvQ), 10),
			strconv.FormatUint(uint64(s.SendQ), 10), s.LocalString(), s.PeerString(), s.UsersString())
	}
	return tw.Flush()
}
