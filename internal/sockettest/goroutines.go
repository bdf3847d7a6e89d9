package sockettest

import (
	"bytes"
	"runtime/pprof"
	"strings"
)

// A goroutine leak check of our own, so that the library module needs no
// test dependency beyond golang.org/x/net (go.uber.org/goleak would bring
// testify and its dependencies into every importer's build list).

// goroutine is one record of the runtime's goroutine dump: its id line
// ("goroutine 7 [chan receive]:") and the stack below it.
type goroutine struct {
	id    string
	stack string
}

// goroutines returns every goroutine of the process, from the goroutine
// profile at debug level 2 (the same text as a panic prints).
func goroutines() []goroutine {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 2); err != nil {
		return nil
	}
	var out []goroutine
	for _, rec := range strings.Split(buf.String(), "\n\n") {
		rec = strings.TrimSpace(rec)
		if !strings.HasPrefix(rec, "goroutine ") {
			continue
		}
		head, _, _ := strings.Cut(rec, "\n")
		id, _, _ := strings.Cut(strings.TrimPrefix(head, "goroutine "), " ")
		out = append(out, goroutine{id: id, stack: rec})
	}
	return out
}

// runtimeOwned reports whether a goroutine belongs to the runtime or the
// testing package rather than to the code under test.
func runtimeOwned(g goroutine) bool {
	for _, fn := range []string{
		"runtime/pprof.writeGoroutineStacks", // the dump itself
		"testing.(*M).",
		"testing.tRunner",
		"testing.runTests",
		"testing.(*T).Run",
		"os/signal.signal_recv",
		"os/signal.loop",
		"runtime.ensureSigM",
		"runtime.goexit0",
		"runtime/trace.",
		"testing.(*F).",
	} {
		if strings.Contains(g.stack, fn) {
			return true
		}
	}
	return false
}

// GoroutineIDs returns the ids of the goroutines alive now, to give to
// LeakedGoroutines later.
func GoroutineIDs() map[string]bool {
	ids := map[string]bool{}
	for _, g := range goroutines() {
		ids[g.id] = true
	}
	return ids
}

// LeakedGoroutines returns the stacks of the goroutines alive now that were
// not alive in before, that are not the runtime's or the test driver's, and
// whose stacks contain none of the ignore strings.
func LeakedGoroutines(before map[string]bool, ignore ...string) []string {
	var out []string
next:
	for _, g := range goroutines() {
		if before[g.id] || runtimeOwned(g) {
			continue
		}
		for _, s := range ignore {
			if strings.Contains(g.stack, s) {
				continue next
			}
		}
		out = append(out, g.stack)
	}
	return out
}
