package netns

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Run calls f on a goroutine locked to an OS thread that has moved into a
// new, anonymous network namespace whose loopback interface is up. Sockets,
// netlink sockets and /proc/thread-self/net and /proc/sys/net files opened
// on that goroutine belong to the namespace; goroutines that f starts run on
// other threads, in the process's own namespace, so create every socket on
// f's goroutine (using them elsewhere afterwards is fine). When f returns,
// the thread goes back to its own namespace (or, if it cannot, exits
// instead of going back to the scheduler), and the new namespace
// disappears with the last socket in it: nothing is left behind and nothing
// needs a name. Run never moves the main thread. It returns f's error, or
// an error wrapping ErrNeedRoot when the namespace cannot be created.
func Run(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// The main thread is never moved: the runtime cannot end it, so
			// it would stay in the namespace, and /proc/self/net (what
			// /proc/net shows) follows it. Holding it locked here makes the
			// goroutine of the nested Run start on another thread.
			defer runtime.UnlockOSThread()
			done <- Run(f)
			return
		}
		// Keep the thread's own namespace to come back to. Until it is
		// back, the goroutine stays locked: if it cannot come back, the
		// thread dies with the goroutine and no other goroutine ever runs
		// in the namespace.
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- fmt.Errorf("netns: %w", os.NewSyscallError("open /proc/thread-self/ns/net", err))
			return
		}
		defer unix.Close(orig)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			if errors.Is(err, unix.EPERM) {
				done <- fmt.Errorf("%w: %w", ErrNeedRoot, os.NewSyscallError("unshare", err))
				return
			}
			done <- os.NewSyscallError("unshare", err)
			return
		}
		if err := loUp(); err != nil {
			done <- err
			return
		}
		ferr := f()
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		done <- ferr
	}()
	return <-done
}

// loUp brings the namespace's loopback interface up, as "ip link set lo up".
func loUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return os.NewSyscallError("ioctl SIOCGIFFLAGS", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return os.NewSyscallError("ioctl SIOCSIFFLAGS", err)
	}
	return nil
}
