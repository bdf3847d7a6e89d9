//go:build linux

package netns_test

import (
	"errors"
	"os"
	"runtime"
	"testing"

	"github.com/socketkit/socketkit/cmd/sock/internal/netns"
	"github.com/socketkit/socketkit/internal/sockettest"
)

func TestMain(m *testing.M) { sockettest.VerifyTestMain(m) }

// TestRunLeavesTheProcessAlone: f runs in another namespace with lo up, and
// afterwards every thread of the process, the main thread included (whose
// namespace /proc/net shows), is still in the process's own. Before Run
// kept off the main thread, a Run that landed there left /proc/net showing
// the empty namespace for the rest of the process's life (seen in the cli
// tests: after TestDoctorSaysWhatIsWrong, waitListen read an empty
// /proc/net/tcp and the listen tests failed).
func TestRunLeavesTheProcessAlone(t *testing.T) {
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	// The scheduler decides which thread Run's goroutine starts on; twenty
	// runs give the main thread its chances.
	for i := 0; i < 20; i++ {
		var inside string
		err := netns.Run(func() error {
			inside, err = os.Readlink("/proc/thread-self/ns/net")
			if err != nil {
				return err
			}
			b, err := os.ReadFile("/proc/thread-self/net/dev")
			if err != nil {
				return err
			}
			if len(b) == 0 {
				return errors.New("no /proc/thread-self/net/dev")
			}
			return nil
		})
		if errors.Is(err, netns.ErrNeedRoot) {
			t.Skip("needs root: ", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		if inside == self {
			t.Fatalf("f ran in the process's own namespace %s", self)
		}
		runtime.Gosched()
	}
	if now, _ := os.Readlink("/proc/self/ns/net"); now != self {
		t.Fatalf("the main thread moved from %s to %s", self, now)
	}
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		if ns, err := os.Readlink("/proc/self/task/" + task.Name() + "/ns/net"); err == nil && ns != self {
			t.Errorf("thread %s is left in %s", task.Name(), ns)
		}
	}
}
