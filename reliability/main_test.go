//go:build linux

package reliability_test

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/socketkit/socketkit/internal/sockettest"
)

var (
	soakDur = flag.Duration("soak", 0, "how long the soak tests hold their load (0: a short run; CI: 30s)")
)

func TestMain(m *testing.M) { sockettest.VerifyTestMain(m) }

// figure prints a figure for RELIABILITY.md: "FIGURE name=value".
func figure(t *testing.T, name string, value any) {
	t.Helper()
	line := fmt.Sprintf("FIGURE %s=%v", name, value)
	t.Log(line)
	fmt.Println(line)
}

// requireChaos skips a test that needs root or a tool, loudly; with
// REQUIRE_CHAOS=1 (as in CI) the skip is a failure instead.
func requireChaos(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("REQUIRE_CHAOS") == "1" {
		t.Fatalf("REQUIRE_CHAOS=1 but this test cannot run: %s", why)
	}
	msg := "SKIPPING chaos test: " + why
	fmt.Fprintln(os.Stderr, strings.ToUpper(msg[:8])+msg[8:])
	t.Skip(msg)
}
