package cli

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/cloudflare/tableflip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/metrics"
	"github.com/socketkit/socketkit/socket"
	ss "github.com/socketkit/socketkit/socketserver"
)

// sock serve --metrics ADDR: Prometheus's /metrics on ADDR, with the
// collectors of the metrics module for each server (or engine) and its
// listening socket, and the Go runtime's and the process's.

// serverCollectors are the collectors of socketserver servers, one label
// listener (the address) each.
func serverCollectors(srvs []*ss.Server) []prometheus.Collector {
	var out []prometheus.Collector
	var lns []metrics.Listener
	for _, srv := range srvs {
		name := fmt.Sprint(srv.Address())
		out = append(out, metrics.NewServerCollector(srv, prometheus.Labels{"listener": name}))
		lns = append(lns, metrics.Listener{Name: name, Socket: srv.Socket()})
	}
	return append(out, metrics.NewListenerCollector(nil, lns...))
}

// engineCollectors are the collectors of engines and their listeners.
func engineCollectors(engines []*eventloop.Engine, groups [][]*socket.Socket) []prometheus.Collector {
	var out []prometheus.Collector
	var lns []metrics.Listener
	for i, eng := range engines {
		name := groups[i][0].LocalAddr().String()
		out = append(out, metrics.NewEngineCollector(eng, prometheus.Labels{"listener": name}))
		for _, s := range groups[i] {
			lns = append(lns, metrics.Listener{Name: name, Socket: s})
		}
	}
	return append(out, metrics.NewListenerCollector(nil, lns...))
}

// startMetrics serves /metrics on addr until the returned stop is
// called. With --graceful-restart the metrics socket is handed to the
// next sock as the served ones are, so that the two can take turns on
// one port.
func startMetrics(e *env, addr string, upg *tableflip.Upgrader, cs []prometheus.Collector) (stop func(), err error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	var ln net.Listener
	if upg != nil {
		ln, err = upg.Listen("tcp", addr)
	} else {
		ln, err = net.Listen("tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(e.stderr, "sock: metrics:", err)
		}
	}()
	fmt.Fprintf(e.stderr, "sock: metrics on http://%s/metrics\n", ln.Addr())
	return func() { srv.Close(); <-done }, nil
}
