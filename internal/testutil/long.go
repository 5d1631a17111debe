package testutil

import "os"

// LongEnv is the environment variable that turns on the long runs: soak-like
// loops with many rounds, fault storms and property runs with many scripts.
// CI sets it in a step of its own (.ci/run); the README's
// `go test -race ./...` leaves it unset, and then every such test runs
// enough rounds to catch its bug and finishes in a few seconds whatever else
// the machine is doing.
const LongEnv = "ASYNCORE_LONG"

// TimingEnv is the environment variable that turns on the wall-clock
// latency and CPU bounds of the fairness, slowloris and descriptor-exhaustion
// tests. Those bounds describe the scheduler as much as our code, so no run
// asserts them by default, CI included: the tests log what they measure, and
// the speed and latency targets are checked by the benchmarks and the bench
// harness. Set it on a quiet machine to hold a change to those numbers.
const TimingEnv = "ASYNCORE_TIMING"

// Long reports whether the long runs are on (LongEnv set to anything but ""
// or "0").
func Long() bool {
	v := os.Getenv(LongEnv)
	return v != "" && v != "0"
}

// Timing reports whether the wall-clock bounds are on (TimingEnv set to
// anything but "" or "0").
func Timing() bool {
	v := os.Getenv(TimingEnv)
	return v != "" && v != "0"
}

// Rounds returns long when the long runs are on and short otherwise.
func Rounds(short, long int) int {
	if Long() {
		return long
	}
	return short
}
