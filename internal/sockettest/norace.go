//go:build !race

package sockettest

// RaceEnabled reports whether the tests run under the race detector, which
// makes the code several times slower: a bound on how long something takes
// that is meaningful in a normal build may say nothing there.
const RaceEnabled = false
