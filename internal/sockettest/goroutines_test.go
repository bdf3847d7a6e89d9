package sockettest_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
)

// parkedForTest blocks until its channel closes: a goroutine the leak check
// must find by its function name.
func parkedForTest(ch chan struct{}) { <-ch }

func TestLeakedGoroutines(t *testing.T) {
	before := sockettest.GoroutineIDs()
	ch := make(chan struct{})
	started := make(chan struct{})
	go func() { close(started); parkedForTest(ch) }()
	<-started
	leaked := sockettest.LeakedGoroutines(before)
	if len(leaked) != 1 || !strings.Contains(leaked[0], "parkedForTest") {
		t.Fatalf("want the one parked goroutine, got %d: %q", len(leaked), leaked)
	}
	close(ch)
	// Once it has returned, nothing is reported.
	deadline := time.Now().Add(10 * time.Second)
	for len(sockettest.LeakedGoroutines(before)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still reported after it returned: %q", sockettest.LeakedGoroutines(before))
		}
		runtime.Gosched()
	}
}
