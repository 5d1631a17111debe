package testutil

import "os"

// LongEnv is the environment variable that turns on the long runs: soak-like
// loops with many rounds, fault storms, property runs with many scripts, and
// the latency and CPU bounds that only mean something on a machine with
// nothing else to do. CI sets it in a step of its own (.ci/run); the
// README's `go test -race ./...` leaves it unset, and then every such test
// runs enough rounds to catch its bug, logs what it measures, and finishes
// in a few seconds whatever else the machine is doing.
const LongEnv = "ASYNCORE_LONG"

// Long reports whether the long runs are on (LongEnv set to anything but ""
// or "0").
func Long() bool {
	v := os.Getenv(LongEnv)
	return v != "" && v != "0"
}

// Rounds returns long when the long runs are on and short otherwise.
func Rounds(short, long int) int {
	if Long() {
		return long
	}
	return short
}
