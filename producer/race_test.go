//go:build race

package producer

// raceEnabled is set under the race detector, whose sync.Pool drops a
// share of what is put back at random, so that a pooled buffer is
// sometimes allocated afresh: allocation counts that rely on the pools
// are checked without it.
const raceEnabled = true
