package cli

import (
	"errors"
	"hash/crc32"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/socketkit/socketkit/socket"
)

var partialSendLesson = lesson{
	name:  "partial-send",
	title: "send() vs sendall() against a slow reader",
	tutorial: "sk.send(string): 返回值是要发送的字节数量，该数量可能小于 string 的字节大小 (\"may be less than the string\");\n" +
		"                sk.sendall(string): 内部通过递归调用 send，将所有内容发送出去 (\"calls send until all is sent\")",
	python:  "n = c.send(data); c.settimeout(0.5); c.send(rest); c.sendall(data)",
	goCalls: "n, err := c.Send(data, 0); c.SetTimeout(500*time.Millisecond); c.Sendall(data, 0)",
	run:     runPartialSend,
}

// PartialSendFacts is what the partial-send lesson observed.
type PartialSendFacts struct {
	Size int // bytes the program wants to send
	// FirstSend is what one send() of Size bytes returned while the reader
	// read nothing; SendQ and RecvQ the sender's Send-Q (not yet
	// acknowledged) and the reader's Recv-Q (arrived, not read) then.
	FirstSend    int
	SendQ, RecvQ uint32
	// A second send() with a 0.5 s timeout right after: it either times out
	// (nothing fits) or returns as soon as a little room frees.
	SecondSend  int
	SecondErr   error
	SecondAfter time.Duration
	// The rest, sent by the loop sendall() is, while a reader reads slowly:
	// how many send() calls it took, the smallest and largest.
	LoopCalls        int
	LoopMin, LoopMax int
	LoopTotal        int
	// Sendall of another Size bytes: what it returned.
	SendallN   int
	SendallErr error
	// What the reader got: bytes, recv calls, and whether the bytes are
	// the ones sent (CRC-32 of both).
	ReaderBytes int
	ReaderCalls int
	Intact      bool
}

func runPartialSend(lw *lessonWriter) (any, error) {
	f := &PartialSendFacts{Size: 16 << 20}
	data := make([]byte, f.Size)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	l, err := socket.CreateServer("127.0.0.1:0", nil)
	if err != nil {
		return f, err
	}
	defer l.Close()
	laddr, _ := l.Getsockname()
	c, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		return f, err
	}
	defer c.Close()
	c.SetTimeout(5 * time.Second)
	if err := c.Connect(laddr); err != nil {
		return f, err
	}
	l.SetTimeout(2 * time.Second)
	conn, _, err := l.Accept()
	if err != nil {
		return f, err
	}
	defer conn.Close()

	// 1. One send() while nobody reads.
	f.FirstSend, err = c.Send(data, 0)
	if err != nil {
		return f, err
	}
	// Wait until every byte has either arrived (reader's Recv-Q) or waits
	// in the sender's queue (Send-Q): together they are what send() took.
	if _, err := waitUntil(lw.ctx, 2*time.Second, func() (bool, error) {
		t, err := readTCP()
		if err != nil {
			return false, err
		}
		f.SendQ, f.RecvQ = t.of(c).SendQ, t.of(conn).RecvQ
		return int(f.SendQ)+int(f.RecvQ) == f.FirstSend, nil
	}); err != nil {
		return f, err
	}
	lw.step("the reader does not read. n = c.send(%s bytes) returned %s: the kernel took what fit in its buffers",
		thousands(f.Size), thousands(f.FirstSend))
	lw.step("kernel (NETLINK_SOCK_DIAG): sender Send-Q %s + reader Recv-Q %s = %s bytes",
		thousands(int(f.SendQ)), thousands(int(f.RecvQ)), thousands(int(f.SendQ)+int(f.RecvQ)))

	// 2. A second send() with a timeout: nothing fits.
	c.SetTimeout(500 * time.Millisecond)
	start := time.Now()
	f.SecondSend, f.SecondErr = c.Send(data[f.FirstSend:], 0)
	f.SecondAfter = time.Since(start)
	what := "returned " + thousands(f.SecondSend) + " after " + secText(f.SecondAfter) + ": partial again, as soon as a little room freed"
	if errors.Is(f.SecondErr, os.ErrDeadlineExceeded) {
		what = "raised TimeoutError (timed out) after " + secText(f.SecondAfter) + ", having sent " + thousands(f.SecondSend) + " bytes"
	} else if f.SecondErr != nil {
		what = "failed: " + shortErr(f.SecondErr)
	}
	lw.step("c.settimeout(0.5); c.send(the rest) %s", what)

	// 3. The reader reads slowly; the rest goes with sendall's loop, then
	// a whole Sendall.
	c.SetTimeout(10 * time.Second)
	type result struct {
		n, calls int
		crc      uint32
		err      error
	}
	want := 2 * f.Size // the rest of data, then data again
	readerDone := make(chan result, 1)
	conn.SetTimeout(10 * time.Second)
	go func() {
		var r result
		h := crc32.NewIEEE()
		rb := make([]byte, 256<<10)
		for r.n < want {
			n, err := conn.Recv(rb, 0)
			if err != nil || n == 0 {
				r.err = err
				break
			}
			h.Write(rb[:n])
			r.n += n
			r.calls++
			time.Sleep(time.Millisecond) // the slow reader
		}
		r.crc = h.Sum32()
		readerDone <- r
	}()
	rest := data[f.FirstSend+f.SecondSend:]
	f.LoopMin = len(rest)
	for len(rest) > 0 {
		n, err := c.Send(rest, 0)
		if err != nil {
			return f, err
		}
		f.LoopCalls++
		f.LoopTotal += n
		f.LoopMin, f.LoopMax = min(f.LoopMin, n), max(f.LoopMax, n)
		rest = rest[n:]
	}
	lw.step("the reader reads 256 KiB at a time, slowly. sendall() is this loop: while data: n = c.send(data); data = data[n:]")
	lw.step("  it took %d send() calls for the remaining %s bytes (each sent %s to %s bytes)",
		f.LoopCalls, thousands(f.LoopTotal), thousands(f.LoopMin), thousands(f.LoopMax))
	f.SendallN, f.SendallErr = c.Sendall(data, 0)
	if f.SendallErr != nil {
		return f, f.SendallErr
	}
	lw.step("c.sendall(%s bytes) returned when all were sent (socketkit's Sendall returns %s, nil)",
		thousands(f.Size), thousands(f.SendallN))
	r := <-readerDone
	if r.err != nil {
		return f, r.err
	}
	h := crc32.NewIEEE()
	h.Write(data)
	h.Write(data)
	f.ReaderBytes, f.ReaderCalls, f.Intact = r.n, r.calls, r.crc == h.Sum32()
	lw.step("the reader got %s bytes in %d recv() calls; CRC-32 matches what was sent: %v",
		thousands(f.ReaderBytes), f.ReaderCalls, f.Intact)
	lw.say("")
	lw.say("What this shows: send() hands the kernel what fits in its socket buffers and says how much")
	lw.say("(%s of %s here); the program must send the rest itself. sendall() is that loop, and it", thousands(f.FirstSend), thousands(f.Size))
	lw.say("waits for a slow reader. Use sendall() (Go: Sendall or Write) unless you handle n yourself.")
	return f, nil
}

// thousands prints 4194304 as "4,194,304".
func thousands(n int) string {
	str := strconv.Itoa(n)
	sign := ""
	if n < 0 {
		sign, str = "-", str[1:]
	}
	var b strings.Builder
	for i, ch := range str {
		if i > 0 && (len(str)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	return sign + b.String()
}
