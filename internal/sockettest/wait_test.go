package sockettest_test

import (
	"os"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
)

// readForTest reads from r: a goroutine WaitBlocked must find by name.
func readForTest(r *os.File, done chan<- error) {
	_, err := r.Read(make([]byte, 1))
	done <- err
}

// TestWaitBlocked: WaitBlocked returns once the goroutines are parked in
// the poller, and they are still parked when it returns.
func TestWaitBlocked(t *testing.T) {
	var ws []*os.File
	done := make(chan error, 2)
	for range 2 {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		ws = append(ws, w)
		go readForTest(r, done)
	}
	sockettest.WaitBlocked(t, 2, "sockettest_test.readForTest")
	select {
	case err := <-done:
		t.Fatalf("a reader returned before anything was written: %v", err)
	default:
	}
	for _, w := range ws {
		w.Write([]byte("x"))
		w.Close()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// TestPatience: without a deadline 30 s; with one, at most half of what is
// left.
func TestPatience(t *testing.T) {
	p := sockettest.Patience(t)
	if dl, ok := t.Deadline(); ok {
		if left := time.Until(dl); p > left/2+time.Second || p < time.Second {
			t.Fatalf("Patience %v with %v left", p, left)
		}
	} else if p != 30*time.Second {
		t.Fatalf("Patience %v without a deadline", p)
	}
}
