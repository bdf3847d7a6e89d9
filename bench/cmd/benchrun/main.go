// Command benchrun runs echo servers against echoload over a matrix of
// connection counts, message sizes and in-flight depths, and prints
// markdown tables of the medians.
//
// Each server runs pinned to CPU 0 and the load generator to CPU 1. A
// server is started fresh for each cell. Within a round every server runs
// every cell, in an order that rotates from round to round, so that drift
// in the machine's speed hits all servers alike; the table reports the
// median over the rounds.
//
//	benchrun -servers sock-goroutines,stdlib -cells 1x64,64x64,1000x64 -rounds 5 -d 3s
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

type cell struct {
	conns, size, depth int
}

func (c cell) String() string {
	s := fmt.Sprintf("%d conns x %d B", c.conns, c.size)
	if c.depth > 1 {
		s += fmt.Sprintf(", %d in flight", c.depth)
	}
	return s
}

// parseCell reads "CONNSxSIZE" or "CONNSxSIZExDEPTH".
func parseCell(s string) (cell, error) {
	f := strings.Split(s, "x")
	if len(f) < 2 || len(f) > 3 {
		return cell{}, fmt.Errorf("bad cell %q: want CONNSxSIZE[xDEPTH]", s)
	}
	var v [3]int
	v[2] = 1
	for i, x := range f {
		n, err := strconv.Atoi(x)
		if err != nil || n <= 0 {
			return cell{}, fmt.Errorf("bad cell %q", s)
		}
		v[i] = n
	}
	return cell{v[0], v[1], v[2]}, nil
}

type result struct {
	Msgs     int64   `json:"msgs"`
	MsgsPerS float64 `json:"msgs_per_s"`
	MBPerS   float64 `json:"mb_per_s"`
	P50us    float64 `json:"p50_us"`
	P99us    float64 `json:"p99_us"`
	P999us   float64 `json:"p999_us"`
	Errors   int     `json:"errors"`
	Verified int64   `json:"verified_bytes"`
}

func main() {
	args := os.Args[1:]
	sub := "echo"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "echo":
		echoMain(args)
	case "all":
		allMain(args)
	case "report":
		reportMain(args)
	case "tls":
		tlsMain(args)
	default:
		fmt.Fprintf(os.Stderr, "benchrun: unknown command %q (echo, all, report, tls)\n", sub)
		os.Exit(2)
	}
}

// selectServers looks up servers by name.
func selectServers(names string) ([]server, error) {
	var sel []server
	for _, n := range strings.Split(names, ",") {
		found := false
		for _, s := range servers {
			if s.name == n {
				sel, found = append(sel, s), true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown server %q", n)
		}
	}
	return sel, nil
}

func parseCells(list string) ([]cell, error) {
	var cells []cell
	for _, c := range strings.Split(list, ",") {
		cl, err := parseCell(c)
		if err != nil {
			return nil, err
		}
		cells = append(cells, cl)
	}
	return cells, nil
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "benchrun:", err)
	os.Exit(1)
}

// echoMain compares servers over a matrix and prints markdown tables.
func echoMain(args []string) {
	fs := flag.NewFlagSet("echo", flag.ExitOnError)
	bin := fs.String("bin", "bin", "directory with sock, echoserver, echoload and epoll_echo")
	names := fs.String("servers", "sock-goroutines,stdlib", "servers to compare, the first being ours")
	cellsFlag := fs.String("cells", "1x64,64x64,1000x64", "matrix cells CONNSxSIZE[xDEPTH]")
	rounds := fs.Int("rounds", 3, "rounds")
	dur := fs.Duration("d", 3*time.Second, "measured time per run")
	ref := fs.String("ref", "", "server the ratio column divides by (default: the second one)")
	rawOut := fs.String("raw", "", "also write every run as JSON lines to this file")
	fs.Parse(args)
	sel, err := selectServers(*names)
	if err != nil {
		fatal(err)
	}
	cells, err := parseCells(*cellsFlag)
	if err != nil {
		fatal(err)
	}
	if *ref == "" && len(sel) > 1 {
		*ref = sel[1].name
	}
	start := time.Now()
	results, err := runMatrix(*bin, sel, cells, *rounds, *dur, *rawOut)
	if err != nil {
		fatal(err)
	}
	printTables(os.Stdout, sel, cells, results, *ref, *rounds, *dur, time.Since(start))
}

// matrix holds every run: server -> cell -> one result per round.
type matrix map[string]map[cell][]result

// runMatrix runs every server on every cell, rounds times, rotating the
// order of the servers from round to round.
func runMatrix(bin string, sel []server, cells []cell, rounds int, dur time.Duration, rawOut string) (matrix, error) {
	var raw *os.File
	if rawOut != "" {
		var err error
		if raw, err = os.Create(rawOut); err != nil {
			return nil, err
		}
		defer raw.Close()
	}
	results := matrix{}
	for _, s := range sel {
		results[s.name] = map[cell][]result{}
	}
	for r := 0; r < rounds; r++ {
		for _, c := range cells {
			for i := range sel {
				s := sel[(i+r)%len(sel)] // rotate the order each round
				res, err := runOne(bin, s, c, dur)
				if err != nil {
					fmt.Fprintf(os.Stderr, "benchrun: round %d %s %v: %v\n", r+1, s.name, c, err)
					res.Errors++
				}
				fmt.Fprintf(os.Stderr, "round %d  %-16s %-28v %10.0f msgs/s  p99 %8.1fus  errors %d\n", r+1, s.name, c, res.MsgsPerS, res.P99us, res.Errors)
				results[s.name][c] = append(results[s.name][c], res)
				if raw != nil {
					json.NewEncoder(raw).Encode(map[string]any{"round": r + 1, "server": s.name, "conns": c.conns, "size": c.size, "depth": c.depth, "result": res})
				}
			}
		}
	}
	return results, nil
}

// runOne starts server s, runs echoload for cell c, and stops the server.
func runOne(bin string, s server, c cell, dur time.Duration) (result, error) {
	p, err := launch(bin, s)
	if err != nil {
		return result{}, err
	}
	defer p.stop()
	return load(bin, "-addr", p.addr, "-c", strconv.Itoa(c.conns), "-s", strconv.Itoa(c.size),
		"-P", strconv.Itoa(c.depth), "-d", dur.String())
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func field(rs []result, f func(result) float64) float64 {
	var xs []float64
	for _, r := range rs {
		if r.Errors == 0 {
			xs = append(xs, f(r))
		}
	}
	return median(xs)
}

func printTables(w io.Writer, sel []server, cells []cell, results matrix, ref string, rounds int, dur, took time.Duration) {
	host, _ := os.Hostname()
	fmt.Fprintf(w, "Measured %s on %s (%d CPUs, %s, %s), in %v: servers on CPU 0, echoload on CPU 1, %d interleaved rounds of %v per run, medians.\n\n",
		time.Now().UTC().Format("2006-01-02"), host, runtime.NumCPU(), runtime.GOOS, cpuModel(), took.Round(time.Second), rounds, dur)
	fmt.Fprintf(w, "Command: `cd bench && go run ./cmd/benchrun %s`\n\n", strings.Join(os.Args[1:], " "))
	fmt.Fprint(w, "| cell |")
	for _, s := range sel {
		fmt.Fprintf(w, " %s msgs/s |", s.name)
	}
	if ref != "" {
		fmt.Fprintf(w, " %s ÷ %s, median of rounds (range) |", sel[0].name, ref)
	}
	fmt.Fprint(w, " p99 µs (")
	for i, s := range sel {
		if i > 0 {
			fmt.Fprint(w, ", ")
		}
		fmt.Fprint(w, s.name)
	}
	fmt.Fprintln(w, ") | errors |")
	fmt.Fprint(w, "|---|")
	for range sel {
		fmt.Fprint(w, "---:|")
	}
	if ref != "" {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w, "---|---:|")
	for _, c := range cells {
		fmt.Fprintf(w, "| %v |", c)
		errs := 0
		for _, s := range sel {
			fmt.Fprintf(w, " %.0f |", field(results[s.name][c], func(r result) float64 { return r.MsgsPerS }))
			for _, r := range results[s.name][c] {
				errs += r.Errors
			}
		}
		if ref != "" {
			// The ratio of each round, whose runs shared the machine's state,
			// then the median of those: drift between rounds cancels out.
			ours, theirs := results[sel[0].name][c], results[ref][c]
			var ratios []float64
			for i := range ours {
				if i < len(theirs) && ours[i].Errors == 0 && theirs[i].Errors == 0 && theirs[i].MsgsPerS > 0 {
					ratios = append(ratios, ours[i].MsgsPerS/theirs[i].MsgsPerS)
				}
			}
			if len(ratios) > 0 {
				sort.Float64s(ratios)
				fmt.Fprintf(w, " %.2f× (%.2f-%.2f) |", median(ratios), ratios[0], ratios[len(ratios)-1])
			} else {
				fmt.Fprint(w, " - |")
			}
		}
		var p99s []string
		for _, s := range sel {
			p99s = append(p99s, fmt.Sprintf("%.0f", field(results[s.name][c], func(r result) float64 { return r.P99us })))
		}
		fmt.Fprintf(w, " %s | %d |\n", strings.Join(p99s, ", "), errs)
	}
	fmt.Fprintln(w)
	for _, s := range sel {
		fmt.Fprintf(w, "- `%s`: %s\n", s.name, s.about)
	}
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "unknown CPU"
}
