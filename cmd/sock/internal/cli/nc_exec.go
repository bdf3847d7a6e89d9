package cli

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/socketkit/socketkit/socket"
)

// execOnConn runs -e / -c with its stdin and stdout on the connection: the
// socket s itself, or, with TLS, pipes to and from c, the TLS connection
// over s.
func execOnConn(e *env, o *netOpts, s *socket.Socket, c net.Conn, overTLS bool) error {
	var cmd *exec.Cmd
	if o.exec != "" {
		f := strings.Fields(o.exec)
		cmd = exec.Command(f[0], f[1:]...)
	} else {
		cmd = exec.Command("/bin/sh", "-c", o.shExec)
	}
	cmd.Stderr = e.stderr
	if !overTLS {
		// Hand the program the socket itself. The descriptor must be in
		// blocking mode for it, which also changes ours: we only close it.
		rc, err := s.SyscallConn()
		if err != nil {
			return err
		}
		rc.Control(func(fd uintptr) { unix.SetNonblock(int(fd), false) })
		f, err := s.File()
		if err != nil {
			return err
		}
		cmd.Stdin, cmd.Stdout = f, f
		err = cmd.Start()
		f.Close()
		s.Close()
		if err != nil {
			return fmt.Errorf("-e: %w", err)
		}
		return quietExit(cmd.Wait())
	}
	// TLS: the program talks to pipes, and we copy between them and TLS.
	cmd.Stdin = c
	cmd.Stdout = c
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("-e: %w", err)
	}
	return nil
}

// quietExit keeps a program's non-zero exit from being an error of ours.
func quietExit(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return nil
	}
	return err
}
