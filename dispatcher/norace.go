//go:build !race

package dispatcher

// raceEnabled is false without the race detector; see race.go.
const raceEnabled = false
