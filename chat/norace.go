//go:build !race

package chat

// raceEnabled is false without the race detector; see race.go.
const raceEnabled = false
