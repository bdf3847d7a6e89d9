package eventloop

import "testing"

// busyness is internal, so its test is too: the backends' use of it shows
// from outside in Gathers (TestLightLoadDoesNotGather) and in timings,
// which benchmarks measure (BENCHMARKS.md).

// feed counts n inputs from the descriptors fds, in turn, perRound in
// each of the loop's rounds, and returns whether b was busy after each
// epoch of busyInputs inputs.
func feed(b *busyness, n, perRound int, fds ...int32) []bool {
	var after []bool
	for i := 0; i < n; i++ {
		b.count(fds[i%len(fds)])
		if b.inputs == 0 {
			after = append(after, b.busy)
		}
		if (i+1)%perRound == 0 {
			b.endRound()
		}
	}
	b.endRound()
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
	var b busyness
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
		got := feed(&b, busyInputs, tc.perRound, tc.fds...)
		if len(got) != 1 || got[0] != tc.want {
			t.Fatalf("%s: busy after %d inputs = %v, want [%v]", tc.name, busyInputs, got, tc.want)
		}
	}
	// Busy, then rounds that bring one input each: busy ends after
	// busyLeanRounds of them, before the epoch does.
	for i := 0; i < busyLeanRounds-1; i++ {
		feed(&b, 1, 1, 7)
	}
	if !b.busy {
		t.Fatalf("busy ended after %d rounds of one input, want %d", busyLeanRounds-1, busyLeanRounds)
	}
	feed(&b, 3, 3, 7) // a round of more than one input starts the count again
	for i := 0; i < busyLeanRounds-1; i++ {
		feed(&b, 1, 1, 7)
	}
	if !b.busy {
		t.Fatal("busy ended though a round of three inputs broke the run of lean rounds")
	}
	feed(&b, 1, 1, 7)
	if b.busy {
		t.Fatalf("still busy after %d rounds of one input", busyLeanRounds)
	}
	// Then busy may not start again for an epoch, then two, four...: each
	// time gathering brings one input a round, the wait doubles.
	feed(&b, busyInputs-b.inputs, 1, 7) // to an epoch's start
	for _, cool := range []int{1, 2, 4, 8} {
		for e := 0; e < cool; e++ {
			if got := feed(&b, busyInputs, 4, many...); got[0] {
				t.Fatalf("busy again %d epochs after gathering that did not pay, want not before %d", e+1, cool+1)
			}
		}
		if got := feed(&b, busyInputs, 4, many...); !got[0] {
			t.Fatalf("not busy %d epochs after gathering that did not pay", cool+1)
		}
		for i := 0; i < busyLeanRounds; i++ {
			feed(&b, 1, 1, 7)
		}
		if b.busy {
			t.Fatal("still busy after lean rounds")
		}
		feed(&b, busyInputs-b.inputs, 1, 7)
	}
	// An epoch busy throughout forgets it: the next lean end waits one.
	for range 16 {
		feed(&b, busyInputs, 4, many...)
	}
	for e := 0; !b.busy; e++ {
		if e > 64 {
			t.Fatal("never busy again")
		}
		feed(&b, busyInputs, 4, many...)
	}
	feed(&b, busyInputs, 4, many...) // busy throughout
	for i := 0; i < busyLeanRounds; i++ {
		feed(&b, 1, 1, 7)
	}
	feed(&b, busyInputs-b.inputs, 1, 7)
	if got := feed(&b, busyInputs, 4, many...); got[0] {
		t.Fatal("busy again at once after gathering that did not pay")
	}
	if got := feed(&b, busyInputs, 4, many...); !got[0] {
		t.Fatalf("not busy two epochs after gathering that did not pay, after an epoch busy throughout (cool %d)", b.cool)
	}
	// The epoch counter wraps (a uint8, never 0, the mark of a
	// descriptor never seen), and counting goes on right across the
	// wrap: every epoch but every third has busyConns new descriptors.
	feed(&b, busyInputs-b.inputs, 1, 7) // to an epoch's start
	b.cool, b.coolLeft = 0, 0           // no cooling down from the above
	for e := 0; e < 600; e++ {
		want := e%3 != 1
		fds := []int32{9}
		if want {
			fds = make([]int32, busyConns)
			for i := range fds {
				fds[i] = int32(2000 + e*busyConns + i)
			}
		}
		if got := feed(&b, busyInputs, 4, fds...); len(got) != 1 || got[0] != want {
			t.Fatalf("epoch %d (epoch counter %d): busy = %v, want [%v]", e, b.epoch, got, want)
		}
	}
	if b.epoch == 0 {
		t.Fatal("the epoch counter is 0, the mark of a descriptor never seen")
	}
}
