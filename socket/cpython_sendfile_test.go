//go:build linux

package socket_test

// The port of CPython 3.11's SendfileUsingSendTest and
// SendfileUsingSendfileTest (Lib/test/test_socket.py). Python's
// sock.sendfile(file, offset, count) is io.Copy(sock, file) here, from the
// file's current offset (Seek for offset) and io.CopyN for count; the
// sendfile(2) path is taken for an *os.File and a plain send loop for a
// reader that hides it, the two variants CPython runs.

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/socketkit/socketkit/socket"
)

// sendfileSize is SendfileUsingSendTest.FILESIZE, smaller than CPython's
// 10 MiB to keep the suite quick but larger than every count used.
const sendfileSize = 6 << 20

// sendfileData is the file's content: random letters, as CPython writes.
var sendfileData = func() []byte {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	r := rand.New(rand.NewPCG(3, 11))
	chunk := make([]byte, 8192)
	for i := range chunk {
		chunk[i] = letters[r.IntN(len(letters))]
	}
	return bytes.Repeat(chunk, sendfileSize/len(chunk))
}()

// hidden hides the *os.File behind a plain io.Reader, so that io.Copy takes
// the send loop instead of sendfile(2): CPython's _sendfile_use_send.
type hidden struct{ io.Reader }

type sendfileVariant struct {
	name string
	wrap func(*os.File) io.Reader
}

var sendfileVariants = []sendfileVariant{
	{"SendfileUsingSendTest", func(f *os.File) io.Reader { return hidden{f} }},
	{"SendfileUsingSendfileTest", func(f *os.File) io.Reader { return f }},
}

func testFile(t *testing.T, data []byte) *os.File {
	t.Helper()
	name := filepath.Join(t.TempDir(), "testfn")
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// sendfilePair returns the client end (connected, as create_connection
// makes it) and a channel that yields what the server received until EOF.
func sendfilePair(t *testing.T) (*socket.Socket, <-chan []byte) {
	t.Helper()
	ln, addr := pyTCPServer(t)
	cli := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
	if err := cli.Connect(addr); err != nil {
		t.Fatal(err)
	}
	conn, _, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetTimeout(pyTimeout)
	got := make(chan []byte, 1)
	go func() {
		var out []byte
		buf := make([]byte, 8192)
		for {
			n, err := conn.Recv(buf, 0)
			if err != nil || n == 0 {
				got <- out
				return
			}
			out = append(out, buf[:n]...)
		}
	}()
	return cli, got
}

func pos(t *testing.T, f *os.File) int64 {
	t.Helper()
	p, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sendfileCase runs one method over both variants: send from the file
// (after seeking to offset; count < 0 means to EOF) and check what was
// sent, the file's position after and what the server received.
func sendfileCase(t *testing.T, data []byte, offset, count int64, timeout time.Duration) {
	for _, v := range sendfileVariants {
		t.Run(v.name, func(t *testing.T) {
			f := testFile(t, data)
			cli, got := sendfilePair(t)
			cli.SetTimeout(timeout)
			if offset > 0 {
				f.Seek(offset, io.SeekStart)
			}
			var sent int64
			var err error
			if count >= 0 {
				sent, err = io.CopyN(cli, v.wrap(f), count)
			} else {
				sent, err = io.Copy(cli, v.wrap(f))
			}
			cli.Close()
			want := data[offset:]
			if count >= 0 {
				want = want[:count]
			}
			if err != nil || sent != int64(len(want)) {
				t.Fatalf("sent %d, %v; want %d", sent, err, len(want))
			}
			if p := pos(t, f); p != offset+int64(len(want)) {
				t.Fatalf("file position %d; want %d", p, offset+int64(len(want)))
			}
			if r := <-got; !bytes.Equal(r, want) {
				t.Fatalf("server received %d bytes; want %d", len(r), len(want))
			}
		})
	}
}

func TestSendfileUsingSendTest_testRegularFile(t *testing.T) {
	sendfileCase(t, sendfileData, 0, -1, 0)
}

func TestSendfileUsingSendTest_testNonRegularFile(t *testing.T) {
	cli, got := sendfilePair(t)
	r := bytes.NewReader(sendfileData)
	sent, err := io.Copy(cli, r)
	cli.Close()
	if err != nil || sent != sendfileSize || r.Len() != 0 {
		t.Fatalf("sent %d, %v, %d left", sent, err, r.Len())
	}
	if data := <-got; !bytes.Equal(data, sendfileData) {
		t.Fatalf("server received %d bytes", len(data))
	}
}

func TestSendfileUsingSendTest_testEmptyFileSend(t *testing.T) {
	sendfileCase(t, nil, 0, -1, 0)
}

func TestSendfileUsingSendTest_testOffset(t *testing.T) {
	sendfileCase(t, sendfileData, 5000, -1, 0)
}

func TestSendfileUsingSendTest_testCount(t *testing.T) {
	sendfileCase(t, sendfileData, 0, 5000007, pyTimeout)
}

func TestSendfileUsingSendTest_testCountSmall(t *testing.T) {
	sendfileCase(t, sendfileData, 0, 1, pyTimeout)
}

func TestSendfileUsingSendTest_testCountWithOffset(t *testing.T) {
	sendfileCase(t, sendfileData, 2007, 100007, 2*time.Second)
}

func TestSendfileUsingSendTest_testWithTimeout(t *testing.T) {
	sendfileCase(t, sendfileData, 0, -1, pyTimeout)
}

func TestSendfileUsingSendTest_testWithTimeoutTriggeredSend(t *testing.T) {
	for _, v := range sendfileVariants {
		t.Run(v.name, func(t *testing.T) {
			// A file larger than every socket buffer (sparse, so cheap), and
			// a server that reads nothing: the send must time out.
			f := testFile(t, nil)
			if err := os.Truncate(f.Name(), 256<<20); err != nil {
				t.Fatal(err)
			}
			ln, addr := pyTCPServer(t)
			cli := newSock(t, socket.AF_INET, socket.SOCK_STREAM)
			if err := cli.Connect(addr); err != nil {
				t.Fatal(err)
			}
			conn, _, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			cli.SetTimeout(10 * time.Millisecond)
			n, err := io.Copy(cli, v.wrap(f))
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("io.Copy into a peer that reads nothing: %d bytes, %v; want a timeout", n, err)
			}
		})
	}
}

func TestSendfileUsingSendTest_testNonBlocking(t *testing.T) {
	// Python refuses a non-blocking socket (ValueError) and sends nothing.
	// Here io.Copy on a non-blocking socket sends what fits and stops with
	// EAGAIN, as every call does in non-blocking mode: a difference by
	// design. What the server receives is a prefix of the file, and the
	// count returned says how long.
	for _, v := range sendfileVariants {
		t.Run(v.name, func(t *testing.T) {
			f := testFile(t, sendfileData)
			cli, got := sendfilePair(t)
			cli.SetBlocking(false)
			sent, err := io.Copy(cli, v.wrap(f))
			if err != nil && !errors.Is(err, syscall.EAGAIN) {
				t.Fatalf("io.Copy on a non-blocking socket: %v", err)
			}
			cli.Close()
			if r := <-got; !bytes.Equal(r, sendfileData[:sent]) {
				t.Fatalf("server received %d bytes; the client reported %d", len(r), sent)
			}
		})
	}
}
