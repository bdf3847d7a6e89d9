//go:build linux

package eventloop_test

import (
	"errors"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/socket"
)

// TestServeRefusesWhatItCannotServe: Serve checks sockets it did not open
// (inherited ones come with no promise): a connected stream socket, as
// systemd's Accept=yes passes, a stream socket that does not listen, a
// raw-ish type, mixed types and a closed socket each get one error that
// names the problem, and Serve closes what it was given.
func TestServeRefusesWhatItCannotServe(t *testing.T) {
	newSock := func(typ socket.Type) *socket.Socket {
		t.Helper()
		s, err := socket.New(socket.AF_UNIX, typ, 0)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	connected := func() *socket.Socket {
		t.Helper()
		a, b, err := socket.Socketpair(socket.AF_UNIX, socket.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return a
	}
	listening := func() *socket.Socket { return listeningTCP(t) }
	udp := func() *socket.Socket { return boundUDP(t) }
	closed := func() *socket.Socket {
		s := listening()
		s.Close()
		return s
	}
	for _, tc := range []struct {
		name string
		lns  func() []*socket.Socket
		want string
		is   error
	}{
		{"connected", func() []*socket.Socket { return []*socket.Socket{connected()} }, "is a connected stream socket", nil},
		{"not listening", func() []*socket.Socket { return []*socket.Socket{newSock(socket.SOCK_STREAM)} }, "does not listen", nil},
		{"mixed types", func() []*socket.Socket { return []*socket.Socket{listening(), udp()} }, "one engine serves one type", nil},
		{"closed", func() []*socket.Socket { return []*socket.Socket{closed()} }, "listener 0", net.ErrClosed},
		// Serve() and Serve(nil) returned without closing Ready, and
		// Serve(nil) said "use of closed network connection".
		{"none", func() []*socket.Socket { return nil }, "no listener", os.ErrInvalid},
		{"nil", func() []*socket.Socket { return []*socket.Socket{nil} }, "listener 0 is nil", os.ErrInvalid},
		{"nil after one", func() []*socket.Socket { return []*socket.Socket{listening(), nil} }, "listener 1 is nil", os.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lns := tc.lns()
			e := &eventloop.Engine{Handler: echo{}, Loops: 1}
			err := e.Serve(lns...)
			select {
			case <-e.Ready():
			default:
				t.Errorf("Serve = %v, and Ready is not closed", err)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Serve = %v; want an error saying %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("Serve = %v; want errors.Is %v", err, tc.is)
			}
			for i, ln := range lns {
				if ln != nil && ln.Fd() >= 0 {
					t.Errorf("listener %d left open", i)
				}
			}
		})
	}
}

// TestReadyClosedWhenServeFails: whatever makes Serve or ListenAndServe
// return without serving, Ready is closed by the time it returns, so
// <-e.Ready() never hangs.
func TestReadyClosedWhenServeFails(t *testing.T) {
	listening := func() *socket.Socket { return listeningTCP(t) }
	udp := func() *socket.Socket { return boundUDP(t) }
	type streamOnly struct{ eventloop.BaseHandler }
	for _, tc := range []struct {
		name  string
		serve func(e *eventloop.Engine) error
		want  string
	}{
		{"no Handler", func(e *eventloop.Engine) error { e.Handler = nil; return e.Serve(listening()) }, "no Handler"},
		{"no listener", func(e *eventloop.Engine) error { return e.Serve() }, "no listener"},
		{"nil listener", func(e *eventloop.Engine) error { return e.Serve(nil) }, "nil"},
		{"UDP without OnPacket", func(e *eventloop.Engine) error { e.Handler = streamOnly{}; return e.Serve(udp()) }, "OnPacket"},
		{"unknown backend", func(e *eventloop.Engine) error { e.Backend = "kqueue"; return e.Serve(listening()) }, "kqueue"},
		{"closed before", func(e *eventloop.Engine) error { e.Close(); return e.Serve(listening()) }, "engine closed"},
		{"too many listeners", func(e *eventloop.Engine) error { return e.Serve(listening(), listening(), listening()) }, "3 listeners for 2 loops"},
		{"ListenAndServe bad network", func(e *eventloop.Engine) error { return e.ListenAndServe("sctp", "127.0.0.1:0") }, "sctp"},
		{"ListenAndServe bad address", func(e *eventloop.Engine) error { return e.ListenAndServe("tcp", "127.0.0.1:70000") }, "70000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &eventloop.Engine{Handler: echo{}, Loops: 2}
			err := tc.serve(e)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Serve = %v; want an error saying %q", err, tc.want)
			}
			select {
			case <-e.Ready():
			default:
				t.Errorf("Serve = %v, and Ready is not closed", err)
			}
		})
	}
}

// listeningTCP is a TCP socket listening on 127.0.0.1, port 0.
func listeningTCP(t *testing.T) *socket.Socket {
	t.Helper()
	s, err := socket.CreateServer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// boundUDP is a UDP socket bound to 127.0.0.1, port 0.
func boundUDP(t *testing.T) *socket.Socket {
	t.Helper()
	s, err := socket.Listen("udp4", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
