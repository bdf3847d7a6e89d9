package socketserver_test

import (
	"context"
	"strings"
	"testing"

	"github.com/socketkit/socketkit/socketserver"
)

// TestNilArguments: nil and zero arguments give an error, never a panic
// (issue 9, part 5): a nil context to Serve, HandleRequest and Shutdown, a
// nil Option, and a handler that would panic on the first request (nil,
// a nil HandlerFunc, Stream(nil), Datagram(nil)) are refused by New and
// Serve; Close of a nil *Server returns an error.
func TestNilArguments(t *testing.T) {
	okHandler := socketserver.HandlerFunc(func(context.Context, *socketserver.Request) error { return nil })
	var nilCtx context.Context
	newServer := func(t *testing.T) *socketserver.Server {
		s, err := socketserver.NewTCPServer("127.0.0.1:0", okHandler)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	for _, tc := range []struct {
		name string
		call func(t *testing.T) error
		want string
	}{
		{"New(nil handler)", func(*testing.T) error { _, err := socketserver.New("tcp", "127.0.0.1:0", nil); return err }, "nil Handler"},
		{"NewUDPServer(nil handler)", func(*testing.T) error { _, err := socketserver.NewUDPServer("127.0.0.1:0", nil); return err }, "nil Handler"},
		{"New(HandlerFunc(nil))", func(*testing.T) error {
			_, err := socketserver.NewTCPServer("127.0.0.1:0", socketserver.HandlerFunc(nil))
			return err
		}, "nil HandlerFunc"},
		{"New(Stream(nil))", func(*testing.T) error {
			_, err := socketserver.NewTCPServer("127.0.0.1:0", socketserver.Stream(nil))
			return err
		}, "nil Func"},
		{"New(Datagram(nil))", func(*testing.T) error {
			_, err := socketserver.NewUDPServer("127.0.0.1:0", socketserver.Datagram(nil))
			return err
		}, "nil Func"},
		{"New(nil Option)", func(*testing.T) error { _, err := socketserver.New("tcp", "127.0.0.1:0", okHandler, nil); return err }, "nil Option"},
		{"Serve(nil)", func(t *testing.T) error { return newServer(t).Serve(nilCtx) }, "nil context.Context"},
		{"HandleRequest(nil)", func(t *testing.T) error { return newServer(t).HandleRequest(nilCtx) }, "nil context.Context"},
		{"Shutdown(nil)", func(t *testing.T) error { return newServer(t).Shutdown(nilCtx) }, "nil context.Context"},
		{"Server{} literal without a Handler: Serve", func(*testing.T) error {
			return (&socketserver.Server{Network: "tcp", Addr: "127.0.0.1:0"}).Serve(context.Background())
		}, "nil Handler"},
		{"(*Server)(nil).Close", func(*testing.T) error { return (*socketserver.Server)(nil).Close() }, "invalid argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("panicked: %v", p)
					}
				}()
				err = tc.call(t)
			}()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want one saying %q", err, tc.want)
			}
		})
	}
}
