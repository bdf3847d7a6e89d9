//go:build !linux

package sockdiag

import (
	"errors"
	"fmt"
)

func unsupported(what string) error {
	return fmt.Errorf("sockdiag: %s needs Linux (NETLINK_SOCK_DIAG and /proc): %w", what, errors.ErrUnsupported)
}

// Dump needs Linux; elsewhere it returns an error wrapping
// errors.ErrUnsupported.
func Dump(req Request, withOwners bool) ([]Socket, error) { return nil, unsupported("Dump") }

// Inode needs Linux.
func Inode(fd int) (uint32, error) { return 0, unsupported("Inode") }

// Owners needs Linux.
func Owners() (map[uint32][]Owner, error) { return nil, unsupported("Owners") }

// Netstat needs Linux.
func Netstat() (map[string]uint64, error) { return nil, unsupported("Netstat") }

// Sysctl needs Linux.
func Sysctl(name string) (int, error) { return 0, unsupported("Sysctl") }

// SetSysctl needs Linux.
func SetSysctl(name string, v int) error { return unsupported("SetSysctl") }
