//go:build linux

package socket_test

import (
	"testing"

	"github.com/socketkit/socketkit/internal/sockettest"
)

func TestMain(m *testing.M) { sockettest.VerifyTestMain(m) }
