package proxyproto_test

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/socketkit/socketkit/proxyproto"
)

// TestNilArguments: nil and zero arguments give an error, never a panic
// (issue 9, part 5): a nil reader, a nil connection given to NewConn (every
// method of the Conn then fails as on a closed connection), a Listener with
// no net.Listener, a nil *Header, a nil *net.UnixAddr in a Header.
func TestNilArguments(t *testing.T) {
	nilConn := func() *proxyproto.Conn { return proxyproto.NewConn(nil, 0) }
	closed := func(err error) bool { return errors.Is(err, net.ErrClosed) }
	for _, tc := range []struct {
		name string
		call func() error
		ok   func(error) bool // nil: any error
	}{
		{"ReadHeader(nil)", func() error { _, err := proxyproto.ReadHeader(nil); return err }, nil},
		{"NewConn(nil).Read", func() error { _, err := nilConn().Read(make([]byte, 8)); return err }, closed},
		{"NewConn(nil).Header", func() error { _, err := nilConn().Header(); return err }, closed},
		{"NewConn(nil).Write", func() error { _, err := nilConn().Write([]byte("x")); return err }, closed},
		{"NewConn(nil).Close", func() error { return nilConn().Close() }, closed},
		{"NewConn(nil).SetDeadline", func() error { return nilConn().SetDeadline(time.Time{}) }, closed},
		{"NewConn(nil).SetReadDeadline", func() error { return nilConn().SetReadDeadline(time.Time{}) }, closed},
		{"NewConn(nil).SetWriteDeadline", func() error { return nilConn().SetWriteDeadline(time.Time{}) }, closed},
		{"NewConn(nil).WriteTo", func() error { _, err := nilConn().WriteTo(nil); return err }, closed},
		{"NewConn(nil).ReadFrom(nil)", func() error { _, err := nilConn().ReadFrom(nil); return err }, nil},
		{"NewConn(nil).CloseWrite", func() error { return nilConn().CloseWrite() }, nil},
		{"NewConn(nil).SyscallConn", func() error { _, err := nilConn().SyscallConn(); return err }, nil},
		{"NewConn(nil).RemoteAddr", func() error {
			if a := nilConn().RemoteAddr(); a != nil {
				return nil
			}
			return errors.New("nil")
		}, nil},
		{"Listener{}.Accept", func() error { _, err := (&proxyproto.Listener{}).Accept(); return err }, closed},
		{"Listener{}.Close", func() error { return (&proxyproto.Listener{}).Close() }, closed},
		{"Listener{}.Addr", func() error {
			if a := (&proxyproto.Listener{}).Addr(); a != nil {
				return nil
			}
			return errors.New("nil")
		}, nil},
		{"(*Header)(nil).Format", func() error { _, err := (*proxyproto.Header)(nil).Format(); return err }, nil},
		{"(*Header)(nil).String", func() error {
			if s := (*proxyproto.Header)(nil).String(); s != "<nil>" {
				return nil
			}
			return errors.New("<nil>")
		}, nil},
		{"(*Header)(nil).TLV", func() error {
			if _, ok := (*proxyproto.Header)(nil).TLV(proxyproto.TypeALPN); ok {
				return nil
			}
			return errors.New("none")
		}, nil},
		{"Format with a nil *net.UnixAddr", func() error {
			h := &proxyproto.Header{Version: 2, Command: proxyproto.Proxy, Transport: proxyproto.UnixStream,
				Source: (*net.UnixAddr)(nil), Destination: &net.UnixAddr{Name: "/x", Net: "unix"}}
			_, err := h.Format()
			return err
		}, func(err error) bool { return strings.Contains(err.Error(), "nil *net.UnixAddr") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("panicked: %v", p)
					}
				}()
				err = tc.call()
			}()
			if err == nil || (tc.ok != nil && !tc.ok(err)) {
				t.Fatalf("error %v", err)
			}
		})
	}
}
