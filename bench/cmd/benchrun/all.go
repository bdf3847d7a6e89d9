package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"time"
)

// The suite: what issue 4 asks the engine to be measured on.
const (
	ours      = "sock-loop"
	oursURing = "sock-uring" // the engine on io_uring (issue 12)
	cFloor    = "c-epoll"
	suiteEcho = "sock-loop,sock-uring,sock-goroutines,gnet,nbio,netpoll,evio,stdlib,python,c-epoll"
	goPeers   = "gnet,nbio,netpoll,evio,stdlib"
	suiteSlow = "sock-loop,sock-uring,sock-goroutines,gnet,nbio,netpoll,evio,stdlib"
	// stdlib-rw, not stdlib: io.Copy between two sockets splices through
	// a pipe, three descriptors a connection, which is not what an idle
	// goroutine-per-connection server costs.
	suiteIdle = "sock-loop,sock-uring,sock-goroutines,gnet,nbio,netpoll,evio,stdlib-rw,python,c-epoll"
	idleConns = 10000
	slowBound = 64 << 10 // kB: the RSS the engine must stay under with a slow reader
)

var (
	suiteCells   = "1x64,64x64,1000x64,1x4096,64x4096,1000x4096,64x64x16"
	syscallCells = []struct {
		cell
		n int64
	}{{cell{1, 64, 1}, 20000}, {cell{64, 64, 16}, 200000}, {cell{1000, 64, 1}, 100000}, {cell{64, 64, 1}, 100000}} // new cells go last: results/suite.json indexes them
	httpCells   = []httpCell{{Conns: 256, Pipeline: 16}, {Conns: 64, Pipeline: 1}}
	acceptCells = []httpCell{{Conns: 64, Pipeline: 1, Close: true}, {Conns: 256, Pipeline: 16}}
)

// suite is everything one run measured, also written as JSON.
type suite struct {
	Date, Host, CPU, Kernel, GoVersion, Command string
	Took                                        time.Duration
	Rounds                                      int
	Dur                                         time.Duration
	Servers                                     []string
	Cells                                       []cell                `json:"-"`
	CellNames                                   []string              `json:"cells"` // CONNSxSIZExDEPTH
	Echo                                        matrix                `json:"-"`
	EchoJSON                                    map[string][][]result `json:"echo"` // server -> cell index -> rounds
	Syscalls                                    map[string][]syscallCount
	Idle                                        map[string]idleResult
	Slow                                        map[string]slowResult
	HTTP                                        map[string][][]httpResult // server -> cell -> rounds
	Accept                                      map[string][][]httpResult // acceptServers -> acceptCells -> rounds
}

func allMain(args []string) {
	fs := flag.NewFlagSet("all", flag.ExitOnError)
	bin := fs.String("bin", "bin", "directory with sock, echoserver, echoload and epoll_echo")
	rounds := fs.Int("rounds", 3, "rounds of the echo matrix and of the HTTP runs")
	dur := fs.Duration("d", 3*time.Second, "measured time per run")
	partsFlag := fs.String("only", "echo,syscalls,idle,slow,http,accept", "parts to run")
	update := fs.String("update", "", "replace the generated section of this markdown file (BENCHMARKS.md)")
	charts := fs.String("charts", "", "write PNG charts into this directory")
	jsonOut := fs.String("json", "", "write every measurement as JSON to this file")
	cellsFlag := fs.String("cells", suiteCells, "echo matrix cells")
	only := fs.String("servers", "", "run only these servers (for a quick look; the report's targets need all)")
	fs.Parse(args)
	pick := func(list string) []server {
		sel, _ := selectServers(list)
		if *only == "" {
			return sel
		}
		var out []server
		for _, s := range sel {
			if strings.Contains(","+*only+",", ","+s.name+",") {
				out = append(out, s)
			}
		}
		return out
	}
	parts := map[string]bool{}
	for _, p := range strings.Split(*partsFlag, ",") {
		parts[p] = true
	}
	start := time.Now()
	host, _ := os.Hostname()
	su := &suite{Date: start.UTC().Format("2006-01-02"), Host: host, CPU: cpuModel(), Kernel: kernel(),
		GoVersion: runtime.Version(), Rounds: *rounds, Dur: *dur,
		Command: "cd bench && ./run.sh " + strings.Join(args, " ")}
	if parts["echo"] {
		sel := pick(suiteEcho)
		cells, err := parseCells(*cellsFlag)
		if err != nil {
			fatal(err)
		}
		su.Cells = cells
		for _, c := range cells {
			su.CellNames = append(su.CellNames, fmt.Sprintf("%dx%dx%d", c.conns, c.size, c.depth))
		}
		for _, s := range sel {
			su.Servers = append(su.Servers, s.name)
		}
		if su.Echo, err = runMatrix(*bin, sel, cells, *rounds, *dur, ""); err != nil {
			fatal(err)
		}
		su.EchoJSON = map[string][][]result{}
		for name, byCell := range su.Echo {
			for _, c := range cells {
				su.EchoJSON[name] = append(su.EchoJSON[name], byCell[c])
			}
		}
	}
	if parts["syscalls"] {
		su.Syscalls = map[string][]syscallCount{}
		for _, s := range pick(suiteEcho) {
			for _, sc := range syscallCells {
				r, err := countSyscalls(*bin, s, sc.cell, sc.n)
				if err != nil {
					fmt.Fprintf(os.Stderr, "benchrun: syscalls %s %v: %v\n", s.name, sc.cell, err)
				}
				fmt.Fprintf(os.Stderr, "syscalls %-16s %-28v %6.2f a message (%d in %d)\n", s.name, sc.cell, r.PerMsg(), r.Total, r.Msgs)
				su.Syscalls[s.name] = append(su.Syscalls[s.name], r)
			}
		}
	}
	if parts["idle"] {
		su.Idle = map[string]idleResult{}
		for _, s := range pick(suiteIdle) {
			r, err := idleMemory(*bin, s, idleConns)
			if err != nil {
				fmt.Fprintf(os.Stderr, "benchrun: idle %s: %v\n", s.name, err)
				continue
			}
			fmt.Fprintf(os.Stderr, "idle %-16s %8.3f kB a connection (RSS %d -> %d kB)\n", s.name, r.PerConnKB, r.BeforeKB, r.AfterKB)
			su.Idle[s.name] = r
		}
	}
	if parts["slow"] {
		su.Slow = map[string]slowResult{}
		for _, s := range pick(suiteSlow) {
			r, err := slowReader(*bin, s, *dur)
			if err != nil {
				fmt.Fprintf(os.Stderr, "benchrun: slow reader %s: %v\n", s.name, err)
				continue
			}
			fmt.Fprintf(os.Stderr, "slow %-16s offered %7.1f MB, peak RSS %7d kB (from %d), others %0.f -> %.0f msgs/s\n",
				s.name, r.OfferedMB, r.PeakKB, r.RSSBeforeKB, r.BaselineMsgs, r.DuringMsgs)
			su.Slow[s.name] = r
		}
	}
	if parts["http"] || parts["accept"] {
		if _, err := exec.LookPath("wrk"); err != nil {
			fmt.Fprintln(os.Stderr, "benchrun: no wrk (apt-get install wrk): HTTP skipped")
		} else {
			if parts["http"] {
				su.HTTP = wrkRounds(*bin, httpServers, httpCells, *rounds, *dur)
			}
			if parts["accept"] {
				su.Accept = wrkRounds(*bin, acceptServers, acceptCells, *rounds, *dur)
			}
		}
	}
	su.Took = time.Since(start).Round(time.Second)
	finish(su, *charts, *jsonOut, *update)
}

// wrkRounds runs every server on every cell, rounds times, rotating the
// order of the servers.
func wrkRounds(bin string, sel []server, cells []httpCell, rounds int, dur time.Duration) map[string][][]httpResult {
	out := map[string][][]httpResult{}
	for _, s := range sel {
		out[s.name] = make([][]httpResult, len(cells))
	}
	for r := 0; r < rounds; r++ {
		for ci, c := range cells {
			for i := range sel {
				s := sel[(i+r)%len(sel)]
				res, err := runWrk(bin, s, c, dur)
				if err != nil {
					fmt.Fprintf(os.Stderr, "benchrun: http %s %v: %v\n", s.name, c, err)
					res.Errors++
				}
				fmt.Fprintf(os.Stderr, "http round %d %-20s %-34v %10.0f req/s  p99 %8.0fus  errors %d\n", r+1, s.name, c, res.ReqPerS, res.P99us, res.Errors)
				out[s.name][ci] = append(out[s.name][ci], res)
			}
		}
	}
	return out
}

// finish writes what a run measured: JSON first (so nothing is lost),
// then the report to stdout and into the markdown file, then the charts.
func finish(su *suite, charts, jsonOut, update string) {
	if jsonOut != "" {
		b, _ := json.MarshalIndent(su, "", "  ")
		if err := os.WriteFile(jsonOut, b, 0o644); err != nil {
			fatal(err)
		}
	}
	var md bytes.Buffer
	writeReport(&md, su)
	os.Stdout.Write(md.Bytes())
	if update != "" {
		if err := replaceSection(update, md.Bytes()); err != nil {
			fatal(err)
		}
	}
	if charts != "" {
		if err := writeCharts(charts, su); err != nil {
			fatal(err)
		}
	}
}

// reportMain rewrites the report and charts from a run's JSON.
func reportMain(args []string) {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	in := fs.String("json", "results/suite.json", "the run to report; a comma-separated list merges partial runs (the first one's header wins)")
	update := fs.String("update", "", "replace the generated section of this markdown file")
	charts := fs.String("charts", "", "write PNG charts into this directory")
	fs.Parse(args)
	su := &suite{}
	for i, file := range strings.Split(*in, ",") {
		b, err := os.ReadFile(file)
		if err != nil {
			fatal(err)
		}
		part := &suite{}
		if err := json.Unmarshal(b, part); err != nil {
			fatal(fmt.Errorf("%s: %v", file, err))
		}
		if i == 0 {
			*su = *part
			continue
		}
		su.Took += part.Took
		if su.EchoJSON == nil {
			su.EchoJSON, su.CellNames, su.Servers = part.EchoJSON, part.CellNames, part.Servers
		}
		if su.Syscalls == nil {
			su.Syscalls = part.Syscalls
		}
		if su.Idle == nil {
			su.Idle = part.Idle
		}
		if su.Slow == nil {
			su.Slow = part.Slow
		}
		if su.HTTP == nil {
			su.HTTP = part.HTTP
		}
		if su.Accept == nil {
			su.Accept = part.Accept
		}
	}
	if len(su.CellNames) > 0 {
		su.Echo = matrix{}
		for _, name := range su.CellNames {
			c, err := parseCell(name)
			if err != nil {
				fatal(err)
			}
			su.Cells = append(su.Cells, c)
		}
		for srv, byCell := range su.EchoJSON {
			su.Echo[srv] = map[cell][]result{}
			for i, rs := range byCell {
				if i < len(su.Cells) {
					su.Echo[srv][su.Cells[i]] = rs
				}
			}
		}
	}
	finish(su, *charts, "", *update)
}

const (
	beginMark = "<!-- benchrun all: begin (generated by bench/run.sh; edits here are overwritten) -->"
	endMark   = "<!-- benchrun all: end -->"
)

// replaceSection puts md between the markers of file, or appends it.
func replaceSection(file string, md []byte) error {
	old, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	section := beginMark + "\n\n" + string(md) + "\n" + endMark
	s := string(old)
	i, j := strings.Index(s, beginMark), strings.Index(s, endMark)
	if i >= 0 && j > i {
		s = s[:i] + section + s[j+len(endMark):]
	} else {
		s = strings.TrimRight(s, "\n") + "\n\n" + section + "\n"
	}
	return os.WriteFile(file, []byte(s), 0o644)
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

// roundRatios is a/b for each round where both ran cleanly.
func roundRatios(a, b []result) []float64 {
	var rs []float64
	for i := range a {
		if i < len(b) && a[i].Errors == 0 && b[i].Errors == 0 && b[i].MsgsPerS > 0 {
			rs = append(rs, a[i].MsgsPerS/b[i].MsgsPerS)
		}
	}
	sort.Float64s(rs)
	return rs
}

// bestPeerRatios is, for each round, ours divided by the fastest Go peer of
// that round, and the name of the peer fastest by median.
func bestPeerRatios(m matrix, c cell) ([]float64, string) {
	peers := strings.Split(goPeers, ",")
	var rs []float64
	for i, r := range m[ours][c] {
		best := 0.0
		for _, p := range peers {
			if pr := m[p][c]; i < len(pr) && pr[i].Errors == 0 && pr[i].MsgsPerS > best {
				best = pr[i].MsgsPerS
			}
		}
		if r.Errors == 0 && best > 0 {
			rs = append(rs, r.MsgsPerS/best)
		}
	}
	sort.Float64s(rs)
	bestName, bestMed := "", 0.0
	for _, p := range peers {
		if v := field(m[p][c], func(r result) float64 { return r.MsgsPerS }); v > bestMed {
			bestName, bestMed = p, v
		}
	}
	return rs, bestName
}

func geomean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += math.Log(x)
	}
	return math.Exp(s / float64(len(xs)))
}
