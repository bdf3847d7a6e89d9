//go:build linux

package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
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

// ctlDial opens a control connection to the bench server on port, as a
// client that speaks the protocol by hand.
func ctlDial(t *testing.T, port string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitBenchLog waits for want in the server's log.
func waitBenchLog(t *testing.T, log *syncBuffer, want string, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if strings.Contains(log.String(), want) {
			return
		}
	}
	t.Fatalf("no %q in the server's log within %v:\n%s", want, within, log.String())
}

// readAnswer reads what the server says until it closes the connection,
// within d.
func readAnswer(t *testing.T, c net.Conn, d time.Duration) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the server did not end the session within %v: %v (read %q)", d, err, b)
	}
	return string(b)
}

// TestStreamServerControlLimits: a control line without an end, one over
// the limit, and a client that starts a test and never says "done" each
// end that client's session, with one line in the server's log, and the
// server serves the next test.
func TestStreamServerControlLimits(t *testing.T) {
	port, log := startStreamServer(t)
	t.Run("endless line", func(t *testing.T) {
		c := ctlDial(t, port)
		junk := append([]byte("{"), bytes.Repeat([]byte("a"), 1<<20)...)
		go c.Write(junk) // the server stops reading: the write may block
		readAnswer(t, c, 5*time.Second)
		waitBenchLog(t, log, "control line over 64 KiB", 5*time.Second)
	})
	t.Run("no done", func(t *testing.T) {
		c := ctlDial(t, port)
		cookie := strings.Repeat("ab", 16)
		fmt.Fprintf(c, `{"cmd":"test","params":{"version":1,"cookie":%q,"proto":"tcp","streams":1,"seconds":0.2,"reverse":true,"len":1000}}`+"\n", cookie)
		r := bufio.NewReader(c)
		if line, err := r.ReadString('\n'); err != nil || !strings.Contains(line, `"ok"`) {
			t.Fatalf("want ok: %q %v", line, err)
		}
		d := ctlDial(t, port)
		hdr := make([]byte, 32)
		copy(hdr, "SKSTRM01")
		ck, _ := hex.DecodeString(cookie)
		copy(hdr[8:], ck)
		d.Write(hdr)
		go io.Copy(io.Discard, d)
		if line, err := r.ReadString('\n'); err != nil || !strings.Contains(line, `"start"`) {
			t.Fatalf("want start: %q %v", line, err)
		}
		// Silence: the server gives up 0.2 s + 10 s after the start.
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		started := time.Now()
		if _, err := io.ReadAll(r); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("the server kept the session %v after the start: %v", time.Since(started).Round(time.Millisecond), err)
		}
		waitBenchLog(t, log, "no \"done\" from the client", 5*time.Second)
	})
	code, _, errs := run(t, "", "bench", "--stream", "127.0.0.1", port, "-t", "0.3")
	if code != 0 {
		t.Fatalf("the next test: exit %d: %s", code, errs)
	}
}

// TestStreamServerClientLeaves: a client that goes away during a reverse
// test, TCP or UDP, ends the test at once: the server serves the next
// one within a few seconds, not after the 60 s asked for.
func TestStreamServerClientLeaves(t *testing.T) {
	port, log := startStreamServer(t)
	for i, args := range [][]string{{"-u", "-b", "1M"}, {}} {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			cli.RunContext(ctx, append([]string{"bench", "--stream", "127.0.0.1", port, "-t", "60", "-R"}, args...), strings.NewReader(""), io.Discard, io.Discard)
		}()
		waitBenchLog(t, log, strings.Repeat("starts", 1), 10*time.Second)
		for strings.Count(log.String(), "starts") < i+1 {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		wg.Wait()
		left := time.Now()
		var code int
		var errs string
		for time.Since(left) < 5*time.Second {
			if code, _, errs = run(t, "", "bench", "--stream", "127.0.0.1", port, "-t", "0.2"); code == 0 || !strings.Contains(errs, "busy") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if code != 0 {
			t.Fatalf("%v: the next test %v after the client left: exit %d: %s", args, time.Since(left).Round(time.Millisecond), code, errs)
		}
		waitBenchLog(t, log, "the client left", time.Second)
	}
}

// TestStreamServerMemoryLimit: a test whose streams' buffers would take
// more than 64 MiB in all is refused with the protocol's error message.
func TestStreamServerMemoryLimit(t *testing.T) {
	port, _ := startStreamServer(t)
	for _, tc := range []struct{ streams, len int }{{128, 64 << 20}, {2, 33 << 20}} {
		c := ctlDial(t, port)
		fmt.Fprintf(c, `{"cmd":"test","params":{"version":1,"cookie":%q,"proto":"tcp","streams":%d,"seconds":1,"reverse":true,"len":%d}}`+"\n", strings.Repeat("cd", 16), tc.streams, tc.len)
		got := readAnswer(t, c, 5*time.Second)
		if !strings.Contains(got, `"error"`) || !strings.Contains(got, "64 MiB") {
			t.Errorf("%d streams of %d bytes: the server said %q; want an error naming the 64 MiB bound", tc.streams, tc.len, got)
		}
	}
	code, _, errs := run(t, "", "bench", "--stream", "127.0.0.1", "1", "-P", "128", "-l", "1M")
	if code != 2 || !strings.Contains(errs, "64 MiB") {
		t.Errorf("-P 128 -l 1M: exit %d, %q; want a usage error naming the 64 MiB bound", code, errs)
	}
}

// TestStreamBenchAgainstIperf3: the protocols differ; sock bench
// --stream against iperf3 -s, and iperf3 -c against sock bench --server,
// each fail at once with one clear line (the client's error, the
// server's log) that names iperf3.
func TestStreamBenchAgainstIperf3(t *testing.T) {
	needTool(t, "iperf3", "iperf3")
	iport := strconv.Itoa(freePort(t))
	srv := start(t, "iperf3", "-s", "-1", "--forceflush", "-p", iport)
	srv.expect("Server listening")
	began := time.Now()
	code, _, errs := run(t, "", "bench", "--stream", "127.0.0.1", iport, "-t", "1")
	oneErrorLine(t, code, errs, "is not sock bench --server")
	if took := time.Since(began); !strings.Contains(errs, "iperf3") || took > 5*time.Second {
		t.Errorf("against iperf3 -s: %q after %v; want a line naming iperf3 at once", errs, took.Round(time.Millisecond))
	}

	port, log := startStreamServer(t)
	cl := start(t, "iperf3", "-c", "127.0.0.1", "-p", port, "-t", "1")
	if code := cl.exits(10 * time.Second); code == 0 {
		t.Errorf("iperf3 -c against sock bench --server exited 0")
	}
	waitBenchLog(t, log, "refused", 5*time.Second)
	if got := log.String(); strings.Count(got, "refused") != 1 || !strings.Contains(got, "iperf3") {
		t.Errorf("the server's log: %q; want one line refusing the client, naming iperf3", got)
	}
}
