//go:build linux

package eventloop_test

import (
	"errors"
	"os"
	"testing"

	"github.com/socketkit/socketkit/eventloop"
)

// TestProbeIOUring: the probe answers nil or one sentence that wraps
// errors.ErrUnsupported; CI (REQUIRE_URING=1), on a kernel that has
// io_uring, requires nil.
func TestProbeIOUring(t *testing.T) {
	err := eventloop.ProbeIOUring()
	if err == nil {
		if b, why := (&eventloop.Engine{Backend: eventloop.BackendAuto}).ResolvedBackend(); b != eventloop.BackendIOUring || why != "" {
			t.Fatalf("auto resolves to %q (%q) where io_uring works", b, why)
		}
		return
	}
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("%v does not wrap errors.ErrUnsupported", err)
	}
	if b, why := (&eventloop.Engine{Backend: eventloop.BackendAuto}).ResolvedBackend(); b != eventloop.BackendEpoll || why == "" {
		t.Errorf("auto resolves to %q (%q) where io_uring does not work", b, why)
	}
	if os.Getenv("REQUIRE_URING") == "1" {
		t.Fatalf("REQUIRE_URING=1 and io_uring is unusable: %v", err)
	}
	t.Skipf("io_uring is unusable here: %v", err)
}
