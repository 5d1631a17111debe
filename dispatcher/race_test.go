//go:build race

package dispatcher_test

// raceEnabled: the race detector makes large transfers slow, so the
// 8 MiB tests skip the family that repeats another's code path.
const raceEnabled = true
