package sockettest

import (
	"strings"
	"testing"
	"time"
)

// Waiting for a state rather than sleeping: a test on a machine whose
// cores are busy with other work can be descheduled for a second or more
// at any point, so a fixed sleep either tests nothing (the state came
// later than hoped) or fails.

// WaitBlocked waits until at least n goroutines are parked in the
// runtime's poller (state "IO wait") with frame in their stacks (a
// function's name, such as "socket.(*Socket).Accept"). It is for a test
// that must act while a call is blocked (a Close, a cancel, the peer's
// send): a sleep that hopes the call has blocked by then tests nothing on
// a loaded machine, or fails. If they are not blocked within Patience(t)
// it marks the test failed (t.Errorf) and returns false, so that it may
// be called from a goroutine other than the test's, which then goes on to
// release the call it waited for.
func WaitBlocked(t testing.TB, n int, frame string) bool {
	t.Helper()
	deadline := time.Now().Add(Patience(t))
	for {
		got := 0
		for _, g := range goroutines() {
			head, _, _ := strings.Cut(g.stack, "\n")
			if strings.Contains(head, "[IO wait") && strings.Contains(g.stack, frame) {
				got++
			}
		}
		if got >= n {
			return true
		}
		if time.Now().After(deadline) {
			t.Errorf("%d of %d goroutines blocked in %s after %v", got, n, frame, Patience(t))
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

// Patience is how long a test waits for a state that should come at once
// on an idle machine (a connection accepted, a goroutine blocked, a child
// process listening) before it fails: 30 s, or less when the test's own
// deadline (go test -timeout) comes sooner, so that the failure names what
// it waited for rather than the test binary being killed. Generous on
// purpose: only a bug waits this long, and a busy machine can take seconds.
func Patience(t testing.TB) time.Duration {
	d := 30 * time.Second
	if dt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := dt.Deadline(); ok {
			if left := time.Until(dl) / 2; left < d {
				d = max(left, time.Second)
			}
		}
	}
	return d
}

// WaitFor polls cond every millisecond until it holds, and fails the test
// with what it waited for if it does not within Patience(t): for a state
// that only a poll can see (a counter another goroutine moves, a file a
// child writes).
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	p := Patience(t)
	deadline := time.Now().Add(p)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", p, what)
		}
		time.Sleep(time.Millisecond)
	}
}
