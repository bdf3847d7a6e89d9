package sockettest

import (
	"fmt"
	"io"
	"net"
	"time"
)

// EchoOnce sends msg to the TCP echo server at addr on a new connection,
// shuts down its sending side, reads until EOF and checks that the echo is
// msg: one request of a restart or handover test, which counts what
// fails. timeout bounds the connect and, from then, the whole exchange.
func EchoOnce(addr, msg string, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if string(got) != msg {
		return fmt.Errorf("echo %q, want %q", got, msg)
	}
	return nil
}
