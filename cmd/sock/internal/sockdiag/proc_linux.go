package sockdiag

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Owners maps socket inodes to the descriptors that refer to them, read from
// /proc/PID/fd/* ("socket:[INODE]") as ss -p and lsof do. Processes whose
// descriptors this user may not read (another user's, without root) are
// skipped, as ss skips them.
func Owners() (map[uint32][]Owner, error) {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	out := map[uint32][]Owner{}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join("/proc", p.Name(), "fd")
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		name := ""
		for _, f := range fds {
			link, err := os.Readlink(filepath.Join(dir, f.Name()))
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]"), 10, 32)
			if err != nil {
				continue
			}
			fd, _ := strconv.Atoi(f.Name())
			if name == "" {
				name = commName(pid)
			}
			out[uint32(ino)] = append(out[uint32(ino)], Owner{Name: name, PID: pid, FD: fd})
		}
	}
	return out, nil
}

// commName is the command name of /proc/PID/stat (the part in parentheses),
// which ss -p prints.
func commName(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "?"
	}
	s := string(b)
	i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if i < 0 || j < i {
		return "?"
	}
	return s[i+1 : j]
}

// Netstat reads the TCP extension counters of /proc/net/netstat (those nstat
// and netstat -s print as TcpExtListenOverflows...), for the network
// namespace of the calling thread. The keys are the kernel's names without
// the "TcpExt" prefix: ListenOverflows, ListenDrops, TCPAbortOnData...
func Netstat() (map[string]uint64, error) {
	f, err := os.Open("/proc/thread-self/net/netstat")
	if err != nil {
		f, err = os.Open("/proc/net/netstat")
		if err != nil {
			return nil, err
		}
	}
	defer f.Close()
	out := map[string]uint64{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var names []string
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "TcpExt:" {
			continue
		}
		if names == nil {
			names = fields[1:]
			continue
		}
		for i, v := range fields[1:] {
			if i < len(names) {
				n, _ := strconv.ParseUint(v, 10, 64)
				out[names[i]] = n
			}
		}
		break
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("sockdiag: no TcpExt counters in /proc/net/netstat")
	}
	return out, nil
}

// Sysctl reads an integer from /proc/sys (name with dots:
// "net.ipv4.tcp_abort_on_overflow"), in the calling thread's namespaces.
func Sysctl(name string) (int, error) {
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// SetSysctl writes an integer to /proc/sys; it needs root, and is meant for
// a network namespace of one's own.
func SetSysctl(name string, v int) error {
	return os.WriteFile("/proc/sys/"+strings.ReplaceAll(name, ".", "/"), []byte(strconv.Itoa(v)), 0)
}
