//go:build !unix

package proxyproto

import "io"

// peeker: no MSG_PEEK here; ReadHeader reads exactly instead.
func peeker(io.Reader) (func([]byte) (int, error), bool) { return nil, false }
