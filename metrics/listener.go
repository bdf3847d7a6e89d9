package metrics

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/socketkit/socketkit/socket"
)

// listenerCollector reports the kernel's view of listening sockets.
type listenerCollector struct {
	lns                  []Listener
	queueLen, queueLimit *prometheus.Desc
	overflows, drops     *prometheus.Desc
	netstat              string
}

// Listener is a listening socket and the name its metrics carry (label
// listener: its address, or systemd's name for it).
type Listener struct {
	Name   string
	Socket *socket.Socket
}

// NewListenerCollector returns a collector of the kernel's view of the
// listening TCP sockets lns: the length of each one's accept queue
// (connections the kernel has completed that no accept(2) has taken yet)
// and its limit (the backlog), read with getsockopt(TCP_INFO) at each
// scrape; and the listen-queue overflows and drops of the network
// namespace (TcpExt ListenOverflows and ListenDrops in /proc/net/netstat:
// SYNs and completed handshakes dropped because an accept queue was
// full, counted by the kernel for every listener of the namespace). A
// socket that is not a listening TCP socket, or that is closed, has no
// queue metrics. Sockets given the same name (the SO_REUSEPORT listeners
// of one address) are reported as one listener, with their queue lengths
// and limits summed.
func NewListenerCollector(constLabels prometheus.Labels, lns ...Listener) prometheus.Collector {
	const sub = "listener"
	l := []string{"listener"}
	return &listenerCollector{lns: lns,
		queueLen:   prometheus.NewDesc(prometheus.BuildFQName(namespace, sub, "accept_queue_length"), "Connections completed by the kernel and waiting for accept(2) (TCP_INFO tcpi_unacked of the listener).", l, constLabels),
		queueLimit: prometheus.NewDesc(prometheus.BuildFQName(namespace, sub, "accept_queue_limit"), "The accept queue's limit, the backlog (TCP_INFO tcpi_sacked of the listener).", l, constLabels),
		overflows:  prometheus.NewDesc(prometheus.BuildFQName(namespace, "tcp", "listen_overflows_total"), "Times an accept queue of the network namespace was full (TcpExt ListenOverflows).", nil, constLabels),
		drops:      prometheus.NewDesc(prometheus.BuildFQName(namespace, "tcp", "listen_drops_total"), "SYNs and connections dropped at listening sockets of the network namespace (TcpExt ListenDrops).", nil, constLabels),
		netstat:    "/proc/net/netstat",
	}
}

func (c *listenerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.queueLen
	ch <- c.queueLimit
	ch <- c.overflows
	ch <- c.drops
}

func (c *listenerCollector) Collect(ch chan<- prometheus.Metric) {
	// Sockets of one name (SO_REUSEPORT listeners of an address, one a
	// loop) are one listener: their queues and limits are summed, since
	// two series with the same labels would fail the whole scrape.
	type queue struct{ length, limit uint32 }
	var names []string
	queues := make(map[string]*queue, len(c.lns))
	for _, ln := range c.lns {
		if ln.Socket == nil || ln.Socket.Type() != socket.SOCK_STREAM {
			continue
		}
		if f := ln.Socket.Family(); f != socket.AF_INET && f != socket.AF_INET6 {
			continue
		}
		if on, err := ln.Socket.AcceptConn(); err != nil || !on {
			continue
		}
		length, limit, ok := acceptQueue(ln.Socket)
		if !ok {
			continue
		}
		q := queues[ln.Name]
		if q == nil {
			q = &queue{}
			queues[ln.Name] = q
			names = append(names, ln.Name)
		}
		q.length += length
		q.limit += limit
	}
	for _, name := range names {
		q := queues[name]
		ch <- prometheus.MustNewConstMetric(c.queueLen, prometheus.GaugeValue, float64(q.length), name)
		ch <- prometheus.MustNewConstMetric(c.queueLimit, prometheus.GaugeValue, float64(q.limit), name)
	}
	if v, err := tcpExt(c.netstat); err == nil {
		if n, ok := v["ListenOverflows"]; ok {
			ch <- prometheus.MustNewConstMetric(c.overflows, prometheus.CounterValue, n)
		}
		if n, ok := v["ListenDrops"]; ok {
			ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, n)
		}
	}
}

// tcpExt reads the TcpExt counters of /proc/net/netstat: a line of names
// followed by a line of values.
func tcpExt(path string) (map[string]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var names []string
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "TcpExt:" {
			continue
		}
		if names == nil {
			names = fields[1:]
			continue
		}
		out := make(map[string]float64, len(names))
		for i, v := range fields[1:] {
			if i < len(names) {
				if n, err := strconv.ParseFloat(v, 64); err == nil {
					out[names[i]] = n
				}
			}
		}
		return out, nil
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, os.ErrNotExist
}
