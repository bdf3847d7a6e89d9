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
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A server is how to start one echo server on a port.
type server struct {
	name  string
	about string
	cmd   func(bin string, port int) []string
}

var servers = []server{
	{"sock-goroutines", "socketserver, Goroutines dispatcher (sock serve echo --dispatcher goroutines)", func(bin string, port int) []string {
		return []string{bin + "/sock", "serve", "echo", "--dispatcher", "goroutines", "--addr", fmt.Sprintf("127.0.0.1:%d", port)}
	}},
	{"sock-loop", "the event-loop engine, 1 loop (sock serve echo --engine loop --loops 1)", func(bin string, port int) []string {
		return []string{bin + "/sock", "serve", "echo", "--engine", "loop", "--loops", "1", "--addr", fmt.Sprintf("127.0.0.1:%d", port)}
	}},
	{"stdlib", "net.Listener, a goroutine per connection, io.Copy", func(bin string, port int) []string {
		return []string{bin + "/echoserver", "-impl", "stdlib", "-addr", fmt.Sprintf("127.0.0.1:%d", port)}
	}},
	{"stdlib-rw", "net.Listener, a goroutine per connection, read/write loop", func(bin string, port int) []string {
		return []string{bin + "/echoserver", "-impl", "stdlib-rw", "-addr", fmt.Sprintf("127.0.0.1:%d", port)}
	}},
	{"gnet", "gnet v2.9.7, OnTraffic: Next(-1), Write", peer("gnet")},
	{"nbio", "nbio v1.6.8, OnData: Write", peer("nbio")},
	{"netpoll", "netpoll v0.7.2, OnRequest: Next, Malloc, Flush", peer("netpoll")},
	{"evio", "evio v1.0.8, Data returns its input", peer("evio")},
	{"python", "Python socketserver.ThreadingTCPServer, recv/sendall (bench/python/echo_server.py)", func(bin string, port int) []string {
		return []string{"python3", bin + "/../python/echo_server.py", "127.0.0.1", strconv.Itoa(port)}
	}},
	{"c-epoll", "C, one thread, level-triggered epoll, one read and one write per event (bench/c/epoll_echo.c, gcc -O2)", func(bin string, port int) []string {
		return []string{bin + "/epoll_echo", "127.0.0.1", strconv.Itoa(port)}
	}},
}

// peer is the command for a peer framework's server in echoserver.
func peer(impl string) func(bin string, port int) []string {
	return func(bin string, port int) []string {
		return []string{bin + "/echoserver", "-impl", impl, "-addr", fmt.Sprintf("127.0.0.1:%d", port)}
	}
}

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
	MsgsPerS float64 `json:"msgs_per_s"`
	MBPerS   float64 `json:"mb_per_s"`
	P50us    float64 `json:"p50_us"`
	P99us    float64 `json:"p99_us"`
	P999us   float64 `json:"p999_us"`
	Errors   int     `json:"errors"`
	Verified int64   `json:"verified_bytes"`
}

func main() {
	bin := flag.String("bin", "bin", "directory with sock, echoserver and echoload")
	names := flag.String("servers", "sock-goroutines,stdlib", "servers to compare, the first being ours")
	cellsFlag := flag.String("cells", "1x64,64x64,1000x64", "matrix cells CONNSxSIZE[xDEPTH]")
	rounds := flag.Int("rounds", 3, "rounds")
	dur := flag.Duration("d", 3*time.Second, "measured time per run")
	ref := flag.String("ref", "", "server the ratio column divides by (default: the second one)")
	rawOut := flag.String("raw", "", "also write every run as JSON lines to this file")
	flag.Parse()

	var sel []server
	for _, n := range strings.Split(*names, ",") {
		found := false
		for _, s := range servers {
			if s.name == n {
				sel, found = append(sel, s), true
			}
		}
		if !found {
			fmt.Fprintf(os.Stderr, "benchrun: unknown server %q\n", n)
			os.Exit(2)
		}
	}
	var cells []cell
	for _, c := range strings.Split(*cellsFlag, ",") {
		cl, err := parseCell(c)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchrun:", err)
			os.Exit(2)
		}
		cells = append(cells, cl)
	}
	if *ref == "" && len(sel) > 1 {
		*ref = sel[1].name
	}
	var raw *os.File
	if *rawOut != "" {
		var err error
		if raw, err = os.Create(*rawOut); err != nil {
			fmt.Fprintln(os.Stderr, "benchrun:", err)
			os.Exit(1)
		}
		defer raw.Close()
	}
	results := map[string]map[cell][]result{}
	for _, s := range sel {
		results[s.name] = map[cell][]result{}
	}
	start := time.Now()
	for r := 0; r < *rounds; r++ {
		for _, c := range cells {
			for i := range sel {
				s := sel[(i+r)%len(sel)] // rotate the order each round
				res, err := runOne(*bin, s, c, *dur)
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
	printTables(sel, cells, results, *ref, *rounds, *dur, time.Since(start))
}

// runOne starts server s, runs echoload for cell c, and stops the server.
func runOne(bin string, s server, c cell, dur time.Duration) (result, error) {
	port, err := freePort()
	if err != nil {
		return result{}, err
	}
	args := append([]string{"-c", "0"}, s.cmd(bin, port)...)
	srv := exec.Command("taskset", args...)
	srv.Stdout, srv.Stderr = nil, nil
	srv.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := srv.Start(); err != nil {
		return result{}, err
	}
	defer func() {
		syscall.Kill(-srv.Process.Pid, syscall.SIGKILL) // the whole group: prefork children too
		srv.Wait()
	}()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitListening(addr, 10*time.Second); err != nil {
		return result{}, fmt.Errorf("%s did not start: %v", s.name, err)
	}
	load := exec.Command("taskset", "-c", "1", filepath.Join(bin, "echoload"), "-addr", addr,
		"-c", strconv.Itoa(c.conns), "-s", strconv.Itoa(c.size), "-P", strconv.Itoa(c.depth),
		"-d", dur.String(), "-json")
	var out, errb bytes.Buffer
	load.Stdout, load.Stderr = &out, &errb
	lerr := load.Run()
	var res result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return res, fmt.Errorf("echoload: %v %s", lerr, errb.String())
	}
	if lerr != nil {
		return res, fmt.Errorf("echoload: %v %s", lerr, strings.TrimSpace(errb.String()))
	}
	return res, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitListening(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			time.Sleep(50 * time.Millisecond) // let the server settle after the probe
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
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

func printTables(sel []server, cells []cell, results map[string]map[cell][]result, ref string, rounds int, dur, took time.Duration) {
	host, _ := os.Hostname()
	fmt.Printf("Measured %s on %s (%d CPUs, %s, %s), in %v: servers on CPU 0, echoload on CPU 1, %d interleaved rounds of %v per run, medians.\n\n",
		time.Now().UTC().Format("2006-01-02"), host, runtime.NumCPU(), runtime.GOOS, cpuModel(), took.Round(time.Second), rounds, dur)
	fmt.Printf("Command: `cd bench && go run ./cmd/benchrun %s`\n\n", strings.Join(os.Args[1:], " "))
	fmt.Print("| cell |")
	for _, s := range sel {
		fmt.Printf(" %s msgs/s |", s.name)
	}
	if ref != "" {
		fmt.Printf(" %s ÷ %s, median of rounds (range) |", sel[0].name, ref)
	}
	fmt.Print(" p99 µs (")
	for i, s := range sel {
		if i > 0 {
			fmt.Print(", ")
		}
		fmt.Print(s.name)
	}
	fmt.Println(") | errors |")
	fmt.Print("|---|")
	for range sel {
		fmt.Print("---:|")
	}
	if ref != "" {
		fmt.Print("---:|")
	}
	fmt.Println("---|---:|")
	for _, c := range cells {
		fmt.Printf("| %v |", c)
		errs := 0
		for _, s := range sel {
			fmt.Printf(" %.0f |", field(results[s.name][c], func(r result) float64 { return r.MsgsPerS }))
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
				fmt.Printf(" %.2f× (%.2f-%.2f) |", median(ratios), ratios[0], ratios[len(ratios)-1])
			} else {
				fmt.Print(" - |")
			}
		}
		var p99s []string
		for _, s := range sel {
			p99s = append(p99s, fmt.Sprintf("%.0f", field(results[s.name][c], func(r result) float64 { return r.P99us })))
		}
		fmt.Printf(" %s | %d |\n", strings.Join(p99s, ", "), errs)
	}
	fmt.Println()
	for _, s := range sel {
		fmt.Printf("- `%s`: %s\n", s.name, s.about)
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
