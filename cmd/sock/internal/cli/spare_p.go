package cli

import (
	"fmt"
	"io"
	"os"
	"runtime"
)

// spareP makes GOMAXPROCS one more than the engines' loops when it is
// not already more, unless the GOMAXPROCS environment variable sets it,
// and returns what undoes that. With every P held by a loop, the Go
// runtime's sysmon takes a waiting loop's P away and another thread must
// hand it back when the wait returns: on io_uring with one connection
// that was 1.1 nanosleep and 0.8 futex calls and 2.9 context switches a
// message, against 0.02, 0.17 and 1.4 with a spare P (see eventloop's
// package documentation, "Threads and the Go scheduler").
func spareP(stderr io.Writer, verbose bool, loops int) (undo func()) {
	n := runtime.GOMAXPROCS(0)
	if os.Getenv("GOMAXPROCS") != "" {
		if verbose {
			note := ""
			if n <= loops {
				note = ": no P left to the Go runtime, which then takes a waiting loop's P away (see eventloop's package documentation)"
			}
			fmt.Fprintf(stderr, "sock: GOMAXPROCS %d, from the environment, for %s%s\n", n, plural(loops, "loop"), note)
		}
		return func() {}
	}
	if n > loops {
		return func() {}
	}
	runtime.GOMAXPROCS(loops + 1)
	if verbose {
		fmt.Fprintf(stderr, "sock: GOMAXPROCS %d -> %d: one P more than the %s, for the Go runtime (set GOMAXPROCS to choose)\n", n, loops+1, plural(loops, "loop"))
	}
	return func() { runtime.GOMAXPROCS(n) }
}
