package eventloop

import "testing"

// busyness is internal, so its test is too: the backends' use of it shows
// from outside in Gathers (TestLightLoadDoesNotGather) and in timings,
// which benchmarks measure (BENCHMARKS.md).

// feeder feeds inputs to a busyness on a clock of its own: each input
// takes nsPer ns (gathNs while b gathers, if set) and brings 100 bytes.
type feeder struct {
	b      *busyness
	now    int64
	bytes  uint64
	nsPer  int64
	gathNs int64
}

// feed counts n inputs from the descriptors fds, in turn, perRound in
// each of the loop's rounds, and returns whether b was busy after each
// epoch of busyInputs inputs.
func (f *feeder) feed(n, perRound int, fds ...int32) []bool {
	var after []bool
	for i := 0; i < n; i++ {
		if f.gathNs != 0 && f.b.gathering() {
			f.now += f.gathNs
		} else {
			f.now += f.nsPer
		}
		f.bytes += 100
		if f.b.count(fds[i%len(fds)]) {
			f.b.epochEnd(f.now, f.bytes)
			after = append(after, f.b.busy)
		}
		if (i+1)%perRound == 0 {
			f.b.endRound()
		}
	}
	f.b.endRound()
	return after
}

func TestBusyness(t *testing.T) {
	many := make([]int32, busyConns)
	for i := range many {
		many[i] = int32(1000 + 7*i) // beyond the table's first size: it grows
	}
	few := many[:busyConns-1]
	// Two connections with 7 of every 8 inputs, then busyConns others
	// with one each: busyConns+2 distinct, most from two.
	var concentrated []int32
	for i := 0; i < busyInputs; i++ {
		if i%8 == 7 {
			concentrated = append(concentrated, many[(i/8)%busyConns])
		} else {
			concentrated = append(concentrated, int32(3+i%2))
		}
	}
	b := &busyness{}
	f := &feeder{b: b, now: 1, nsPer: 1000}
	for _, tc := range []struct {
		name     string
		fds      []int32
		perRound int
		want     bool
	}{
		{"one connection", []int32{3}, 4, false},
		{"busyConns-1 connections", few, 4, false},
		{"busyConns connections", many, 4, true},
		{"one connection again", []int32{5}, 4, false},
		{"busyConns connections again", many, 4, true},
		{"two connections with most of the input beside busyConns", concentrated, 4, false},
		{"busyConns connections, as even as can be", many, 4, true},
	} {
		got := f.feed(busyInputs, tc.perRound, tc.fds...)
		if len(got) != 1 || got[0] != tc.want {
			t.Fatalf("%s: busy after %d inputs = %v, want [%v]", tc.name, busyInputs, got, tc.want)
		}
	}
	// Busy, then rounds that bring one input each: busy ends after
	// busyLeanRounds of them, before the epoch does.
	for i := 0; i < busyLeanRounds-1; i++ {
		f.feed(1, 1, 7)
	}
	if !b.busy {
		t.Fatalf("busy ended after %d rounds of one input, want %d", busyLeanRounds-1, busyLeanRounds)
	}
	f.feed(3, 3, 7) // a round of more than one input starts the count again
	for i := 0; i < busyLeanRounds-1; i++ {
		f.feed(1, 1, 7)
	}
	if !b.busy {
		t.Fatal("busy ended though a round of three inputs broke the run of lean rounds")
	}
	f.feed(1, 1, 7)
	if b.busy {
		t.Fatalf("still busy after %d rounds of one input", busyLeanRounds)
	}
	// Then busy may not start again for an epoch, then two, four...: each
	// time gathering brings one input a round, the wait doubles.
	f.feed(busyInputs-b.inputs, 1, 7) // to an epoch's start
	for _, cool := range []int{1, 2, 4, 8} {
		for e := 0; e < cool; e++ {
			if got := f.feed(busyInputs, 4, many...); got[0] {
				t.Fatalf("busy again %d epochs after gathering that did not pay, want not before %d", e+1, cool+1)
			}
		}
		if got := f.feed(busyInputs, 4, many...); !got[0] {
			t.Fatalf("not busy %d epochs after gathering that did not pay", cool+1)
		}
		for i := 0; i < busyLeanRounds; i++ {
			f.feed(1, 1, 7)
		}
		if b.busy {
			t.Fatal("still busy after lean rounds")
		}
		f.feed(busyInputs-b.inputs, 1, 7)
	}
	// Comparisons that find gathering did not slow the input take epochs
	// off the cooling down (TestBusynessChecksGathering); once it is 0,
	// the next lean end waits one epoch.
	for e := 0; !b.busy || b.cool > 0; e++ {
		if e > 200 {
			t.Fatalf("cool = %d, busy %v after %d epochs", b.cool, b.busy, e)
		}
		f.feed(busyInputs, 4, many...)
	}
	for i := 0; i < busyLeanRounds; i++ {
		f.feed(1, 1, 7)
	}
	f.feed(busyInputs-b.inputs, 1, 7)
	if got := f.feed(busyInputs, 4, many...); got[0] {
		t.Fatal("busy again at once after gathering that did not pay")
	}
	if got := f.feed(busyInputs, 4, many...); !got[0] {
		t.Fatalf("not busy two epochs after gathering that did not pay, after its cooling down came down to 0 (cool %d)", b.cool)
	}
	// The epoch counter wraps (a uint8, never 0, the mark of a
	// descriptor never seen), and counting goes on right across the
	// wrap: every epoch but every third has busyConns new descriptors.
	f.feed(busyInputs-b.inputs, 1, 7) // to an epoch's start
	b.cool, b.coolLeft = 0, 0         // no cooling down from the above
	for e := 0; e < 600; e++ {
		want := e%3 != 1
		fds := []int32{9}
		if want {
			fds = make([]int32, busyConns)
			for i := range fds {
				fds[i] = int32(2000 + e*busyConns + i)
			}
		}
		if got := f.feed(busyInputs, 4, fds...); len(got) != 1 || got[0] != want {
			t.Fatalf("epoch %d (epoch counter %d): busy = %v, want [%v]", e, b.epoch, got, want)
		}
	}
	if b.epoch == 0 {
		t.Fatal("the epoch counter is 0, the mark of a descriptor never seen")
	}
}

// TestBusynessChecksGathering: busy ends when the input came more than
// busySlower times faster without gathering than with it, measured on the
// first epoch that gathered and on every probe.
func TestBusynessChecksGathering(t *testing.T) {
	many := make([]int32, 64)
	for i := range many {
		many[i] = int32(10 + i)
	}
	// Gathering that does not slow the input: busy throughout, with a
	// probe (an epoch that does not gather) after every busyProbeEvery
	// epochs that did.
	b := &busyness{}
	f := &feeder{b: b, now: 1, nsPer: 1000, gathNs: 1100}
	f.feed(busyInputs, 4, many...)
	if !b.gathering() {
		t.Fatal("not gathering after an epoch of busyConns and more connections")
	}
	var probes, gathered int
	for e := 0; e < 4*(busyProbeEvery+1); e++ {
		if b.gathering() {
			gathered++
		} else if b.busy && b.probe {
			probes++
		} else {
			t.Fatalf("epoch %d: busy ended though gathering slowed the input only 1.1 times", e)
		}
		f.feed(busyInputs, 4, many...)
	}
	if probes != 4 || gathered != 4*busyProbeEvery {
		t.Fatalf("%d probes and %d epochs that gathered, want 4 and %d", probes, gathered, 4*busyProbeEvery)
	}
	// One probe that finds the input faster without gathering (a loop's
	// epochs vary) does not end busy when the next comparison does not.
	for !b.probe {
		f.feed(busyInputs, 4, many...)
	}
	f.nsPer = 600
	f.feed(busyInputs, 4, many...)
	if !b.busy || !b.suspect {
		t.Fatalf("after a probe 1.8 times as fast: busy %v, suspect %v; want both", b.busy, b.suspect)
	}
	// The next epoch is not compared with that probe: two new ones are.
	f.nsPer = 1000
	f.feed(busyInputs, 4, many...)
	if !b.busy || !b.suspect || !b.probe {
		t.Fatalf("an epoch after a probe 1.8 times as fast: busy %v, suspect %v, probe %v; want a probe next", b.busy, b.suspect, b.probe)
	}
	f.feed(busyInputs, 4, many...)
	if !b.gathering() || b.suspect {
		t.Fatalf("after a probe as fast as the epoch before it: gathering %v, suspect %v; want gathering, not suspect", b.gathering(), b.suspect)
	}
	// The same connections, whose input gathering now slows 1.5 times (a
	// few in ping-pong): the next comparison ends busy, and busy may not
	// start again for 1, 2, 4... epochs.
	f.gathNs = 1500
	for e := 0; b.busy; e++ {
		if e > busyProbeEvery+3 {
			t.Fatal("still busy after a probe found gathering slowed the input 1.5 times")
		}
		f.feed(busyInputs, 4, many...)
	}
	for cool := 1; cool <= busyMaxCool; cool *= 2 {
		for e := 0; e < cool; e++ {
			if got := f.feed(busyInputs, 4, many...); got[0] {
				t.Fatalf("busy again %d epochs after gathering slowed the input, want not before %d", e+1, cool+1)
			}
		}
		if got := f.feed(busyInputs, 4, many...); !got[0] {
			t.Fatalf("not busy %d epochs after gathering slowed the input", cool+1)
		}
		// The first epoch that gathers is compared with the one before,
		// and finds gathering slowed the input; then two new epochs are
		// compared (one that gathers, a probe), which end busy.
		if got := f.feed(busyInputs, 4, many...); !got[0] || !b.probe {
			t.Fatalf("after one comparison that found gathering slowed the input: busy %v, probe %v; want a probe next", got[0], b.probe)
		}
		if got := f.feed(busyInputs, 4, many...); !got[0] || !b.gathering() {
			t.Fatalf("after a probe not compared: busy %v, gathering %v; want both", got[0], b.gathering())
		}
		if got := f.feed(busyInputs, 4, many...); got[0] {
			t.Fatal("busy after two comparisons found gathering slowed the input 1.5 times")
		}
	}
	// Once gathering no longer slows the input, each comparison that
	// finds so takes an epoch off the cooling down the next stop starts
	// with.
	f.gathNs = 1000
	for e := 0; !b.gathering(); e++ {
		if e > busyMaxCool+1 {
			t.Fatal("never busy again")
		}
		f.feed(busyInputs, 4, many...)
	}
	for e, was := 0, b.cool; b.cool > 0; e++ {
		if e > busyMaxCool*(busyProbeEvery+2) {
			t.Fatalf("cool = %d after %d epochs gathering that did not slow the input", b.cool, e)
		}
		f.feed(busyInputs, 4, many...)
		if b.cool != was && b.cool != was-1 || !b.busy {
			t.Fatalf("cool %d, then %d (busy %v) after an epoch gathering that did not slow the input; want busy, and one less at most", was, b.cool, b.busy)
		}
		was = b.cool
	}
	f.gathNs = 2000
	for e := 0; b.busy; e++ {
		if e > busyProbeEvery+3 {
			t.Fatal("still busy after a probe found gathering halved the input")
		}
		f.feed(busyInputs, 4, many...)
	}
	if b.cool != 1 {
		t.Fatalf("cool = %d after the first end of busy since gathering paid, want 1", b.cool)
	}
	// A slowing found once, then the counts end busy before it is
	// checked again (the clients it slowed send more without it): that
	// is a stop too, which cools down.
	for e := 0; !b.gathering() || b.cool > 0; e++ {
		if e > 4*busyMaxCool {
			t.Fatal("never gathering with no cooling down")
		}
		f.gathNs = 1000
		f.feed(busyInputs, 4, many...)
	}
	for !b.probe {
		f.feed(busyInputs, 4, many...)
	}
	f.nsPer = 500 // the probe: twice as fast as gathering
	f.feed(busyInputs, 4, many...)
	f.nsPer = 1000
	if !b.suspect || !b.busy {
		t.Fatalf("after a probe twice as fast: suspect %v, busy %v; want both", b.suspect, b.busy)
	}
	f.feed(busyInputs, 4, 3) // one connection: the counts end busy
	if b.busy || b.cool != 1 {
		t.Fatalf("after a slowing found and the counts ending busy: busy %v, cool %d; want not busy, cool 1", b.busy, b.cool)
	}
}
