package eventloop

import "time"

// A loop is busy when of its last busyInputs inputs (an epoch) at least
// busyConns came from distinct connections, and no more than half of
// them from connections that each sent more than busyShare: many
// connections are active at once, each with a small share of the input
// (many clients each waiting for an answer), so their requests can wait
// a little for each other and the loop take many of them a system call
// (and their peers be spared the wake-up of a loop that sleeps after
// each). A busy loop lets its input gather for up to busyWaitUs before
// it takes it: the io_uring backend waits for up to busyWant completions
// within that time (uring.want), the epoll backend sleeps until that
// long after its last wait returned, if that wait brought fewer than
// busyWant events (poller.gather). A loop with few active connections
// does not: a lone client, a few in ping-pong, or one beside many that
// are mostly idle (keep-alives, heartbeats); there the wait only adds
// itself to every round trip (about 100 µs, for good, before this rule:
// TestLightLoadDoesNotGather).
//
// Those counts are a guess at what gathering will do; the loop then
// checks what it does. The first epoch that gathers is compared with the
// one before it, which did not, and after every busyProbeEvery epochs
// that gathered one does not (a probe), to be compared with the one
// before it. If the input (bytes read a second) came more than
// busySlower times faster without gathering, two new epochs are compared
// (the next, and one of the other kind after it), and if they find the
// same, or the counts end busy first, gathering holds up clients that
// wait for their answers (a few in ping-pong, each sending a heartbeat
// on another connection after every round trip:
// TestGatherSlowingInputEnds) and busy ends. One comparison is not
// enough: a loop's epochs vary by more than busySlower (at 1000 and 64
// TLS connections in ping-pong, where gathering pays, 24% and 19% of the
// comparisons found it slowed the input, and the two a stop needs came
// 24 and 1 times in 2000 epochs, of which 83% and 85% gathered).
// Gathering that brings one input a round busyLeanRounds times in a row
// (a lone client left after a busy phase) ends busy at once, before the
// epoch's end. After either end, busy may not start again for an epoch,
// then two, four..., up to busyMaxCool; each comparison that finds
// gathering did not slow the input takes an epoch off that cooling down,
// and while any is left every other busy epoch is a probe.
const (
	busyInputs     = 256
	busyConns      = 32
	busyShare      = 4
	busyLeanRounds = 16
	busyMaxCool    = 64
	busyProbeEvery = 8
	busySlower     = 1.15
	busyWaitUs     = 50
	busyWant       = 64
)

// busyness counts a loop's inputs by connection and by round (see
// busyInputs): two bytes a descriptor and an epoch counter, no
// allocation after the tables have grown to the loop's highest
// descriptor.
type busyness struct {
	seen     []uint8 // by descriptor: the epoch of the connection's last input
	epoch    uint8   // of inputs, counted by count; never 0
	inputs   int     // inputs in this epoch
	distinct int     // connections they came from
	share    []uint8 // by descriptor: its inputs in this epoch (valid when seen is the epoch)
	heavy    int     // inputs of this epoch beyond busyShare from one connection
	inRound  int     // inputs since the last endRound
	lean     int     // rounds in a row, while busy, that brought one input
	cool     int     // epochs busy may not start for after gathering that did not pay
	coolLeft int     // of them, still to come
	busy     bool
	probe    bool    // busy, but this epoch does not gather, to compare
	since    int     // epochs that gathered since the last probe
	suspect  bool    // the last comparison found gathering slowed the input
	began    int64   // when this epoch began (ns, busyClock)
	bytes0   uint64  // the loop's bytes read when it began
	last     float64 // input rate of the epoch before (bytes/ns), 0 if not to compare
	lastGath bool    // whether that epoch gathered
}

// busyTest turns parts of the rule off for the package's tests
// (export_test.go), set only while no engine runs: unchecked, the check
// of what gathering does; never, busy itself.
var busyTest struct{ unchecked, never bool }

// busyClock is the origin of epochEnd's times.
var busyClock = time.Now()

// busyNow is the time for epochEnd: ns from busyClock, monotonic.
func busyNow() int64 { return int64(time.Since(busyClock)) }

// gathering says whether the loop lets its input gather now.
func (b *busyness) gathering() bool { return b.busy && !b.probe }

// count counts an input of fd's connection, and returns true when it
// ends an epoch of busyInputs inputs, on which the caller calls epochEnd.
func (b *busyness) count(fd int32) bool {
	if int(fd) >= len(b.seen) {
		n := max(2*len(b.seen), int(fd)+1, 64)
		seen, share := make([]uint8, n), make([]uint8, n)
		copy(seen, b.seen)
		copy(share, b.share)
		b.seen, b.share = seen, share
	}
	if b.epoch == 0 { // 0 is the mark of a descriptor never seen
		b.epoch = 1
	}
	if b.seen[fd] != b.epoch {
		b.seen[fd] = b.epoch
		b.share[fd] = 0
		b.distinct++
	}
	if b.share[fd] < busyShare {
		b.share[fd]++
	} else {
		b.heavy++
	}
	b.inputs++
	b.inRound++
	return b.inputs == busyInputs
}

// epochEnd decides busy at the end of an epoch, from how many
// connections its inputs came from and how evenly, and from whether
// gathering slowed them (see busySlower); now is busyNow() and bytes the
// loop's bytes read so far.
func (b *busyness) epochEnd(now int64, bytes uint64) {
	gathered := b.gathering()
	var rate float64
	if dt := now - b.began; dt > 0 && b.began != 0 {
		rate = float64(bytes-b.bytes0) / float64(dt)
	}
	b.began, b.bytes0 = now, bytes
	compare := b.busy && b.last > 0 && rate > 0 && gathered != b.lastGath && !busyTest.unchecked
	slowed := false
	if compare {
		plain, gath := b.last, rate
		if !gathered {
			plain, gath = rate, b.last
		}
		slowed = plain > busySlower*gath
	}
	b.last, b.lastGath = rate, gathered
	if slowed && !b.suspect {
		b.last = 0 // the next comparison is of two new epochs
	}
	// A slowing found and not refuted since.
	pending := slowed || (b.suspect && !compare)
	counted := b.distinct >= busyConns && b.heavy <= busyInputs/2 && !busyTest.never
	switch {
	case slowed && b.suspect, pending && b.busy && !counted:
		// Found twice in a row; or found, and the counts end busy before
		// it can be checked (the clients gathering slows send more
		// without it), when a new start would only find it again.
		b.stop()
		b.coolLeft-- // this epoch counts as the first
	case b.coolLeft > 0:
		b.coolLeft--
		b.busy = false
	default:
		if compare && !slowed && b.cool > 0 {
			b.cool-- // gathering did not slow the input
		}
		b.busy = counted
	}
	b.suspect = pending && b.busy
	b.probe = false
	if b.busy && gathered {
		b.since++
		if (b.since >= busyProbeEvery || b.suspect || b.cool > 0) && !busyTest.unchecked {
			b.probe, b.since = true, 0
		}
	}
	if !b.busy {
		b.since = 0
	}
	b.inputs, b.distinct, b.heavy = 0, 0, 0
	b.epoch++
}

// stop ends busy after gathering that did not pay, and cools down: busy
// may not start again for twice as many epochs as last time.
func (b *busyness) stop() {
	b.busy, b.probe, b.suspect, b.lean, b.since = false, false, false, 0, 0
	b.cool = min(max(1, 2*b.cool), busyMaxCool)
	b.coolLeft = b.cool + 1 // this epoch, then cool more
}

// endRound closes a round of the loop (a wait and what it brought).
func (b *busyness) endRound() {
	if b.inRound == 0 {
		return
	}
	if b.gathering() && b.inRound == 1 {
		b.lean++
		if b.lean >= busyLeanRounds {
			b.stop()
		}
	} else {
		b.lean = 0
	}
	b.inRound = 0
}
