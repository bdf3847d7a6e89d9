//go:build linux

package metrics_test

import (
	"net"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/socketkit/socketkit/metrics"
	"github.com/socketkit/socketkit/socket"
)

// TestListenerCollectorReusePort: SO_REUSEPORT listeners of one address
// (sock serve --engine loop --reuseport: one a loop) carry the same name;
// a scrape must still succeed, with one series for the address whose
// queue length and limit are the sums of its sockets'. Two series with
// the same labels fail the whole scrape in client_golang.
func TestListenerCollectorReusePort(t *testing.T) {
	opts := &socket.ListenOptions{Backlog: 16, ReusePort: true}
	a, err := socket.Listen("tcp", "127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	addr := a.LocalAddr().String()
	b, err := socket.Listen("tcp", addr, &socket.ListenOptions{Backlog: 32, ReusePort: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// Three connections wait in the two queues, unaccepted.
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics.NewListenerCollector(nil,
		metrics.Listener{Name: addr, Socket: a}, metrics.Listener{Name: addr, Socket: b}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("scrape failed: %v", err)
	}
	got := map[string][]*dto.Metric{}
	for _, mf := range mfs {
		got[mf.GetName()] = mf.GetMetric()
	}
	for name, want := range map[string]float64{
		"socketkit_listener_accept_queue_limit":  16 + 32,
		"socketkit_listener_accept_queue_length": 3,
	} {
		ms := got[name]
		if len(ms) != 1 {
			t.Fatalf("%s: %d series, want 1 for %s", name, len(ms), addr)
		}
		if v := ms[0].GetGauge().GetValue(); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
}
