//go:build linux

package cli_test

import (
	"bufio"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/socketkit/socketkit/socket"
)

// TestBrokerSlowReader: in --broker and --chat, a client that never reads
// does not stall the room. Its output queue fills, it is disconnected, the
// others are told why ("SendQ exceeded"), and a reading client gets at
// least 90% of what is sent.
func TestBrokerSlowReader(t *testing.T) {
	const lines = 200_000 // 20 MB: beyond the kernel buffers of the stuck client and its queue
	payload := strings.Repeat("x", 99)
	for _, mode := range []string{"--broker", "--chat"} {
		t.Run(mode, func(t *testing.T) {
			port := fmt.Sprint(freePort(t))
			l := start(t, "sock", "listen", "-v", mode, "127.0.0.1", port)
			waitListen(t, "tcp", "127.0.0.1:"+port)
			sender := dialTCP(t, port)
			waitJoined(t, l, 1)
			reader := dialTCP(t, port)
			waitJoined(t, l, 2)
			stuck, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer stuck.Close()
			stuck.SetReadBuffer(4096)
			sa, _ := socket.ParseAddr(socket.AF_INET, "127.0.0.1:"+port)
			if err := stuck.Connect(sa); err != nil {
				t.Fatal(err)
			}
			waitJoined(t, l, 3)
			stuckName := stuck.LocalAddr().String()

			sent := make(chan error, 1)
			go func() {
				w := bufio.NewWriterSize(sender, 64<<10)
				for i := 0; i < lines; i++ {
					if _, err := w.WriteString(payload + "\n"); err != nil {
						sent <- err
						return
					}
				}
				sent <- w.Flush()
			}()
			// Read until all has come (one line may be cut by the notice,
			// which a broker inserts between two chunks) or the time is up.
			reader.SetReadDeadline(time.Now().Add(30 * time.Second))
			in := bufio.NewReaderSize(reader, 64<<10)
			got, kicked := 0, ""
			for got < lines-1 || kicked == "" {
				line, err := in.ReadString('\n')
				if err != nil {
					break
				}
				switch {
				case strings.HasSuffix(line, payload+"\n"):
					got++
				case strings.Contains(line, "SendQ exceeded"):
					kicked = line
				}
			}
			if got < lines*9/10 {
				t.Fatalf("the reading client got %d of %d lines (a client that does not read stalls the others)", got, lines)
			}
			if err := <-sent; err != nil {
				t.Fatalf("sending: %v", err)
			}
			if kicked == "" {
				t.Fatal("no SendQ notice to the others")
			}
			if !strings.Contains(kicked, stuckName) {
				t.Errorf("the notice %q does not name the client %s", kicked, stuckName)
			}
			t.Logf("reader got %d of %d lines; notice: %q", got, lines, kicked)
		})
	}
}

// TestBroker: --broker relays what one client sends to the others, as it
// comes.
func TestBroker(t *testing.T) {
	port := fmt.Sprint(freePort(t))
	l := start(t, "sock", "listen", "-v", "--broker", "127.0.0.1", port)
	a := dialTCP(t, port)
	b := dialTCP(t, port)
	c := dialTCP(t, port)
	waitJoined(t, l, 3)
	a.Sendall([]byte("a to all\n"), 0)
	for _, to := range []*socket.Socket{b, c} {
		if line := readLineFrom(t, bufio.NewReader(to)); line != "a to all\n" {
			t.Fatalf("got %q", line)
		}
	}
}

// waitJoined waits until a -v listener has logged n clients joining.
func waitJoined(t *testing.T, l *proc, n int) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		if strings.Count(l.errb.String(), " joined") >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d clients never joined: %s", n, l.errb.String())
}

// TestListenKeepFanout: sock listen -k sends stdin to every client and
// each client's data to stdout.
func TestListenKeepFanout(t *testing.T) {
	port := fmt.Sprint(freePort(t))
	l := start(t, "sock", "listen", "-vk", "127.0.0.1", port)
	a := dialTCP(t, port)
	b := dialTCP(t, port)
	waitJoined(t, l, 2)
	l.send("to all\n")
	for _, c := range []*socket.Socket{a, b} {
		if line := readLineFrom(t, bufio.NewReader(c)); line != "to all\n" {
			t.Fatalf("got %q", line)
		}
	}
	a.Sendall([]byte("from a\n"), 0)
	b.Sendall([]byte("from b\n"), 0)
	l.expect("from a\n")
	l.expect("from b\n")
}
