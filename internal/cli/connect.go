package cli

import (
	"context"
	"io"
	"net"
	"strings"

	"github.com/spf13/cobra"

	"github.com/socketkit/socketkit/socket"
)

func newConnect(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "connect ADDR | HOST PORT",
		Short: "Connect to a stream socket and copy stdin to it and it to stdout",
		Long: `connect opens a stream connection and copies both ways: stdin to the socket
and the socket to stdout. At the end of stdin it shuts down its sending side
(the server reads EOF) and keeps printing until the server closes.

ADDR is host:port, [ipv6]:port, a Unix socket path or @abstract.`,
		Example: `  echo hello | sock connect 127.0.0.1 6254
  sock connect 127.0.0.1:6254
  sock connect ./echo.sock`,
		Args: rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			target := args[0]
			if len(args) == 2 {
				target = net.JoinHostPort(args[0], args[1])
			}
			s, err := dial(e.ctx, target)
			if err != nil {
				return err
			}
			defer s.Close()
			return pump(e, s)
		},
	}
}

// dial connects to a host:port (trying every address) or a Unix path.
func dial(ctx context.Context, target string) (*socket.Socket, error) {
	if strings.HasPrefix(target, "/") || strings.HasPrefix(target, "./") || strings.HasPrefix(target, "@") || !strings.Contains(target, ":") {
		sa, err := socket.ParseAddr(socket.AF_UNIX, target)
		if err != nil {
			return nil, usageError{err}
		}
		s, err := socket.New(socket.AF_UNIX, socket.SOCK_STREAM, 0)
		if err != nil {
			return nil, err
		}
		if err := s.ConnectContext(ctx, sa); err != nil {
			s.Close()
			return nil, err
		}
		return s, nil
	}
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, usagef("bad address %q: want host:port", target)
	}
	if _, port, _ := net.SplitHostPort(target); port != "" {
		if _, err := socket.ParsePort("tcp", port); err != nil {
			return nil, usageError{err}
		}
	}
	return socket.CreateConnection(ctx, target, nil)
}

// pump copies stdin to s and s to stdout until the peer closes.
func pump(e *env, s *socket.Socket) error {
	go func() {
		io.Copy(s, e.stdin)
		s.CloseWrite()
	}()
	_, err := io.Copy(e.stdout, s)
	return err
}
