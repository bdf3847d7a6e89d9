// Package metrics exports socketkit's counters to Prometheus: collectors
// for a socketserver.Server's Stats, for an eventloop.Engine's Stats and
// per-loop LoopStats, and for the kernel's view of listening sockets
// (accept queue length and limit, listen-queue overflows).
//
// It is a module of its own, so that the library (socket, socketserver,
// eventloop) keeps depending on golang.org/x/sys alone; a program that
// wants metrics adds this module and github.com/prometheus/client_golang.
//
// Collectors read the counters when Prometheus scrapes, and only then: the
// servers count with atomics of their own (per loop on the engine), so
// serving costs no allocation or lock per message whether metrics are
// read or not. Names follow Prometheus's conventions: counters end in
// _total, byte counts in _bytes (payload bytes: what the handlers read
// and wrote, not TCP/IP headers).
package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/socketkit/socketkit/eventloop"
	ss "github.com/socketkit/socketkit/socketserver"
)

const namespace = "socketkit"

// metric is one description and how to read its value.
type metric[S any] struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(S) float64
}

func counter[S any](sub, name, help string, labels []string, constLabels prometheus.Labels, v func(S) float64) metric[S] {
	return metric[S]{prometheus.NewDesc(prometheus.BuildFQName(namespace, sub, name), help, labels, constLabels), prometheus.CounterValue, v}
}

func gauge[S any](sub, name, help string, labels []string, constLabels prometheus.Labels, v func(S) float64) metric[S] {
	return metric[S]{prometheus.NewDesc(prometheus.BuildFQName(namespace, sub, name), help, labels, constLabels), prometheus.GaugeValue, v}
}

// serverCollector collects a socketserver.Server's Stats.
type serverCollector struct {
	srv     *ss.Server
	metrics []metric[ss.Stats]
}

// NewServerCollector returns a collector of srv's Stats: for a Prefork
// parent, the sums over its workers. constLabels (a listener's address,
// a service name) tell several servers apart.
func NewServerCollector(srv *ss.Server, constLabels prometheus.Labels) prometheus.Collector {
	const sub = "server"
	l := constLabels
	return &serverCollector{srv: srv, metrics: []metric[ss.Stats]{
		counter(sub, "accepted_total", "Connections accepted (datagrams received, on a datagram server).", nil, l, func(s ss.Stats) float64 { return float64(s.Accepted) }),
		gauge(sub, "active_requests", "Requests (connections) being served now.", nil, l, func(s ss.Stats) float64 { return float64(s.Active) }),
		counter(sub, "rejected_total", "Requests turned away: MaxConnections, VerifyRequest, ProxyProtocol.", nil, l, func(s ss.Stats) float64 { return float64(s.Rejected) }),
		counter(sub, "handler_errors_total", "Handlers that returned an error or panicked.", nil, l, func(s ss.Stats) float64 { return float64(s.Errors) }),
		counter(sub, "accept_errors_total", "Temporary accept or receive errors, retried.", nil, l, func(s ss.Stats) float64 { return float64(s.AcceptErrors) }),
		counter(sub, "truncated_datagrams_total", "Datagrams over MaxPacketSize, dropped.", nil, l, func(s ss.Stats) float64 { return float64(s.Truncated) }),
		counter(sub, "received_bytes_total", "Payload bytes received through the requests' connections or as datagrams.", nil, l, func(s ss.Stats) float64 { return float64(s.BytesIn) }),
		counter(sub, "sent_bytes_total", "Payload bytes sent through the requests' connections or as replies.", nil, l, func(s ss.Stats) float64 { return float64(s.BytesOut) }),
	}}
}

func (c *serverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

func (c *serverCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.srv.Stats()
	for _, m := range c.metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.typ, m.value(st))
	}
}

// engineCollector collects an eventloop.Engine's Stats and LoopStats.
type engineCollector struct {
	eng          *eventloop.Engine
	perLoop      []metric[eventloop.LoopStats]
	acceptErrors *prometheus.Desc
	engine       []metric[eventloop.Stats]
	backend      *prometheus.Desc
}

// NewEngineCollector returns a collector of eng's counters: those of each
// loop (label loop) and those of the whole engine, and the backend it runs
// on.
func NewEngineCollector(eng *eventloop.Engine, constLabels prometheus.Labels) prometheus.Collector {
	const sub = "engine"
	l := constLabels
	loop := []string{"loop"}
	return &engineCollector{eng: eng,
		perLoop: []metric[eventloop.LoopStats]{
			counter(sub, "accepted_total", "Connections accepted by the loop (datagrams received, on a UDP engine).", loop, l, func(s eventloop.LoopStats) float64 { return float64(s.Accepted) }),
			gauge(sub, "open_connections", "Connections of the loop open now.", loop, l, func(s eventloop.LoopStats) float64 { return float64(s.Open) }),
			counter(sub, "received_bytes_total", "Payload bytes the loop read.", loop, l, func(s eventloop.LoopStats) float64 { return float64(s.BytesIn) }),
			counter(sub, "sent_bytes_total", "Payload bytes the loop wrote.", loop, l, func(s eventloop.LoopStats) float64 { return float64(s.BytesOut) }),
			counter(sub, "received_messages_total", "Reads that returned data (datagrams received).", loop, l, func(s eventloop.LoopStats) float64 { return float64(s.MessagesIn) }),
			counter(sub, "sent_messages_total", "Writes (datagrams sent).", loop, l, func(s eventloop.LoopStats) float64 { return float64(s.MessagesOut) }),
			gauge(sub, "outbound_buffered_bytes", "Output written and not yet sent, over the loop's connections (on io_uring an idle connection's last send counts until the loop's next event).", loop, l, func(s eventloop.LoopStats) float64 { return float64(s.OutboundBuffered) }),
			counter(sub, "backpressure_pauses_total", "Times a connection's output went over the high watermark and reading stopped.", loop, l, func(s eventloop.LoopStats) float64 { return float64(s.BackpressurePauses) }),
			counter(sub, "idle_timeouts_total", "Connections closed for being idle.", loop, l, func(s eventloop.LoopStats) float64 { return float64(s.IdleTimeouts) }),
			counter(sub, "callback_panics_total", "Handler callbacks that panicked (recovered).", loop, l, func(s eventloop.LoopStats) float64 { return float64(s.Panics) }),
		},
		acceptErrors: prometheus.NewDesc(prometheus.BuildFQName(namespace, sub, "accept_errors_total"), "Failed accepts, by cause (the errno, or other).", []string{"loop", "cause"}, l),
		engine: []metric[eventloop.Stats]{
			counter(sub, "rejected_total", "Connections closed at once for MaxConns.", nil, l, func(s eventloop.Stats) float64 { return float64(s.Rejected) }),
			counter(sub, "tls_handshakes_total", "TLS handshakes that succeeded.", nil, l, func(s eventloop.Stats) float64 { return float64(s.TLSHandshakes) }),
			counter(sub, "tls_handshake_errors_total", "TLS handshakes that failed.", nil, l, func(s eventloop.Stats) float64 { return float64(s.TLSHandshakeErrors) }),
			counter(sub, "uring_cq_overflows_total", "io_uring: rounds that found the completion ring overflowed.", nil, l, func(s eventloop.Stats) float64 { return float64(s.CQOverflows) }),
			counter(sub, "uring_recv_no_buffers_total", "io_uring: multishot receives that ran out of provided buffers.", nil, l, func(s eventloop.Stats) float64 { return float64(s.RecvNoBuffers) }),
		},
		backend: prometheus.NewDesc(prometheus.BuildFQName(namespace, sub, "backend_info"), "The backend the loops run on (1 for the one in use).", []string{"backend"}, l),
	}
}

func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.perLoop {
		ch <- m.desc
	}
	ch <- c.acceptErrors
	for _, m := range c.engine {
		ch <- m.desc
	}
	ch <- c.backend
}

func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	for _, ls := range c.eng.LoopStats() {
		loop := strconv.Itoa(ls.Loop)
		for _, m := range c.perLoop {
			ch <- prometheus.MustNewConstMetric(m.desc, m.typ, m.value(ls), loop)
		}
		for i, cause := range eventloop.AcceptErrorCauses {
			ch <- prometheus.MustNewConstMetric(c.acceptErrors, prometheus.CounterValue, float64(ls.AcceptErrors[i]), loop, cause)
		}
	}
	st := c.eng.Stats()
	for _, m := range c.engine {
		ch <- prometheus.MustNewConstMetric(m.desc, m.typ, m.value(st))
	}
	b, _ := c.eng.ResolvedBackend()
	ch <- prometheus.MustNewConstMetric(c.backend, prometheus.GaugeValue, 1, string(b))
}
