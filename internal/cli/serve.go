package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/socketkit/socketkit/socket"
)

func newServe(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve SERVICE",
		Short: "Serve a simple service (echo)",
		Long: `serve runs a server for one of the classic services until SIGINT or SIGTERM.

  echo    RFC 862: every byte received is sent back.`,
		Example: `  sock serve echo
  sock serve echo --addr 127.0.0.1:7000
  sock serve echo --addr ./echo.sock`,
	}
	addr := "127.0.0.1:6254"
	echo := &cobra.Command{
		Use:     "echo",
		Short:   "Serve RFC 862 echo",
		Example: "  sock serve echo --addr 127.0.0.1:6254",
		Args:    rangeArgs(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return serveEcho(ctx, e, addr)
		},
	}
	echo.Flags().StringVar(&addr, "addr", addr, "address to serve on: host:port, a Unix path or @abstract")
	cmd.AddCommand(echo)
	return cmd
}

// listenStream binds and listens on a TCP or Unix stream address.
func listenStream(addr string) (*socket.Socket, error) {
	sa, err := socket.ParseAddr(socket.AF_UNSPEC, addr)
	if err != nil {
		return nil, usageError{err}
	}
	s, err := socket.New(sa.Family(), socket.SOCK_STREAM, 0)
	if err != nil {
		return nil, err
	}
	if sa.Family() != socket.AF_UNIX {
		s.SetReuseAddr(true)
	}
	if err := s.Bind(sa); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.Listen(socket.SOMAXCONN); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func serveEcho(ctx context.Context, e *env, addr string) error {
	ln, err := listenStream(addr)
	if err != nil {
		return err
	}
	bound, _ := ln.Getsockname()
	fmt.Fprintf(e.stderr, "sock: serving echo on %v; Ctrl-C stops\n", bound)
	if ua, ok := bound.(*socket.UnixAddr); ok && ua.Path != "" && ua.Path[0] != '@' {
		defer removeSocketFile(ua.Path)
	}
	var mu sync.Mutex
	conns := map[*socket.Socket]struct{}{}
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	for {
		c, _, err := ln.Accept()
		if err != nil {
			wg.Wait()
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		mu.Lock()
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.Copy(c, c)
			c.Close()
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		}()
	}
}
