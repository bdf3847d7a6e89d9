package cli

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/socketkit/socketkit/socket"
	ss "github.com/socketkit/socketkit/socketserver"
)

// A service is one of the classic inetd services (and a chat room):
// handler serves it on socketserver, over streams and datagrams; conn
// serves one stream connection given as a net.Conn (TLS on the engine,
// through eventloop.Blocking). The engine's own callbacks are in engine.go.
type service struct {
	name, rfc, about string
	handler          func() ss.Handler
	conn             func() connService
}

// connService serves one stream connection; closeNow closes it at once from
// any goroutine (the socket under a TLS connection).
type connService func(ctx context.Context, c net.Conn, closeNow func() error) error

var services = []service{
	{"echo", "RFC 862", "sends back every byte (every datagram) it receives",
		func() ss.Handler { return ss.HandlerFunc(echoService) }, plain(echoConn)},
	{"discard", "RFC 863", "reads and throws away what it receives; sends nothing",
		func() ss.Handler { return ss.HandlerFunc(discardService) }, plain(discardConn)},
	{"chargen", "RFC 864", "sends a rotating pattern of printable characters until the client leaves (a datagram of 0-512 of them per datagram)",
		func() ss.Handler { return ss.HandlerFunc(chargenService) }, plain(chargenConn)},
	{"daytime", "RFC 867", "sends the date and time as a line of text, then closes",
		func() ss.Handler { return ss.HandlerFunc(daytimeService) }, plain(daytimeConn)},
	{"time", "RFC 868", "sends the time as 32-bit seconds since 1900-01-01 UTC, then closes",
		func() ss.Handler { return ss.HandlerFunc(timeService) }, plain(timeConn)},
	{"chat", "", "sends each line (datagram) from a client to every other client",
		func() ss.Handler { return newRoom(chatRoom, nil) },
		func() connService {
			rm := newRoom(chatRoom, nil)
			return func(ctx context.Context, c net.Conn, closeNow func() error) error {
				return rm.serveConn(c, netAddrName(c.RemoteAddr(), -1), closeNow)
			}
		}},
}

// plain makes a connService of a service that keeps no state.
func plain(f func(ctx context.Context, c net.Conn) error) func() connService {
	return func() connService {
		return func(ctx context.Context, c net.Conn, _ func() error) error { return f(ctx, c) }
	}
}

func echoConn(ctx context.Context, c net.Conn) error {
	_, err := io.Copy(c, c)
	return quietErr(err)
}

func discardConn(ctx context.Context, c net.Conn) error {
	_, err := io.Copy(io.Discard, c)
	return quietErr(err)
}

// chargenConn sends the pattern until the client leaves or ctx ends.
func chargenConn(ctx context.Context, c net.Conn) error {
	// Read and ignore input, so that the client closing is noticed.
	go io.Copy(io.Discard, c)
	var block []byte
	for i := 0; i < 95; i++ {
		block = append(block, chargenLine(i)...)
	}
	for ctx.Err() == nil {
		if _, err := c.Write(block); err != nil {
			return quietErr(err)
		}
	}
	return nil
}

func daytimeConn(ctx context.Context, c net.Conn) error {
	_, err := io.WriteString(c, daytimeText(time.Now()))
	return quietErr(err)
}

func timeConn(ctx context.Context, c net.Conn) error {
	_, err := c.Write(rfc868Now())
	return quietErr(err)
}

func findService(name string) (service, bool) {
	for _, s := range services {
		if s.name == name {
			return s, true
		}
	}
	return service{}, false
}

// echoService: RFC 862. On a byte stream it copies with io.Copy, which
// splices in the kernel; on a record transport it echoes record by record.
func echoService(ctx context.Context, r *ss.Request) error {
	if r.Conn == nil {
		return r.Reply(r.Packet)
	}
	if r.Socket.Type() == socket.SOCK_STREAM {
		return echoConn(ctx, r.Conn)
	}
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Conn.Read(buf)
		if n > 0 {
			if _, werr := r.Conn.Write(buf[:n]); werr != nil {
				return quietErr(werr)
			}
		}
		if err != nil {
			return quietErr(err)
		}
	}
}

// quietErr drops the errors that only say the client left.
func quietErr(err error) error {
	if err == nil || errors.Is(err, io.EOF) || peerLeft(err) {
		return nil
	}
	return err
}

func discardService(ctx context.Context, r *ss.Request) error {
	if r.Conn == nil {
		return nil
	}
	return discardConn(ctx, r.Conn)
}

// chargenLine returns line i of the RFC 864 pattern: 72 of the 95
// printable ASCII characters, starting one further along each line.
func chargenLine(i int) []byte {
	line := make([]byte, 74)
	for j := 0; j < 72; j++ {
		line[j] = byte(32 + (i+j)%95)
	}
	line[72], line[73] = '\r', '\n'
	return line
}

func chargenService(ctx context.Context, r *ss.Request) error {
	if r.Conn == nil {
		n := rand.IntN(513)
		b := make([]byte, 0, n)
		for i := 0; len(b) < n; i++ {
			b = append(b, chargenLine(i)...)
		}
		return r.Reply(b[:n])
	}
	return chargenConn(ctx, r.Conn)
}

// daytimeText is the RFC 867 reply, in the ctime(3) form inetd uses.
func daytimeText(now time.Time) string {
	return now.Format("Mon Jan _2 15:04:05 2006") + "\r\n"
}

func daytimeService(ctx context.Context, r *ss.Request) error {
	return r.Reply([]byte(daytimeText(time.Now())))
}

// rfc868Epoch is 1900-01-01 00:00:00 UTC.
var rfc868Epoch = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)

// rfc868Now is the RFC 868 reply: seconds since 1900 as 32 bits.
func rfc868Now() []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(time.Since(rfc868Epoch)/time.Second))
}

func timeService(ctx context.Context, r *ss.Request) error {
	return r.Reply(rfc868Now())
}

// serviceList is the help text listing the services.
func serviceList() string {
	var b strings.Builder
	for _, s := range services {
		rfc := ""
		if s.rfc != "" {
			rfc = " (" + s.rfc + ")"
		}
		fmt.Fprintf(&b, "  %-8s %s%s\n", s.name, s.about, rfc)
	}
	return b.String()
}

// peerLeft reports whether err only says that the client went away.
func peerLeft(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)
}
