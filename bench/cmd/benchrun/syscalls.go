package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// syscallCount is what strace counted in a server while it echoed a fixed
// number of messages.
type syscallCount struct {
	Msgs   int64            `json:"msgs"`
	Total  int64            `json:"total"`
	ByName map[string]int64 `json:"by_name"`
}

// PerMsg is system calls per echoed message.
func (s syscallCount) PerMsg() float64 {
	if s.Msgs == 0 {
		return 0
	}
	return float64(s.Total) / float64(s.Msgs)
}

// countSyscalls starts s, attaches strace -c -f to all its threads, echoes
// n messages of cell c through it and returns strace's counts. Everything
// the process does in that time counts: the runtime's threads too.
func countSyscalls(bin string, s server, c cell, n int64) (syscallCount, error) {
	p, err := launch(bin, s)
	if err != nil {
		return syscallCount{}, err
	}
	defer p.stop()
	out, err := os.CreateTemp("", "strace-*.txt")
	if err != nil {
		return syscallCount{}, err
	}
	out.Close()
	defer os.Remove(out.Name())
	st := exec.Command("strace", "-c", "-f", "-p", strconv.Itoa(p.pid()), "-o", out.Name())
	if err := st.Start(); err != nil {
		return syscallCount{}, err
	}
	time.Sleep(700 * time.Millisecond) // attached to every thread
	res, lerr := load(bin, "-addr", p.addr, "-c", strconv.Itoa(c.conns), "-s", strconv.Itoa(c.size),
		"-P", strconv.Itoa(c.depth), "-n", strconv.FormatInt(n, 10), "-d", "15s", "-warmup", "0")
	time.Sleep(200 * time.Millisecond)
	st.Process.Signal(syscall.SIGINT) // detach and write the summary
	st.Wait()
	if lerr != nil {
		return syscallCount{}, lerr
	}
	sc, err := parseStrace(out.Name())
	sc.Msgs = res.Msgs
	return sc, err
}

// parseStrace reads strace -c's table:
//
//	% time     seconds  usecs/call     calls    errors syscall
//	 40.70    0.805937         920       876       123 futex
//	100.00    1.980311          54     36353       125 total
func parseStrace(path string) (syscallCount, error) {
	f, err := os.Open(path)
	if err != nil {
		return syscallCount{}, err
	}
	defer f.Close()
	sc := syscallCount{ByName: map[string]int64{}}
	s := bufio.NewScanner(f)
	for s.Scan() {
		fs := strings.Fields(s.Text())
		if len(fs) < 5 {
			continue
		}
		if _, err := strconv.ParseFloat(fs[0], 64); err != nil {
			continue
		}
		calls, err := strconv.ParseInt(fs[3], 10, 64)
		if err != nil {
			continue
		}
		name := fs[len(fs)-1]
		if name == "total" {
			sc.Total = calls
		} else {
			sc.ByName[name] = calls
		}
	}
	if sc.Total == 0 {
		return sc, fmt.Errorf("no strace summary in %s", path)
	}
	return sc, nil
}
