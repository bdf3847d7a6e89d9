package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/socketkit/socketkit/socket"
	ss "github.com/socketkit/socketkit/socketserver"
)

// serveClients serves the listening socket ln on socketserver until e.ctx
// ends, for the forms of "sock listen" that take many clients:
//
//	-k          each client's data goes to stdout, stdin goes to every
//	            client (as ncat -k), at most --max-conns at once
//	-k -e/-c    a program for each client
//	--broker    what each client sends goes to all the others (the room of
//	            chat.go, without names)
//	--chat      the chat room of "sock serve chat"
func serveClients(e *env, o *netOpts, ln *socket.Socket, tlsCfg *tls.Config) error {
	logf := func(format string, args ...any) { o.logf(e, 1, format, args...) }
	srv := &ss.Server{
		TLSConfig:    tlsCfg,
		BlockOnClose: true,
		Logger:       slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		ErrorHandler: func(_ *ss.Request, err error) {
			fmt.Fprintln(e.stderr, "sock:", oneLine(err.Error()))
		},
	}
	switch {
	case o.broker || o.chat:
		// A room refuses clients beyond the cap, as ncat does, rather
		// than keeping them waiting in the listen queue.
		kind := brokerRoom
		if o.chat {
			kind = chatRoom
		}
		rm := newRoom(kind, logf)
		rm.warnf = func(format string, args ...any) { fmt.Fprintf(e.stderr, "sock: "+format+"\n", args...) }
		srv.Handler = rm
		srv.Dispatcher = &ss.Goroutines{}
		srv.MaxConnections = o.maxConns
	case o.exec != "" || o.shExec != "":
		srv.Handler = ss.HandlerFunc(func(ctx context.Context, r *ss.Request) error {
			logf("connection from %v", displayAddr(r.ClientAddr))
			return execOnConn(e, o, r.Socket, r.Conn, tlsCfg != nil)
		})
		srv.Dispatcher = &ss.Goroutines{MaxConcurrent: o.maxConns}
	default:
		srv.Handler = keepHandler(e, o)
		srv.Dispatcher = &ss.Goroutines{MaxConcurrent: o.maxConns}
	}
	if err := srv.Adopt(ln); err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	select {
	case err := <-served:
		srv.Close()
		if errors.Is(err, ss.ErrServerClosed) {
			return nil
		}
		return err
	case <-e.ctx.Done():
	}
	srv.Close() // every client at once, as nc on Ctrl-C; waits for the handlers
	<-served
	return nil
}

// keepHandler is -k: each client's data goes to stdout, and stdin goes to
// every client through the room's bounded queues, so that a client that
// does not read is disconnected rather than holding up the others.
func keepHandler(e *env, o *netOpts) ss.Handler {
	out := &lockedWriter{w: e.stdout}
	fanout := newRoom(fanoutRoom, func(format string, args ...any) { o.logf(e, 1, format, args...) })
	fanout.warnf = func(format string, args ...any) { fmt.Fprintf(e.stderr, "sock: "+format+"\n", args...) }
	var once sync.Once
	stdinToAll := func() {
		buf := make([]byte, 32<<10)
		var prev byte
		for {
			n, err := e.stdin.Read(buf)
			if n > 0 {
				b := buf[:n]
				if o.crlf {
					b, prev = toCRLF(b, prev)
				}
				fanout.broadcast(nil, append([]byte(nil), b...))
			}
			if err != nil {
				return
			}
		}
	}
	return ss.HandlerFunc(func(ctx context.Context, r *ss.Request) error {
		if !o.recvOnly {
			once.Do(func() { go stdinToAll() })
		}
		q := newQueuedConn(r.Conn, requestCloser(r))
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			q.run()
		}()
		fanout.join(q, clientName(r.ClientAddr, r.Socket))
		_, err := io.Copy(out, r.Conn)
		fanout.leave(q)
		q.drop() // what stdin sends now is for the others
		<-wrote
		return quietErr(err)
	})
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
