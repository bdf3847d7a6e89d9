//go:build !linux

package netns

import (
	"errors"
	"fmt"
)

// Run needs Linux; elsewhere it returns an error wrapping
// errors.ErrUnsupported.
func Run(f func() error) error {
	return fmt.Errorf("netns: network namespaces need Linux: %w", errors.ErrUnsupported)
}
