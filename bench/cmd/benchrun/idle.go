package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// idleResult is the RSS a server grew by while holding n idle connections.
type idleResult struct {
	Conns     int     `json:"conns"`
	BeforeKB  int64   `json:"rss_before_kb"`
	AfterKB   int64   `json:"rss_after_kb"`
	PerConnKB float64 `json:"kb_per_conn"`
}

// idleMemory starts s, opens n connections that send nothing (from
// 127.0.0.1-.N source addresses), waits until the server holds them all
// and has settled, and measures its RSS growth.
func idleMemory(bin string, s server, n int) (idleResult, error) {
	return idleMemoryArgs(bin, s, n)
}

// idleMemoryArgs is idleMemory with more echoload arguments (-tls: the
// connections make their handshake first).
func idleMemoryArgs(bin string, s server, n int, extra ...string) (idleResult, error) {
	p, err := launch(bin, s)
	if err != nil {
		return idleResult{}, err
	}
	defer p.stop()
	time.Sleep(500 * time.Millisecond)
	before, err := p.status("VmRSS")
	if err != nil {
		return idleResult{}, err
	}
	baseFds := p.fds()
	args := append([]string{"-c", "1", filepath.Join(bin, "echoload"), "-addr", p.addr,
		"-c", strconv.Itoa(n), "-src-ips", "8", "-hold", "120s"}, extra...)
	hold := exec.Command("taskset", args...)
	if err := hold.Start(); err != nil {
		return idleResult{}, err
	}
	defer func() { hold.Process.Kill(); hold.Wait() }()
	deadline := time.Now().Add(100 * time.Second)
	for p.fds() < baseFds+n {
		if time.Now().After(deadline) {
			return idleResult{}, fmt.Errorf("%s holds %d of %d connections", s.name, p.fds()-baseFds, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Settle: the server's last allocations done, then the steady state.
	time.Sleep(2 * time.Second)
	after, err := p.status("VmRSS")
	if err != nil {
		return idleResult{}, err
	}
	return idleResult{Conns: n, BeforeKB: before, AfterKB: after, PerConnKB: float64(after-before) / float64(n)}, nil
}
