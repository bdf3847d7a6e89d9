//go:build linux

package sockettest

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DenyIOUring installs, for the whole process (every thread, and every
// thread and child made later) and for good, a seccomp filter that refuses
// io_uring_setup(2), io_uring_enter(2) and io_uring_register(2) with EPERM,
// as Docker's default seccomp profile does. It is for a child process a
// test starts to see how code behaves where io_uring is filtered.
func DenyIOUring() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return os.NewSyscallError("prctl", err)
	}
	// io_uring_setup, _enter and _register are 425, 426 and 427 on every
	// architecture (they came after the system call tables were unified).
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		{Code: unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, Jt: 0, Jf: 2, K: 425},
		{Code: unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K, Jt: 1, Jf: 0, K: 427},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	_, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog)))
	if e != 0 {
		return os.NewSyscallError("seccomp", e)
	}
	return nil
}
