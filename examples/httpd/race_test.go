//go:build race

package main

// raceEnabled: the race detector is on, and allocation counts mean nothing.
const raceEnabled = true
