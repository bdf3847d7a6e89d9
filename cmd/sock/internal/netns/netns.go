// Package netns runs a function inside a network namespace of its own, the
// way the lessons and tests of sock make a private network: a fresh
// namespace has only a loopback interface and no route, and its sysctls
// (net.ipv4.tcp_abort_on_overflow...) can be changed without touching the
// machine's. It needs root (CAP_SYS_ADMIN).
package netns

import "errors"

// ErrNeedRoot is returned by Run when this process may not create a network
// namespace.
var ErrNeedRoot = errors.New("netns: creating a network namespace needs root (CAP_SYS_ADMIN)")
