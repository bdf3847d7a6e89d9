//go:build !linux

package sockettest

import "testing"

// RunUnprivilegedInNetns skips: network namespaces are Linux's.
func RunUnprivilegedInNetns(t *testing.T, sysctls map[string]string) (runHere bool) {
	t.Helper()
	t.Skip("network namespaces are Linux's")
	return false
}
