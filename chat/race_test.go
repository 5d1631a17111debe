//go:build race && linux

package chat_test

// raceSlowdown is how much slower the race detector makes framing code,
// for the few checks that bound a handler's time.
const raceSlowdown = 5
