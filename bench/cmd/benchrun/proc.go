package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a running server under test.
type proc struct {
	cmd  *exec.Cmd
	addr string
}

// launch starts s on a free port, pinned to CPU 0, with the descriptor
// limit raised to the hard limit (the C and Python servers do not raise
// it themselves), and waits until it accepts connections.
func launch(bin string, s server) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	nofile := fmt.Sprintf("--nofile=%d:%d", lim.Max, lim.Max)
	args := append([]string{"-c", "0", "prlimit", nofile}, s.cmd(bin, port)...)
	c := exec.Command("taskset", args...)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: c, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	if err := waitListening(p.addr, 10*time.Second); err != nil {
		p.stop()
		return nil, fmt.Errorf("%s did not start: %v", s.name, err)
	}
	return p, nil
}

// pid is the server's process: taskset and prlimit exec it.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop kills the server's whole process group (prefork children too).
func (p *proc) stop() {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	p.cmd.Wait()
}

// status reads a kB field (VmRSS, VmHWM) of /proc/PID/status.
func (p *proc) status(field string) (kb int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.pid()))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, p.pid())
}

// fds counts the server's open descriptors.
func (p *proc) fds() int {
	es, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.pid()))
	return len(es)
}

// load runs echoload pinned to CPU 1 and returns its result.
func load(bin string, args ...string) (result, error) {
	c := exec.Command("taskset", append([]string{"-c", "1", filepath.Join(bin, "echoload"), "-json"}, args...)...)
	var res result
	out, err := c.Output()
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return res, fmt.Errorf("echoload: %v %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return res, fmt.Errorf("echoload: %v %v", err, jerr)
	}
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return res, fmt.Errorf("echoload: %v %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return res, err
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
			time.Sleep(100 * time.Millisecond) // let the server settle after the probe
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
