package loop

import "time"

// Defaults of a LogGate: at most LogGateBurst lines in each LogGatePeriod.
const (
	LogGateBurst  = 10
	LogGatePeriod = time.Second
)

// LogGate rate-limits log lines about things a peer can cause at will —
// resets, timeouts, limits, refused connections — so that a flood of them
// cannot flood the log: at most LogGateBurst lines are let through in each
// LogGatePeriod, and the first line let through after some were held back
// says how many. It keeps three integers and never allocates. The zero
// LogGate is ready to use. A LogGate belongs to one goroutine; every Loop
// has one (Loop.PeerLog) for its channels.
type LogGate struct {
	start      time.Duration // the beginning of the current period
	n          int           // lines let through in it
	suppressed uint64        // lines held back since the last one let through
	begun      bool
}

// Allow reports whether a line may be logged at now (a Loop.Now value, or
// any monotonic clock) and, if so, how many lines were held back since the
// last one that was allowed, for that line to report.
func (g *LogGate) Allow(now time.Duration) (ok bool, suppressed uint64) {
	if !g.begun || now-g.start >= LogGatePeriod || now < g.start {
		g.start, g.n, g.begun = now, 0, true
	}
	if g.n >= LogGateBurst {
		g.suppressed++
		return false, 0
	}
	g.n++
	suppressed, g.suppressed = g.suppressed, 0
	return true, suppressed
}

// PeerLog returns the loop's gate for log lines caused by peers, shared by
// every channel of its map; use it with the loop's clock (Now). The
// dispatcher package logs peer-caused errors and refused connections
// through it.
func (l *Loop) PeerLog() *LogGate { return &l.peerLog }
