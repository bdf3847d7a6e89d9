package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// httpCell is a wrk run: connections and pipelining depth.
type httpCell struct {
	Conns, Pipeline int
	Close           bool // a new connection for every request (Connection: close)
}

func (c httpCell) String() string {
	if c.Close {
		return fmt.Sprintf("%d conns, a connection a request", c.Conns)
	}
	if c.Pipeline > 1 {
		return fmt.Sprintf("%d conns, %d pipelined", c.Conns, c.Pipeline)
	}
	return fmt.Sprintf("%d conns, no pipelining", c.Conns)
}

type httpResult struct {
	ReqPerS float64 `json:"req_per_s"`
	P99us   float64 `json:"p99_us"`
	Errors  int     `json:"errors"`
}

var (
	reqRe    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	p99Re    = regexp.MustCompile(`\s99%\s+([0-9.]+)(us|ms|s)`)
	errRe    = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	non2xxRe = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

// runWrk starts s and drives GET /plaintext with wrk pinned to CPU 1.
func runWrk(bin string, s server, c httpCell, dur time.Duration) (httpResult, error) {
	var r httpResult
	p, err := launch(bin, s)
	if err != nil {
		return r, err
	}
	defer p.stop()
	args := []string{"-c", "1", "wrk", "-t1", "-c" + strconv.Itoa(c.Conns), "-d" + dur.String(), "--latency"}
	if c.Pipeline > 1 {
		args = append(args, "-s", filepath.Join(bin, "..", "wrk", "pipeline.lua"))
	}
	if c.Close {
		args = append(args, "-H", "Connection: close")
	}
	args = append(args, "http://"+p.addr+"/plaintext")
	if c.Pipeline > 1 {
		args = append(args, "--", strconv.Itoa(c.Pipeline))
	}
	out, err := exec.Command("taskset", args...).CombinedOutput()
	if err != nil {
		return r, fmt.Errorf("wrk: %v: %s", err, out)
	}
	text := string(out)
	m := reqRe.FindStringSubmatch(text)
	if m == nil {
		return r, fmt.Errorf("wrk: no Requests/sec in %q", text)
	}
	r.ReqPerS, _ = strconv.ParseFloat(m[1], 64)
	// wrk times only the first request of a pipelined batch, if any: a
	// p99 from a pipelined run would mislead, so it is left out.
	if m := p99Re.FindStringSubmatch(text); m != nil && c.Pipeline <= 1 {
		v, _ := strconv.ParseFloat(m[1], 64)
		switch m[2] {
		case "ms":
			v *= 1000
		case "s":
			v *= 1e6
		}
		r.P99us = v
	}
	if m := errRe.FindStringSubmatch(text); m != nil {
		for _, x := range m[1:] {
			n, _ := strconv.Atoi(x)
			r.Errors += n
		}
	}
	if m := non2xxRe.FindStringSubmatch(text); m != nil {
		n, _ := strconv.Atoi(m[1])
		r.Errors += n
	}
	if strings.Contains(text, "Requests/sec:") && r.ReqPerS == 0 {
		r.Errors++
	}
	return r, nil
}
