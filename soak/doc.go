// Package soak holds the soak test: random chaos clients run against the
// library's own servers and against the examples for a bounded time, and the
// test checks that the reactor survives them unchanged
// (docs/failure-modes.md#test-harness-notes, "Hygiene"). It is behind the soak
// build tag, so an ordinary go test ./... does not run it:
//
//	go test -tags soak -run Soak -v ./soak/ -soak.duration 60s
//	go test -tags soak -run Soak -timeout 20m -v ./soak/    # 10 minutes
//	SOAK_DURATION=2m go test -tags soak -run Soak -v ./soak/
//
// The duration is -soak.duration, or SOAK_DURATION when the flag is not
// given; the default is 10 minutes. The soak's own flags (-soak.duration,
// -soak.workers, -soak.seed) go after the package: go test hands every
// argument after a flag it does not know to the test binary. go test's own
// -timeout must leave room for the duration plus 3 minutes of set-up and
// checks.
//
// Two sets of servers run at once for the whole duration:
//
//   - In the test process, each on its own loop goroutine: a chat.AsyncChat
//     line echo, where the line "PANIC" makes FoundTerminator panic, and a
//     dispatcher.DispatcherWithSend byte echo. Goroutines and the heap can
//     only be observed here.
//   - Out of process: the echo, resp, httpd and chatroom examples, built
//     into a temporary directory and started on a free port.
//
// The clients are a bounded pool per server. Each connection does one thing
// chosen at random: an honest conversation whose writes are split at random
// points and whose every byte is checked when it comes back; a partial frame
// and then a close; a reset (SO_LINGER 0); a half-close followed by reading
// the replies to EOF; reading slowly; an over-long line; a malformed
// request; a line that panics the handler.
//
// What must hold:
//
//   - No panic escapes: a panic out of a loop goroutine would end the test
//     binary, and every example process must still be running at the end
//     and exit 0 on SIGTERM.
//   - Every byte an honest client sent comes back intact (echoed, stored and
//     read back, served from a file, relayed to another chat member).
//   - The servers' statistics agree with what the clients did: connections
//     accepted equal connections made, none left open once the clients are
//     gone, recovered panics equal the panic lines that reached a handler
//     (and zero for the examples), limit closes equal over-long lines,
//     bytes in at least the honest bytes sent, and bytes out never above
//     bytes in for an echo.
//   - Resources return: the test process's descriptors and goroutines, and
//     each example's descriptors, come back to their baselines once the
//     clients stop; the heap (sampled in process) and each example's
//     resident set (VmRSS) stay under a bound for the whole run.
//
// The test logs a summary: connections per kind of client, honest bytes
// checked, peak heap and resident set, descriptor and goroutine counts
// against their baselines, and each server's final statistics.
package soak
