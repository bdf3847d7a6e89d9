//go:build !race

package eventloop_test

// raceEnabled says the tests run under the race detector (race_test.go).
const raceEnabled = false
