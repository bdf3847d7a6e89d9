//go:build race

package eventloop_test

// raceEnabled says the tests run under the race detector, which makes
// every round trip several times slower (see TestGatherSlowingInputEnds).
const raceEnabled = true
