//go:build linux

package socket_test

import (
	"errors"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

// nilSocketResults are the documented results of the methods on a nil
// *Socket that return no error (and are not the zero value): every other
// method returns the zero value, and an error matching os.ErrInvalid if it
// returns one.
var nilSocketResults = map[string][]any{
	"Fd":     {-1},
	"String": {"<socket nil>"},
}

// nilSocketNonZero are methods on a nil *Socket whose result is a value that
// reports the nil socket itself (a wrapper whose methods return
// os.ErrInvalid, checked by TestZeroArgumentsSweep).
var nilSocketNonZero = map[string]bool{"Listener": true, "PacketConn": true}

// TestNilSocketMethods: every exported method on a nil *Socket returns an
// error matching os.ErrInvalid, or its documented zero value, and never
// panics (Recv and Fd panicked while Close returned os.ErrInvalid). Each
// method is called with zero arguments and, where it takes a buffer, a
// one-byte one.
func TestNilSocketMethods(t *testing.T) {
	sockettest.LeakCheck(t)
	var s *socket.Socket
	rv := reflect.ValueOf(s)
	rt := rv.Type()
	if rt.NumMethod() < 80 {
		t.Fatalf("*Socket has %d methods; the sweep expects them all", rt.NumMethod())
	}
	for i := range rt.NumMethod() {
		m := rt.Method(i)
		t.Run(m.Name, func(t *testing.T) {
			fn := rv.Method(i)
			ft := fn.Type()
			for _, withBuf := range []bool{false, true} {
				var args []reflect.Value
				for j := 0; j < ft.NumIn(); j++ {
					if ft.IsVariadic() && j == ft.NumIn()-1 {
						break
					}
					a := reflect.Zero(ft.In(j))
					if withBuf && ft.In(j) == reflect.TypeFor[[]byte]() {
						a = reflect.ValueOf(make([]byte, 1))
					}
					args = append(args, a)
				}
				out, p := callRecover(fn, args)
				if p != nil {
					t.Fatalf("(*Socket)(nil).%s panicked: %v", m.Name, p)
				}
				if out == nil {
					t.Fatalf("(*Socket)(nil).%s still blocks after 10 s", m.Name)
				}
				checkNilSocketResults(t, m.Name, out)
			}
		})
	}
}

func callRecover(fn reflect.Value, args []reflect.Value) (out []reflect.Value, p any) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { p = recover() }()
		out = fn.Call(args)
	}()
	select {
	case <-done:
		return out, p
	case <-time.After(10 * time.Second):
		return nil, nil
	}
}

func checkNilSocketResults(t *testing.T, name string, out []reflect.Value) {
	t.Helper()
	errType := reflect.TypeFor[error]()
	hasErr := len(out) > 0 && out[len(out)-1].Type() == errType
	if hasErr {
		err, _ := out[len(out)-1].Interface().(error)
		if !errors.Is(err, os.ErrInvalid) {
			t.Errorf("(*Socket)(nil).%s error = %v, want one matching os.ErrInvalid", name, err)
		}
		out = out[:len(out)-1]
	}
	if want, ok := nilSocketResults[name]; ok {
		for i, o := range out {
			if !reflect.DeepEqual(o.Interface(), want[i]) {
				t.Errorf("(*Socket)(nil).%s result %d = %v, want %v", name, i, o.Interface(), want[i])
			}
		}
		return
	}
	if nilSocketNonZero[name] {
		return
	}
	for i, o := range out {
		if o.Kind() == reflect.Bool && !hasErr {
			// A predicate (Closed, Blocking...): false or true are
			// both answers; the method must only not panic.
			continue
		}
		if !o.IsZero() {
			t.Errorf("(*Socket)(nil).%s result %d = %v, want the zero value", name, i, o.Interface())
		}
	}
}
