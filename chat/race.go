//go:build race

package chat

// raceEnabled is set in a race build, which turns the debug mode on (see
// debug.go).
const raceEnabled = true
