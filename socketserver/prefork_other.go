//go:build !linux

package socketserver

import "os/exec"

func setParentDeathSignal(cmd *exec.Cmd) {}
