package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

func yesNo(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**missed**"
}

func rangeStr(rs []float64) string {
	if len(rs) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f× (%.2f–%.2f)", median(rs), rs[0], rs[len(rs)-1])
}

// writeReport writes the suite's markdown: the targets first, then every
// figure they come from.
func writeReport(w io.Writer, su *suite) {
	fmt.Fprintf(w, "## The event-loop engine against gnet, nbio, netpoll, evio, the stdlib, Python and C\n\n")
	fmt.Fprintf(w, "Measured %s on %s: %s, 2 CPUs, Linux %s, %s; %d rounds of %v a run; took %v.\n",
		su.Date, su.Host, su.CPU, su.Kernel, su.GoVersion, su.Rounds, su.Dur, su.Took)
	fmt.Fprintf(w, "Command: `%s`. Every server runs pinned to CPU 0 and every load generator\n", shownCommand(su.Command))
	fmt.Fprintf(w, "(echoload, wrk) to CPU 1; a server is started fresh for every run; servers are\n")
	fmt.Fprintf(w, "interleaved within a round, in an order that rotates between rounds; figures are medians\n")
	fmt.Fprintf(w, "and ratios are medians of per-round ratios, with their range.\n\n")
	writeTargets(w, su)
	if su.Echo != nil {
		writeEcho(w, su)
	}
	if su.Syscalls != nil {
		writeSyscalls(w, su)
	}
	if su.Idle != nil {
		writeIdle(w, su)
	}
	if su.Slow != nil {
		writeSlow(w, su)
	}
	if su.HTTP != nil {
		writeHTTP(w, su)
	}
	if su.Accept != nil {
		writeAccept(w, su)
	}
}

func writeTargets(w io.Writer, su *suite) {
	fmt.Fprintf(w, "### Targets\n\n| target | measured | |\n|---|---|---|\n")
	if su.Echo != nil {
		worst, worstCell, all := 1e9, "", true
		var cRatios []float64
		p99ok, p99worst := true, ""
		for _, c := range su.Cells {
			rs, _ := bestPeerRatios(su.Echo, c)
			if m := median(rs); len(rs) > 0 && m < worst {
				worst, worstCell = m, c.String()
			}
			if len(rs) == 0 || median(rs) < 1.0 {
				all = false
			}
			if cr := roundRatios(su.Echo[ours][c], su.Echo[cFloor][c]); len(cr) > 0 {
				cRatios = append(cRatios, median(cr))
			}
			op := field(su.Echo[ours][c], func(r result) float64 { return r.P99us })
			gp := field(su.Echo["gnet"][c], func(r result) float64 { return r.P99us })
			if op > gp {
				p99ok = false
				p99worst += fmt.Sprintf("%s: %.0f vs %.0f µs; ", c, op, gp)
			}
		}
		fmt.Fprintf(w, "| engine ÷ best Go peer ≥ 1.00× in every echo cell | lowest %.2f× (%s) | %s |\n", worst, worstCell, yesNo(all))
		g := geomean(cRatios)
		fmt.Fprintf(w, "| geomean of engine ÷ C epoll floor over the matrix ≥ 1.00× | %.2f× | %s |\n", g, yesNo(g >= 1.0))
		p99 := "no worse in any cell"
		if !p99ok {
			p99 = "worse in " + strings.TrimSuffix(p99worst, "; ")
		}
		fmt.Fprintf(w, "| p99 no worse than gnet's | %s | %s |\n", p99, yesNo(p99ok))
	}
	if su.Syscalls != nil {
		ok, parts := true, []string{}
		for i, sc := range syscallCells {
			o, c := su.Syscalls[ours], su.Syscalls[cFloor]
			if i < len(o) && i < len(c) {
				parts = append(parts, fmt.Sprintf("%v: %.2f vs %.2f", sc.cell, o[i].PerMsg(), c[i].PerMsg()))
				if o[i].PerMsg() > c[i].PerMsg() || o[i].Total == 0 {
					ok = false
				}
			}
		}
		fmt.Fprintf(w, "| system calls a message ≤ the C floor's | %s | %s |\n", strings.Join(parts, "; "), yesNo(ok))
	}
	if su.Idle != nil {
		r, ok := su.Idle[ours]
		fmt.Fprintf(w, "| idle memory ≤ 0.25 kB a connection at %d connections | %.3f kB | %s |\n", idleConns, r.PerConnKB, yesNo(ok && r.PerConnKB <= 0.25))
	}
	writeURingTargets(w, su)
	if su.Slow != nil {
		r, ok := su.Slow[ours]
		keep := 0.0
		if r.BaselineMsgs > 0 {
			keep = r.DuringMsgs / r.BaselineMsgs
		}
		met := ok && r.PeakKB < slowBound && keep >= 0.9
		fmt.Fprintf(w, "| slow reader: RSS under %d MB, the other clients keep ≥ 0.9× their throughput | peak RSS %.1f MB, others at %.2f× | %s |\n",
			slowBound>>10, float64(r.PeakKB)/1024, keep, yesNo(met))
	}
	fmt.Fprintln(w)
}

// writeURingTargets writes the targets of the engine on io_uring (issue
// 12) that the suite measures; server CPU a message comes from
// bench/perfstat.sh.
func writeURingTargets(w io.Writer, su *suite) {
	if su.Echo != nil && su.Echo[oursURing] != nil {
		var cRatios []float64
		worst, worstCell := 1e9, ""
		for _, c := range su.Cells {
			if cr := roundRatios(su.Echo[oursURing][c], su.Echo[cFloor][c]); len(cr) > 0 {
				cRatios = append(cRatios, median(cr))
			}
			if er := roundRatios(su.Echo[oursURing][c], su.Echo[ours][c]); len(er) > 0 && median(er) < worst {
				worst, worstCell = median(er), c.String()
			}
		}
		g := geomean(cRatios)
		fmt.Fprintf(w, "| io_uring: geomean of engine ÷ C epoll floor over the matrix ≥ 1.00× | %.2f× | %s |\n", g, yesNo(g >= 1.0))
		fmt.Fprintf(w, "| io_uring: no cell below 0.90× the epoll engine | lowest %.2f× (%s) | %s |\n", worst, worstCell, yesNo(worst >= 0.9))
	}
	if su.Syscalls != nil && su.Syscalls[oursURing] != nil {
		ok, parts := true, []string{}
		for i, sc := range syscallCells {
			if sc.size != 64 || sc.depth != 1 || sc.conns < 64 {
				continue // the target's cells: 64 and 1000 connections x 64 B
			}
			o, c := su.Syscalls[oursURing], su.Syscalls[cFloor]
			if i < len(o) && i < len(c) && c[i].PerMsg() > 0 {
				parts = append(parts, fmt.Sprintf("%v: %.2f vs %.2f (%.2f×)", sc.cell, o[i].PerMsg(), c[i].PerMsg(), o[i].PerMsg()/c[i].PerMsg()))
				if o[i].PerMsg() > 0.25*c[i].PerMsg() || o[i].Total == 0 {
					ok = false
				}
			}
		}
		fmt.Fprintf(w, "| io_uring: system calls a message ≤ 0.25× the C floor's | %s | %s |\n", strings.Join(parts, "; "), yesNo(ok))
	}
	if su.Idle != nil {
		if r, ok := su.Idle[oursURing]; ok {
			fmt.Fprintf(w, "| io_uring: idle memory ≤ 0.25 kB a connection at %d connections | %.3f kB | %s |\n", idleConns, r.PerConnKB, yesNo(r.PerConnKB <= 0.25))
		}
	}
	if su.Slow != nil {
		if r, ok := su.Slow[oursURing]; ok {
			keep := 0.0
			if r.BaselineMsgs > 0 {
				keep = r.DuringMsgs / r.BaselineMsgs
			}
			fmt.Fprintf(w, "| io_uring: slow reader: RSS under %d MB, the other clients keep ≥ 0.9× their throughput | peak RSS %.1f MB, others at %.2f× | %s |\n",
				slowBound>>10, float64(r.PeakKB)/1024, keep, yesNo(r.PeakKB < slowBound && keep >= 0.9))
		}
	}
}

func writeEcho(w io.Writer, su *suite) {
	fmt.Fprintf(w, "### Echo: messages a second\n\n")
	fmt.Fprintf(w, "echoload keeps DEPTH messages in flight on each connection and checks every byte that comes back. ")
	fmt.Fprintf(w, "Columns are servers; then the engine (`%s`) divided by the fastest Go peer of each round (%s) and by the C floor, and the engine on io_uring (`%s`) divided by the C floor and by the engine on epoll.\n\n", ours, strings.ReplaceAll(goPeers, ",", ", "), oursURing)
	fmt.Fprint(w, "| cell |")
	for _, s := range su.Servers {
		fmt.Fprintf(w, " %s |", s)
	}
	uring := su.Echo[oursURing] != nil
	fmt.Fprint(w, " engine ÷ best Go peer | engine ÷ C |")
	if uring {
		fmt.Fprint(w, " io_uring ÷ C | io_uring ÷ epoll engine |")
	}
	fmt.Fprint(w, "\n|---|")
	for range su.Servers {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprint(w, "---:|---:|")
	if uring {
		fmt.Fprint(w, "---:|---:|")
	}
	fmt.Fprintln(w)
	errs := 0
	for _, c := range su.Cells {
		fmt.Fprintf(w, "| %v |", c)
		for _, s := range su.Servers {
			fmt.Fprintf(w, " %.0f |", field(su.Echo[s][c], func(r result) float64 { return r.MsgsPerS }))
			for _, r := range su.Echo[s][c] {
				errs += r.Errors
			}
		}
		rs, best := bestPeerRatios(su.Echo, c)
		fmt.Fprintf(w, " %s vs %s | %s |", rangeStr(rs), best, rangeStr(roundRatios(su.Echo[ours][c], su.Echo[cFloor][c])))
		if uring {
			fmt.Fprintf(w, " %s | %s |", rangeStr(roundRatios(su.Echo[oursURing][c], su.Echo[cFloor][c])), rangeStr(roundRatios(su.Echo[oursURing][c], su.Echo[ours][c])))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\nRuns with an error (a byte that came back wrong, a reset, a timeout): %d.\n\n", errs)
	fmt.Fprintf(w, "p99 latency (µs), send to last byte back:\n\n| cell |")
	for _, s := range su.Servers {
		fmt.Fprintf(w, " %s |", s)
	}
	fmt.Fprint(w, "\n|---|")
	for range su.Servers {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w)
	for _, c := range su.Cells {
		fmt.Fprintf(w, "| %v |", c)
		for _, s := range su.Servers {
			fmt.Fprintf(w, " %.0f |", field(su.Echo[s][c], func(r result) float64 { return r.P99us }))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	for _, s := range su.Servers {
		for _, sv := range servers {
			if sv.name == s {
				fmt.Fprintf(w, "- `%s`: %s\n", s, sv.about)
			}
		}
	}
	fmt.Fprintln(w)
}

func writeSyscalls(w io.Writer, su *suite) {
	fmt.Fprintf(w, "### System calls a message\n\n")
	fmt.Fprintf(w, "`strace -c -f` attached to every thread of the server while echoload sends a fixed number of messages; ")
	fmt.Fprintf(w, "everything the process does in that time counts, the Go runtime's own threads included. strace slows the server, ")
	fmt.Fprintf(w, "which changes how many messages one event carries, so compare columns, not these with the rates above.\n\n| server |")
	for _, sc := range syscallCells {
		fmt.Fprintf(w, " %v (%d msgs) |", sc.cell, sc.n)
	}
	fmt.Fprint(w, " the calls, for the first cell |\n|---|")
	for range syscallCells {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprint(w, "---|\n")
	for _, s := range su.Servers {
		r, ok := su.Syscalls[s]
		if !ok {
			continue
		}
		fmt.Fprintf(w, "| %s |", s)
		for i := range syscallCells {
			if i < len(r) && r[i].Total > 0 {
				fmt.Fprintf(w, " %.2f |", r[i].PerMsg())
			} else {
				fmt.Fprint(w, " - |")
			}
		}
		fmt.Fprintf(w, " %s |\n", topCalls(r))
	}
	fmt.Fprintln(w)
}

// topCalls lists the commonest calls of the first cell, per message.
func topCalls(r []syscallCount) string {
	if len(r) == 0 || r[0].Msgs == 0 {
		return ""
	}
	type kv struct {
		k string
		v int64
	}
	var kvs []kv
	for k, v := range r[0].ByName {
		kvs = append(kvs, kv{k, v})
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].v > kvs[j].v })
	var parts []string
	for i, e := range kvs {
		if i == 5 || float64(e.v)/float64(r[0].Msgs) < 0.01 {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %.2f", e.k, float64(e.v)/float64(r[0].Msgs)))
	}
	return strings.Join(parts, ", ")
}

func writeIdle(w io.Writer, su *suite) {
	fmt.Fprintf(w, "### Idle memory\n\n")
	fmt.Fprintf(w, "%d connections that send nothing, from 8 source addresses (127.0.0.1–8); the server's RSS (user space: ", idleConns)
	fmt.Fprintf(w, "the kernel's socket memory is not in it) once it holds them all and has settled for 2 s, minus its RSS before. `stdlib-rw` stands for the stdlib here: the io.Copy server splices through a pipe, three descriptors a connection, and runs out of them before 10,000.\n\n")
	fmt.Fprintf(w, "| server | RSS before (MB) | RSS with %d idle (MB) | kB a connection |\n|---|---:|---:|---:|\n", idleConns)
	for _, s := range strings.Split(suiteIdle, ",") {
		if r, ok := su.Idle[s]; ok {
			fmt.Fprintf(w, "| %s | %.1f | %.1f | %.3f |\n", s, float64(r.BeforeKB)/1024, float64(r.AfterKB)/1024, r.PerConnKB)
		}
	}
	fmt.Fprintln(w)
}

func writeSlow(w io.Writer, su *suite) {
	fmt.Fprintf(w, "### A client that does not read\n\n")
	fmt.Fprintf(w, "One client sends up to 1 GiB to be echoed and reads nothing, so the server has 1 GiB to push to a client that does not take it, ")
	fmt.Fprintf(w, "while 64 other clients echo 64-byte messages. The slow client stops when it has sent 1 GiB or the server has taken nothing for 2 s. ")
	fmt.Fprintf(w, "Peak RSS is VmHWM, reset when the slow client starts.\n\n")
	fmt.Fprintf(w, "| server | slow client got in (MB) | server RSS before → peak (MB) | others alone (msgs/s) | others beside it (msgs/s) | ratio |\n|---|---:|---:|---:|---:|---:|\n")
	for _, s := range strings.Split(suiteSlow, ",") {
		if r, ok := su.Slow[s]; ok {
			ratio := 0.0
			if r.BaselineMsgs > 0 {
				ratio = r.DuringMsgs / r.BaselineMsgs
			}
			fmt.Fprintf(w, "| %s | %.1f | %.1f → %.1f | %.0f | %.0f | %.2f× |\n", s, r.OfferedMB,
				float64(r.RSSBeforeKB)/1024, float64(r.PeakKB)/1024, r.BaselineMsgs, r.DuringMsgs, ratio)
		}
	}
	fmt.Fprintln(w)
}

func writeHTTP(w io.Writer, su *suite) {
	fmt.Fprintf(w, "### HTTP plaintext\n\n")
	fmt.Fprintf(w, "TechEmpower's plaintext test: `GET /plaintext` answered with a 13-byte \"Hello, World!\" and a Date header, driven by wrk (one thread, pinned to CPU 1; `bench/wrk/pipeline.lua` sends 16 requests at a time; wrk does not time pipelined requests, hence no p99 there).\n\n")
	writeWrk(w, su.HTTP, httpServers, httpCells, "sock-http", "gnet-http")
}

func writeAccept(w io.Writer, su *suite) {
	fmt.Fprintf(w, "### Accepting: one shared listener or SO_REUSEPORT\n\n")
	fmt.Fprintf(w, "The engine with 2 loops (on CPU 0, as everything here), accepting through one listener that both loops watch with EPOLLEXCLUSIVE (the default) or through a SO_REUSEPORT listener each (`ReusePort`, `sock serve --reuseport`). wrk opens a connection for every request (`-H \"Connection: close\"`), which makes accepting the work, and then keeps 256 connections busy.\n\n")
	writeWrk(w, su.Accept, acceptServers, acceptCells, "sock-http2-reuseport", "sock-http2")
}

func writeWrk(w io.Writer, data map[string][][]httpResult, sel []server, cells []httpCell, a, b string) {
	fmt.Fprint(w, "| cell |")
	for _, s := range sel {
		fmt.Fprintf(w, " %s req/s |", s.name)
	}
	fmt.Fprintf(w, " %s ÷ %s | p99 µs (", a, b)
	for i, s := range sel {
		if i > 0 {
			fmt.Fprint(w, ", ")
		}
		fmt.Fprint(w, s.name)
	}
	fmt.Fprint(w, ") | errors |\n|---|")
	for range sel {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprint(w, "---:|---|---:|\n")
	for ci, c := range cells {
		fmt.Fprintf(w, "| %v |", c)
		errs := 0
		var p99s []string
		for _, s := range sel {
			var xs, ps []float64
			if ci < len(data[s.name]) {
				for _, r := range data[s.name][ci] {
					errs += r.Errors
					if r.Errors == 0 {
						xs, ps = append(xs, r.ReqPerS), append(ps, r.P99us)
					}
				}
			}
			fmt.Fprintf(w, " %.0f |", median(xs))
			if p := median(ps); p > 0 && c.Pipeline <= 1 {
				p99s = append(p99s, fmt.Sprintf("%.0f", p))
			} else {
				p99s = append(p99s, "n/a") // wrk does not time pipelined requests
			}
		}
		var ratios []float64
		if ci < len(data[a]) && ci < len(data[b]) {
			ra, rb := data[a][ci], data[b][ci]
			for i := range ra {
				if i < len(rb) && ra[i].Errors == 0 && rb[i].Errors == 0 && rb[i].ReqPerS > 0 {
					ratios = append(ratios, ra[i].ReqPerS/rb[i].ReqPerS)
				}
			}
		}
		sort.Float64s(ratios)
		fmt.Fprintf(w, " %s | %s | %d |\n", rangeStr(ratios), strings.Join(p99s, ", "), errs)
	}
	fmt.Fprintln(w)
	for _, s := range sel {
		fmt.Fprintf(w, "- `%s`: %s\n", s.name, s.about)
	}
	fmt.Fprintln(w)
}

// shownCommand drops the output flags run.sh adds itself.
func shownCommand(cmd string) string {
	f := strings.Fields(cmd)
	var out []string
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case "-charts", "-json", "-update":
			i++
			continue
		}
		out = append(out, f[i])
	}
	return strings.Join(out, " ")
}
