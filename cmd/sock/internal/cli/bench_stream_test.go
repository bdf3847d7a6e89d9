//go:build linux

package cli_test

import (
	"context"
	"encoding/json"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketkit/socketkit/cmd/sock/internal/cli"
)

// startStreamServer runs "sock bench --server" in process on a port of
// its own and returns the port and its stderr.
func startStreamServer(t *testing.T) (string, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var errb syncBuffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if code := cli.RunContext(ctx, []string{"bench", "--server", "--addr", "127.0.0.1:0"}, strings.NewReader(""), io.Discard, &errb); code != 0 {
			t.Errorf("sock bench --server exited %d: %s", code, errb.String())
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	re := regexp.MustCompile(`bench server on 127\.0\.0\.1:(\d+) `)
	for i := 0; i < 500; i++ {
		if m := re.FindStringSubmatch(errb.String()); m != nil {
			return m[1], &errb
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("sock bench --server did not start: %s", errb.String())
	return "", nil
}

// streamSum is a sum of sock bench --stream --json, as iperf3 writes it.
type streamSum struct {
	Seconds       float64  `json:"seconds"`
	Bytes         int64    `json:"bytes"`
	BitsPerSecond float64  `json:"bits_per_second"`
	JitterMs      *float64 `json:"jitter_ms"`
	LostPackets   *int64   `json:"lost_packets"`
	Packets       *int64   `json:"packets"`
	LostPercent   *float64 `json:"lost_percent"`
}

type streamResult struct {
	Start struct {
		TestStart struct {
			Protocol   string `json:"protocol"`
			NumStreams int    `json:"num_streams"`
		} `json:"test_start"`
	} `json:"start"`
	Intervals []struct {
		Sum             *streamSum `json:"sum"`
		SumBidirReverse *streamSum `json:"sum_bidir_reverse"`
	} `json:"intervals"`
	End struct {
		Streams                 []json.RawMessage `json:"streams"`
		Sum                     *streamSum        `json:"sum"`
		SumSent                 *streamSum        `json:"sum_sent"`
		SumReceived             *streamSum        `json:"sum_received"`
		SumSentBidirReverse     *streamSum        `json:"sum_sent_bidir_reverse"`
		SumReceivedBidirReverse *streamSum        `json:"sum_received_bidir_reverse"`
	} `json:"end"`
}

// checkTCP: everything sent was received.
func checkTCP(t *testing.T, dir string, sent, recv *streamSum) {
	t.Helper()
	if sent == nil || recv == nil {
		t.Fatalf("%s: no sum_sent or sum_received", dir)
	}
	if sent.Bytes <= 0 || sent.Bytes != recv.Bytes || recv.BitsPerSecond <= 0 || recv.Seconds <= 0 {
		t.Errorf("%s: sent %d bytes, received %d at %.0f bit/s in %.2fs; want all of them", dir, sent.Bytes, recv.Bytes, recv.BitsPerSecond, recv.Seconds)
	}
}

// checkUDP: the receiver's figures add up against the sender's, and the
// sender kept to the rate.
func checkUDP(t *testing.T, dir string, sent, recv *streamSum, size int64, rate float64) {
	t.Helper()
	if sent == nil || recv == nil || sent.Packets == nil || recv.Packets == nil || recv.LostPackets == nil || recv.JitterMs == nil || recv.LostPercent == nil {
		t.Fatalf("%s: missing UDP figures: sent %+v received %+v", dir, sent, recv)
	}
	got := *recv.Packets - *recv.LostPackets
	switch {
	case *sent.Packets <= 0 || *recv.Packets != *sent.Packets:
		t.Errorf("%s: %d datagrams sent, the receiver counts %d in all", dir, *sent.Packets, *recv.Packets)
	case got < 0 || recv.Bytes != got*size:
		t.Errorf("%s: %d datagrams received (%d lost) but %d bytes of %d-byte datagrams", dir, got, *recv.LostPackets, recv.Bytes, size)
	case *recv.JitterMs < 0 || *recv.LostPercent < 0 || *recv.LostPercent > 100:
		t.Errorf("%s: jitter %v ms, %v%% lost", dir, *recv.JitterMs, *recv.LostPercent)
	case sent.BitsPerSecond > 1.1*rate || sent.BitsPerSecond < 0.3*rate:
		t.Errorf("%s: sent at %.0f bit/s for a target of %.0f", dir, sent.BitsPerSecond, rate)
	}
}

// TestStreamBench: sock bench --stream against sock bench --server, TCP
// and UDP, each direction, several streams; --json in iperf3's layout.
func TestStreamBench(t *testing.T) {
	port, _ := startStreamServer(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"tcp", nil},
		{"tcp -P 3", []string{"-P", "3"}},
		{"tcp -R", []string{"-R"}},
		{"tcp --bidir -P 2", []string{"--bidir", "-P", "2"}},
		{"udp", []string{"-u", "-b", "20M", "-l", "1000"}},
		{"udp -R -P 2", []string{"-u", "-R", "-P", "2", "-b", "20M", "-l", "1000"}},
		{"udp --bidir", []string{"-u", "--bidir", "-b", "20M", "-l", "1000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"bench", "--stream", "127.0.0.1", port, "-t", "0.6", "-i", "0.2", "--json"}, tc.args...)
			code, out, errs := run(t, "", args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			var r streamResult
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, out)
			}
			streams := 1
			for i, a := range tc.args {
				if a == "-P" {
					streams = int(tc.args[i+1][0] - '0')
				}
			}
			bidir := strings.Contains(tc.name, "bidir")
			wantStreams := streams
			if bidir {
				wantStreams *= 2
			}
			if len(r.End.Streams) != wantStreams || r.Start.TestStart.NumStreams != streams || len(r.Intervals) < 2 {
				t.Errorf("%d streams at the end, num_streams %d, %d intervals; want %d, %d, 2 or more", len(r.End.Streams), r.Start.TestStart.NumStreams, len(r.Intervals), wantStreams, streams)
			}
			if strings.HasPrefix(tc.name, "tcp") {
				checkTCP(t, "sum", r.End.SumSent, r.End.SumReceived)
				if bidir {
					checkTCP(t, "bidir reverse", r.End.SumSentBidirReverse, r.End.SumReceivedBidirReverse)
				}
				return
			}
			if r.End.Sum == nil || r.End.Sum != nil && r.End.SumReceived != nil && *r.End.Sum.LostPackets != *r.End.SumReceived.LostPackets {
				t.Errorf("end.sum is not the receiver's view: %+v", r.End.Sum)
			}
			checkUDP(t, "sum", r.End.SumSent, r.End.SumReceived, 1000, 20e6)
			if bidir {
				checkUDP(t, "bidir reverse", r.End.SumSentBidirReverse, r.End.SumReceivedBidirReverse, 1000, 20e6)
			}
		})
	}
}

// TestStreamBenchText: the interval lines and the sender and receiver
// summary, as iperf3 prints them; a second client while a test runs is
// told the server is busy.
func TestStreamBenchText(t *testing.T) {
	port, log := startStreamServer(t)
	var wg sync.WaitGroup
	var code int
	var out, errs string
	wg.Add(1)
	go func() {
		defer wg.Done()
		code, out, errs = run(t, "", "bench", "--stream", "127.0.0.1", port, "-t", "1", "-i", "0.25", "-u", "-b", "5M")
	}()
	for i := 0; i < 1000 && !strings.Contains(log.String(), "starts"); i++ {
		time.Sleep(5 * time.Millisecond)
	}
	c2, _, errs2 := run(t, "", "bench", "--stream", "127.0.0.1", port, "-t", "1")
	oneErrorLine(t, c2, errs2, "the server is busy with another test")
	wg.Wait()
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := regexp.MustCompile(`(?m)^\[SUM\] +\d+\.\d\d-\d+\.\d\d +sec .* Mbits/sec .*$`).FindAllString(out, -1)
	if len(lines) < 4+2 || !regexp.MustCompile(`(?m)datagrams  sender$`).MatchString(out) ||
		!regexp.MustCompile(`(?m) ms  \d+/\d+ \([\d.e+-]+%\)  receiver$`).MatchString(out) {
		t.Errorf("want 4 interval lines, a sender and a receiver line:\n%s", out)
	}
}

// TestStreamBenchUsage: flags of the other mode, bad values and a peer
// that is not a bench server are one clear line each.
func TestStreamBenchUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--stream"}, "--stream takes HOST PORT"},
		{[]string{"bench"}, "give HOST PORT"},
		{[]string{"bench", "--server", "127.0.0.1", "1"}, "--server takes no HOST PORT"},
		{[]string{"bench", "-t", "1", "127.0.0.1", "6254"}, "-t belongs to the stream test"},
		{[]string{"bench", "--stream", "-c", "4", "127.0.0.1", "1"}, "-c belongs to the echo benchmark"},
		{[]string{"bench", "--stream", "-b", "10Q", "127.0.0.1", "1"}, "bad rate"},
		{[]string{"bench", "--stream", "-u", "-l", "10", "127.0.0.1", "1"}, "from 32 to 65507"},
		{[]string{"bench", "--stream", "-b", "10M", "127.0.0.1", "1"}, "-b paces UDP"},
		{[]string{"bench", "--stream", "-R", "--bidir", "127.0.0.1", "1"}, "exclude each other"},
		{[]string{"bench", "--stream", "--server"}, "exclude each other"},
		{[]string{"bench", "--server", "-t", "5"}, "is for the client"},
		{[]string{"bench", "--stream", "-P", "0", "127.0.0.1", "1"}, "-P must be from 1 to 128"},
		{[]string{"bench", "--stream", "-t", "0", "127.0.0.1", "1"}, "-t must be more than 0"},
		{[]string{"bench", "--server", "--addr", "5201"}, "want host:port"},
	} {
		code, _, errs := run(t, "", tc.args...)
		first, _, _ := strings.Cut(errs, "\n")
		if code != 2 || !strings.Contains(first, tc.want) {
			t.Errorf("sock %v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, errs, tc.want)
		}
	}
	// An echo server is not a bench server.
	echo := serveInProcess(t, "echo", "--addr", "127.0.0.1:0")
	host, port, _ := strings.Cut(echo, ":")
	code, _, errs := run(t, "", "bench", "--stream", host, port, "-t", "1")
	oneErrorLine(t, code, errs, "does not answer as sock bench --server")
}
