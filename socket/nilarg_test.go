//go:build linux

package socket_test

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

// The package doc promises that no argument panics (issue 9, part 5:
// CreateConnection(nil, ...) did). The sweep below calls every exported
// function, and every method of the package's handle types, with the zero
// value of each argument; the table after it checks the errors of the
// calls that used to panic.

// exportedFuncs lists every exported function of the package, by name: the
// sweep calls each, and TestExportedFuncsListed fails when the source has
// one that is missing here.
var exportedFuncs = map[string]any{
	"AddrPortOf": socket.AddrPortOf, "AppendControlMessage": socket.AppendControlMessage,
	"CmsgLen": socket.CmsgLen, "CmsgSpace": socket.CmsgSpace,
	"CreateConnection": socket.CreateConnection, "CreateServer": socket.CreateServer,
	"DefaultTimeout": socket.DefaultTimeout, "FromConn": socket.FromConn,
	"FromNetAddr": socket.FromNetAddr, "GetAddrInfo": socket.GetAddrInfo,
	"GetFQDN": socket.GetFQDN, "GetHostByAddr": socket.GetHostByAddr,
	"GetHostByName": socket.GetHostByName, "GetHostByNameEx": socket.GetHostByNameEx,
	"GetHostname": socket.GetHostname, "GetNameInfo": socket.GetNameInfo,
	"GetProtoByName": socket.GetProtoByName, "GetServByName": socket.GetServByName,
	"GetServByPort": socket.GetServByPort, "HasDualStackIPv6": socket.HasDualStackIPv6,
	"HasIPv6": socket.HasIPv6, "Htonl": socket.Htonl, "Htons": socket.Htons,
	"InetAddr": socket.InetAddr, "InetAton": socket.InetAton, "InetNtoa": socket.InetNtoa,
	"InetNtop": socket.InetNtop, "InetPton": socket.InetPton,
	"IsReservedPort": socket.IsReservedPort, "Listen": socket.Listen,
	"NetAddr": socket.NetAddr, "New": socket.New, "Ntohl": socket.Ntohl, "Ntohs": socket.Ntohs,
	"ParseAddr": socket.ParseAddr, "ParseAddrContext": socket.ParseAddrContext,
	"ParseControlMessages": socket.ParseControlMessages, "ParseNetwork": socket.ParseNetwork,
	"ParsePort": socket.ParsePort, "SetDefaultTimeout": socket.SetDefaultTimeout,
	"Socketpair": socket.Socketpair, "UnixCredentials": socket.UnixCredentials,
	"UnixRights": socket.UnixRights,
	// NewFd(0) and FromFd(0, ...) would adopt or copy whatever descriptor 0
	// is: the table below calls them with -1 instead.
	"NewFd": nil, "FromFd": nil,
}

// TestExportedFuncsListed: exportedFuncs names every exported function in
// the package's source, so that the sweep covers new ones.
func TestExportedFuncsListed(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv != nil || !fd.Name.IsExported() {
				continue
			}
			if _, ok := exportedFuncs[fd.Name.Name]; !ok {
				t.Errorf("%s: %s is not in exportedFuncs: add it, so that the nil-argument sweep calls it", name, fd.Name.Name)
			}
		}
	}
}

// callZero calls fn with the zero value of every argument (none for a
// variadic one) and reports a panic. A call still running after a moment
// is woken by unblock (closing the socket), since the sweep calls Accept
// and Recv too; results that hold descriptors are closed.
func callZero(t *testing.T, name string, fn reflect.Value, unblock func()) {
	t.Helper()
	ft := fn.Type()
	var args []reflect.Value
	for i := 0; i < ft.NumIn(); i++ {
		if ft.IsVariadic() && i == ft.NumIn()-1 {
			break
		}
		args = append(args, reflect.Zero(ft.In(i)))
	}
	panicked := make(chan any, 1)
	go func() {
		defer func() { panicked <- recover() }()
		for _, out := range fn.Call(args) {
			if c, ok := out.Interface().(io.Closer); ok && !out.IsZero() {
				c.Close()
			}
		}
	}()
	var p any
	select {
	case p = <-panicked:
	case <-time.After(50 * time.Millisecond):
		if unblock != nil {
			unblock()
		}
		select {
		case p = <-panicked:
		case <-time.After(10 * time.Second):
			t.Errorf("%s with zero arguments still blocks after its socket was closed", name)
			return
		}
	}
	if p != nil {
		t.Errorf("%s with zero arguments panicked: %v", name, p)
	}
}

// TestZeroArgumentsSweep: no exported function, and no method of a Socket
// (TCP, UDP, Unix), a Listener or a PacketConn (made from sockets, or zero
// values), panics when each argument is the zero value: a nil context,
// address, reader, writer or slice, 0 for numbers.
func TestZeroArgumentsSweep(t *testing.T) {
	sockettest.LeakCheck(t)
	defer socket.SetDefaultTimeout(socket.DefaultTimeout())
	for name, f := range exportedFuncs {
		if f != nil {
			callZero(t, name, reflect.ValueOf(f), nil)
		}
	}
	sock := func(f socket.Family, ty socket.Type) func() (any, func()) {
		return func() (any, func()) {
			s, err := socket.New(f, ty, 0)
			if err != nil {
				t.Fatal(err)
			}
			return s, func() { s.Close() }
		}
	}
	receivers := []struct {
		name string
		make func() (recv any, unblock func())
	}{
		{"*Socket (tcp)", sock(socket.AF_INET, socket.SOCK_STREAM)},
		{"*Socket (udp)", sock(socket.AF_INET, socket.SOCK_DGRAM)},
		{"*Socket (unix)", sock(socket.AF_UNIX, socket.SOCK_STREAM)},
		{"*Listener", func() (any, func()) {
			r, c := sock(socket.AF_INET, socket.SOCK_STREAM)()
			return r.(*socket.Socket).Listener(), c
		}},
		{"*PacketConn", func() (any, func()) {
			r, c := sock(socket.AF_INET, socket.SOCK_DGRAM)()
			return r.(*socket.Socket).PacketConn(), c
		}},
		{"zero *Listener", func() (any, func()) { return &socket.Listener{}, nil }},
		{"zero *PacketConn", func() (any, func()) { return &socket.PacketConn{}, nil }},
		{"(*Socket)(nil).Listener()", func() (any, func()) { return (*socket.Socket)(nil).Listener(), nil }},
	}
	for _, r := range receivers {
		v, done := r.make()
		n := reflect.ValueOf(v).NumMethod()
		if done != nil {
			done()
		}
		for i := range n {
			v, done := r.make()
			rv := reflect.ValueOf(v)
			callZero(t, r.name+"."+rv.Type().Method(i).Name, rv.Method(i), done)
			if done != nil {
				done()
			}
		}
	}
}

// TestNilArguments: the calls that panicked before return one clear error.
func TestNilArguments(t *testing.T) {
	sockettest.LeakCheck(t)
	c, s := connPair(t, streamNets[0])
	go c.Sendall([]byte("some bytes"), 0)
	var nilCtx context.Context
	for _, tc := range []struct {
		name string
		call func() error
		want string // in the message
	}{
		{"CreateConnection(nil, ...)", func() error {
			_, err := socket.CreateConnection(nilCtx, "127.0.0.1:1", nil)
			return err
		}, "nil context.Context"},
		{"GetAddrInfo(nil, ...)", func() error { _, err := socket.GetAddrInfo(nilCtx, "localhost", "80", nil); return err }, "nil context.Context"},
		{"GetNameInfo(nil, ...)", func() error {
			_, _, err := socket.GetNameInfo(nilCtx, &socket.Inet4Addr{Addr: [4]byte{192, 0, 2, 1}}, 0)
			return err
		}, "nil context.Context"},
		{"ParseAddrContext(nil, ...)", func() error {
			_, err := socket.ParseAddrContext(nilCtx, socket.AF_INET, "localhost:80")
			return err
		}, "nil context.Context"},
		{"AcceptContext(nil)", func() error { _, _, err := s.AcceptContext(nilCtx); return err }, "nil context.Context"},
		{"ConnectContext(nil, addr)", func() error {
			return newSock(t, socket.AF_INET, socket.SOCK_STREAM).ConnectContext(nilCtx, &socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}, Port: 1})
		}, "nil context.Context"},
		{"RecvContext(nil, ...)", func() error { _, err := s.RecvContext(nilCtx, make([]byte, 4), 0); return err }, "nil context.Context"},
		{"RecvfromContext(nil, ...)", func() error { _, _, err := s.RecvfromContext(nilCtx, make([]byte, 4), 0); return err }, "nil context.Context"},
		{"SendallContext(nil, ...)", func() error { _, err := s.SendallContext(nilCtx, []byte("x"), 0); return err }, "nil context.Context"},
		{"SendtoContext(nil, ...)", func() error {
			u := newSock(t, socket.AF_INET, socket.SOCK_DGRAM)
			_, err := u.SendtoContext(nilCtx, []byte("x"), 0, &socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}, Port: 9})
			return err
		}, "nil context.Context"},
		{"FromConn(nil)", func() error { _, err := socket.FromConn(nil); return err }, "nil syscall.Conn"},
		{"FromConn((*net.TCPConn)(nil))", func() error { _, err := socket.FromConn((*net.TCPConn)(nil)); return err }, "nil *net.TCPConn"},
		{"NewFd(-1)", func() error { _, err := socket.NewFd(-1); return err }, "bad file descriptor"},
		{"FromFd(-1, ...)", func() error { _, err := socket.FromFd(-1, 0, 0, 0); return err }, "bad file descriptor"},
		{"ReadFrom(nil)", func() error { _, err := c.ReadFrom(nil); return err }, "nil io.Reader"},
		{"ReadFrom(&io.LimitedReader{N: 10})", func() error { _, err := c.ReadFrom(&io.LimitedReader{N: 10}); return err }, "nil io.Reader"},
		{"WriteTo(nil)", func() error { _, err := s.WriteTo(nil); return err }, "nil io.Writer"},
		{"WriteTo((*socket.Socket)(nil))", func() error { _, err := s.WriteTo((*socket.Socket)(nil)); return err }, "nil *socket.Socket"},
		{"zero Listener Accept", func() error { _, err := (&socket.Listener{}).Accept(); return err }, "no socket"},
		{"zero PacketConn WriteTo", func() error {
			_, err := (&socket.PacketConn{}).WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9})
			return err
		}, "no socket"},
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
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want one saying %q", err, tc.want)
			}
			if tc.want == "nil context.Context" && !errors.Is(err, syscall.EINVAL) {
				t.Errorf("error %v does not match EINVAL", err)
			}
			if tc.want == "no socket" && !errors.Is(err, net.ErrClosed) {
				t.Errorf("error %v does not match net.ErrClosed", err)
			}
		})
	}
	if sa := socket.NetAddr((*socket.UnixAddr)(nil), socket.SOCK_STREAM); sa != nil {
		t.Errorf("NetAddr of a nil *UnixAddr = %v, want nil", sa)
	}
}
