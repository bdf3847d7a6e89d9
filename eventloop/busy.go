package eventloop

// A loop is busy when of its last busyInputs inputs at least busyConns
// came from distinct connections, and no more than half of them from
// connections that each sent more than busyShare: many connections are
// active at once, each with a small share of the input (many clients
// each waiting for an answer), so their requests can wait a little for
// each other and the loop take many of them a system call (and their
// peers be spared the wake-up of a loop that sleeps after each). The
// io_uring backend then waits for up to uringBusyWant completions within
// uringSendWaitUs (uring.want). A loop with few active connections does not
// wait: a lone client, a few in ping-pong, or one beside many that are
// mostly idle (keep-alives, heartbeats), whose inputs the count of
// distinct connections alone takes for many active ones; there the wait
// only adds itself to every round trip (about 100 µs, for good, before
// this rule: TestLightLoadDoesNotGather).
//
// Gathering that brings one input a round busyLeanRounds times in a row
// (a lone client left after a busy phase, or one beside idle ones) ends
// busy at once, and busy then may not start again for an epoch of
// busyInputs inputs, two, four..., up to busyMaxCool, until an epoch
// has been busy throughout.
const (
	busyInputs     = 256
	busyConns      = 32
	busyShare      = 4
	busyLeanRounds = 16
	busyMaxCool    = 64
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
}

// count counts an input of fd's connection; every busyInputs inputs it
// decides busy from how many connections they came from, and how evenly.
func (b *busyness) count(fd int32) {
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
	if b.inputs == busyInputs {
		was := b.busy
		if b.coolLeft > 0 {
			b.coolLeft--
			b.busy = false
		} else {
			b.busy = b.distinct >= busyConns && b.heavy <= busyInputs/2
		}
		if was && b.busy {
			b.cool = 0 // busy throughout an epoch: gathering pays again
		}
		b.inputs, b.distinct, b.heavy = 0, 0, 0
		b.epoch++
	}
}

// endRound closes a round of the loop (a wait and what it brought).
func (b *busyness) endRound() {
	if b.inRound == 0 {
		return
	}
	if b.busy && b.inRound == 1 {
		b.lean++
		if b.lean >= busyLeanRounds {
			b.busy, b.lean = false, 0
			b.cool = min(max(1, 2*b.cool), busyMaxCool)
			b.coolLeft = b.cool + 1 // this epoch, then cool more
		}
	} else {
		b.lean = 0
	}
	b.inRound = 0
}
