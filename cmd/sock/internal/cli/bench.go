package cli

import (
	"encoding/json"
	"fmt"
	"image/color"
	"math"
	"net"
	"time"

	"github.com/spf13/cobra"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/socketkit/socketkit/internal/hist"
	"github.com/socketkit/socketkit/internal/loadgen"
)

func newBench(e *env) *cobra.Command {
	cfg := loadgen.Config{Conns: 16, Size: 64, Depth: 1, Duration: 5 * time.Second, Warmup: 500 * time.Millisecond}
	var dur, warm durationFlag
	dur.d, warm.d = cfg.Duration, cfg.Warmup
	var asJSON bool
	var png string
	var so streamOpts
	cmd := &cobra.Command{
		Use:   "bench HOST PORT | bench ADDR | bench --stream HOST PORT | bench --server",
		Short: "Drive an echo server with load and verify every echoed byte; or measure throughput as iperf3",
		Long: `bench opens -c connections to an echo server, keeps -P messages of -s
bytes in flight on each for -d, and checks every byte that comes back
against what was sent, so that a server that loses, duplicates, reorders or
corrupts data fails the run. It prints messages and megabytes per second and
latency percentiles; --json prints them as JSON, --png draws the latency
histogram. The load runs on one OS thread with its own epoll loop.

--stream measures a link in the manner of iperf3, against sock bench
--server --addr ADDR on the other end: TCP throughput for -t seconds over -P
streams, from this client (the default), from the server (-R) or both ways
at once (--bidir); with -u, UDP datagrams of -l bytes at -b bits a second,
with the losses and the jitter (RFC 3550, as iperf3 computes it) that the
receiver saw. It prints a line every -i and a summary of the sender and the
receiver; --json prints iperf3's layout, with the received throughput in
end.sum_received.bits_per_second. The server serves one test at a time.`,
		Example: `  sock serve echo &
  sock bench 127.0.0.1 6254 -c 64 -d 10s
  sock bench 127.0.0.1 6254 -c 64 -P 16 -s 4096 --json
  sock bench /tmp/echo.sock --png latency.png
  sock bench --server --addr 127.0.0.1:5201 &
  sock bench --stream 127.0.0.1 5201 -t 10 -P 4   # TCP, 4 streams
  sock bench --stream 127.0.0.1 5201 -R --json    # the server sends
  sock bench --stream 127.0.0.1 5201 -u -b 100M -l 1400   # UDP: loss and jitter`,
		Args: rangeArgs(0, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkStreamFlags(cmd, &so); err != nil {
				return err
			}
			switch {
			case so.server && len(args) > 0:
				return usagef("--server takes no HOST PORT: --addr says where to serve")
			case so.server:
				return runStreamServer(e, &so)
			case so.stream:
				return runStreamClient(e, &so, cfg.Depth, asJSON, args)
			case len(args) == 0:
				return usagef("give HOST PORT of an echo server (or --stream HOST PORT, or --server)")
			}
			o := &netOpts{maxConns: 1}
			target, err := connectTarget(o, args)
			if err != nil {
				return err
			}
			if cfg.Conns < 1 || cfg.Size < 1 || cfg.Depth < 1 {
				return usagef("-c, -s and -P must be positive")
			}
			if cfg.Size > 64<<20 {
				return usagef("-s at most 64 MiB")
			}
			cfg.Addr, cfg.Duration, cfg.Warmup = target, dur.d, warm.d
			if !o.unix {
				if host, port, err := net.SplitHostPort(target); err == nil {
					if ips, err := net.DefaultResolver.LookupNetIP(e.ctx, "ip", host); err == nil && len(ips) > 0 {
						cfg.Addr = net.JoinHostPort(ips[0].Unmap().String(), port)
					} else {
						return fmt.Errorf("unknown host %s", host)
					}
				}
			}
			res, runErr := loadgen.Run(cfg)
			if runErr != nil && res.AllMsgs == 0 {
				return runErr
			}
			// A run that fails after messages came back (a server that
			// stops answering, closes, corrupts) still prints what it
			// measured until then, and then the error.
			if runErr != nil {
				res.Errors = 1
			}
			if png != "" {
				if err := drawHistogram(png, res); err != nil {
					if runErr == nil {
						return err
					}
					png = "" // the run's error is the one to tell
				}
			}
			if asJSON {
				if err := json.NewEncoder(e.stdout).Encode(res); err != nil {
					return err
				}
				return runErr
			}
			fmt.Fprintf(e.stdout, "%s x %d B, %d in flight, %.1fs\n", plural(res.Conns, "connection"), res.Size, res.Depth, res.Seconds)
			fmt.Fprintf(e.stdout, "  %.0f msgs/s   %.2f MB/s\n", res.MsgsPerS, res.MBPerS)
			fmt.Fprintf(e.stdout, "  %d messages measured, %d in all with the warm-up: %d bytes verified, %s\n", res.Msgs, res.AllMsgs, res.Verified, plural(res.Errors, "error"))
			fmt.Fprintf(e.stdout, "  latency p50 %.1f us   p99 %.1f us   p99.9 %.1f us   max %.1f us\n", res.P50us, res.P99us, res.P999us, res.MaxUs)
			if png != "" {
				fmt.Fprintf(e.stdout, "  histogram: %s\n", png)
			}
			return runErr
		},
	}
	f := cmd.Flags()
	f.IntVarP(&cfg.Conns, "conns", "c", cfg.Conns, "connections")
	f.IntVarP(&cfg.Size, "size", "s", cfg.Size, "message size in bytes")
	f.IntVarP(&cfg.Depth, "parallel", "P", cfg.Depth, "messages in flight per connection; with --stream, parallel streams")
	f.VarP(&dur, "duration", "d", "measured time (10, 10s)")
	f.Var(&warm, "warmup", "unmeasured time first")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	f.StringVar(&png, "png", "", "draw the latency histogram into this PNG file")
	addStreamFlags(f, &so)
	return cmd
}

// drawHistogram plots the latency distribution on a log time axis.
func drawHistogram(path string, res loadgen.Result) error {
	h := res.Hist
	if h == nil || h.Count() == 0 {
		return fmt.Errorf("no latencies to draw")
	}
	// 40 buckets spread logarithmically between the 0.1st and 99.99th percentiles.
	lo := math.Max(1, float64(h.Quantile(0.001))/1e3)
	hi := math.Max(lo*2, float64(h.Quantile(0.9999))/1e3)
	const n = 40
	step := math.Pow(hi/lo, 1.0/n)
	values := make(plotter.Values, n)
	labels := make([]string, n)
	counts := bucketCounts(h, lo, step, n)
	for i := 0; i < n; i++ {
		values[i] = float64(counts[i])
		if i%8 == 0 {
			labels[i] = fmt.Sprintf("%.0f", lo*math.Pow(step, float64(i)))
		}
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("sock bench: %d conns x %d B, %d in flight: p50 %.0f us, p99 %.0f us, p99.9 %.0f us",
		res.Conns, res.Size, res.Depth, res.P50us, res.P99us, res.P999us)
	p.X.Label.Text = "latency (us, log scale)"
	p.Y.Label.Text = "messages"
	bars, err := plotter.NewBarChart(values, vg.Points(9))
	if err != nil {
		return err
	}
	bars.Color = color.RGBA{R: 40, G: 110, B: 200, A: 255}
	bars.LineStyle.Width = 0
	p.Add(bars)
	p.NominalX(labels...)
	return p.Save(10*vg.Inch, 5*vg.Inch, path)
}

// bucketCounts counts samples in n log-spaced buckets from lo (us).
func bucketCounts(h *hist.H, lo, step float64, n int) []uint64 {
	out := make([]uint64, n)
	prev := uint64(0)
	for i := 0; i < n; i++ {
		upper := time.Duration(lo * math.Pow(step, float64(i+1)) * 1e3)
		c := h.CountBelow(upper)
		if c >= prev {
			out[i] = c - prev
		}
		prev = c
	}
	return out
}
