//go:build linux

package cli_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketkit/socketkit/cmd/sock/internal/cli"
	"github.com/socketkit/socketkit/internal/sockettest"
)

// TestChatOneFormat: "sock serve chat" on goroutines and on the engine and
// "sock listen --chat" are one chat room: the same lines for the same
// events.
func TestChatOneFormat(t *testing.T) {
	for _, tc := range []struct {
		name  string
		serve func(t *testing.T) string // returns host:port
	}{
		{"serve", func(t *testing.T) string {
			return serveInProcess(t, "chat", "--addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
		}},
		{"serve --engine loop", func(t *testing.T) string {
			return serveInProcess(t, "chat", "--engine", "loop", "--loops", "2", "--addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
		}},
		{"listen --chat", func(t *testing.T) string {
			port := fmt.Sprint(freePort(t))
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				cli.RunContext(ctx, []string{"listen", "--chat", "127.0.0.1", port}, strings.NewReader(""), io.Discard, io.Discard)
			}()
			t.Cleanup(func() { cancel(); wg.Wait() })
			waitListen(t, "tcp", "127.0.0.1:"+port)
			return "127.0.0.1:" + port
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sockettest.LeakCheck(t)
			_, port, _ := strings.Cut(tc.serve(t), ":")
			a := dialTCP(t, port)
			ra := bufio.NewReader(a)
			aName := a.LocalAddr().String()
			if got, want := readLineFrom(t, ra), "* you are "+aName+"; 1 in the room\n"; got != want {
				t.Fatalf("a got %q, want %q", got, want)
			}
			b := dialTCP(t, port)
			rb := bufio.NewReader(b)
			bName := b.LocalAddr().String()
			for _, step := range []struct {
				r         *bufio.Reader
				who, want string
			}{
				{rb, "b", "* you are " + bName + "; 2 in the room\n"},
				{ra, "a", "* " + bName + " joined\n"},
			} {
				if got := readLineFrom(t, step.r); got != step.want {
					t.Fatalf("%s got %q, want %q", step.who, got, step.want)
				}
			}
			a.Sendall([]byte("hello from a\r\n"), 0)
			if got, want := readLineFrom(t, rb), aName+": hello from a\n"; got != want {
				t.Fatalf("b got %q, want %q", got, want)
			}
			b.Close()
			if got, want := readLineFrom(t, ra), "* "+bName+" left\n"; got != want {
				t.Fatalf("a got %q, want %q", got, want)
			}
		})
	}
}

// TestChatStuckClient: in sock serve chat, on goroutines and on the
// engine, a client that never reads is disconnected once its queue is full,
// and the others read why.
func TestChatStuckClient(t *testing.T) {
	for _, engine := range []string{"goroutines", "loop"} {
		t.Run(engine, func(t *testing.T) {
			addr := serveInProcess(t, "chat", "--engine", engine, "--addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
			_, port, _ := strings.Cut(addr, ":")
			reader := dialTCP(t, port)
			rr := bufio.NewReader(reader)
			readLineFrom(t, rr) // in the room
			stuck := dialTCP(t, port)
			stuck.SetReadBuffer(4096)
			if line := readLineFrom(t, rr); !strings.Contains(line, "joined") {
				t.Fatalf("reader got %q", line)
			}
			sender := dialTCP(t, port)
			if line := readLineFrom(t, rr); !strings.Contains(line, "joined") {
				t.Fatalf("reader got %q", line)
			}
			line := strings.Repeat("y", 200) + "\n"
			done := make(chan struct{})
			defer close(done)
			go func() {
				for {
					select {
					case <-done:
						return
					default:
					}
					if _, err := sender.Sendall([]byte(strings.Repeat(line, 50)), 0); err != nil {
						return
					}
				}
			}()
			reader.SetReadDeadline(time.Now().Add(30 * time.Second))
			for {
				got, err := rr.ReadString('\n')
				if err != nil {
					t.Fatalf("the reader got no SendQ notice: %v", err)
				}
				if strings.Contains(got, "SendQ exceeded") {
					if want := "* " + stuck.LocalAddr().String() + " left: SendQ exceeded"; !strings.HasPrefix(got, want) {
						t.Fatalf("notice %q, want it to begin %q", got, want)
					}
					return
				}
			}
		})
	}
}
