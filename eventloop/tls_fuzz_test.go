//go:build linux

package eventloop_test

import (
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/socketkit/socketkit/eventloop"
)

// FuzzTLSInput feeds arbitrary bytes into the engine's TLS input path, on
// every backend that runs here: as the first flight of a connection
// (where a ClientHello is expected) or, after a real handshake, as
// records. Whatever the bytes, the engine must not panic, must close the
// connection once the peer has ended its side (never leaving it hanging
// half-open), and must go on serving a healthy connection. The seed
// corpus is in testdata/fuzz/FuzzTLSInput.
func FuzzTLSInput(f *testing.F) {
	hello := clientHello(f)
	f.Add(false, hello)
	f.Add(false, hello[:len(hello)/2])
	f.Add(false, []byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add(false, []byte{0x80, 0x2e, 0x01, 0x00, 0x02})              // an SSLv2 hello
	f.Add(false, []byte{22, 3, 1, 0xff, 0xff})                      // a record longer than allowed
	f.Add(false, []byte{21, 3, 3, 0, 2, 2, 40})                     // an alert instead of a hello
	f.Add(true, []byte{23, 3, 3, 0, 100, 1, 2, 3})                  // a truncated record
	f.Add(true, []byte{23, 3, 3, 0, 17, 1, 2, 3, 4, 5, 6, 7, 8, 9}) // a short one
	f.Add(true, []byte{21, 3, 3, 0, 2, 1, 0})                       // a plaintext close_notify after the handshake
	f.Add(true, []byte{22, 3, 3, 0, 4, 0, 0, 0, 0})                 // a plaintext handshake message
	f.Add(true, []byte{})

	type target struct {
		addr    string
		healthy *tls.Conn
	}
	var targets []target
	backends := []eventloop.Backend{eventloop.BackendEpoll}
	if eventloop.ProbeIOUring() == nil {
		backends = append(backends, eventloop.BackendIOUring)
	}
	for _, b := range backends {
		e := &eventloop.Engine{Handler: &tlsEcho{}, Loops: 1, Backend: b, TLSConfig: tlsServerConfig(f), TLSHandshakeTimeout: 5 * time.Second}
		addr, _ := start(f, e, "tcp", "127.0.0.1:0")
		healthy, err := tls.Dial("tcp", addr, tlsClientConfig(f))
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { healthy.Close() })
		targets = append(targets, target{addr, healthy})
	}
	f.Fuzz(func(t *testing.T, afterHandshake bool, data []byte) {
		for _, tg := range targets {
			var raw *net.TCPConn
			if afterHandshake {
				r := dialRawTLS(t, tg.addr)
				raw = r.raw
			} else {
				raw = dial(t, tg.addr).(*net.TCPConn)
			}
			raw.Write(data)
			raw.CloseWrite()
			raw.SetReadDeadline(time.Now().Add(10 * time.Second))
			buf := make([]byte, 4096)
			for {
				_, err := raw.Read(buf)
				if err == nil {
					continue
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("the engine left the connection open 10s after the peer's FIN (%d bytes, after the handshake: %v)", len(data), afterHandshake)
				}
				break
			}
			raw.Close()
			echoCheck(t, tg.healthy, []byte("still served"))
		}
	})
}
