package loop

// Stats are a loop's counters, Redis INFO style: cheap enough to leave on
// (each is a plain add on the loop's goroutine, no atomics, no locks) and
// exact, so tests assert on them and servers report them. The counters live
// in the Map, where the dispatchers that feed the byte counts can reach
// them, and accumulate for the map's lifetime. The connection counters
// (accepted, rejected, shed, timeouts, limit closes) and the connection cap
// are the dispatcher package's policy, not the loop's: see
// dispatcher.Stats.
//
// The live counters belong to the loop's goroutine: read them there, in a
// handler, a timer or a posted function (Loop.Post, Group.Post). From
// another goroutine, take a snapshot inside Post.
type Stats struct {
	// Iterations counts loop iterations (RunOnce calls).
	Iterations uint64
	// Wakeups counts the waits that returned with something to do: a
	// channel event or a Post/Stop wake-up. A loop with nothing to do and
	// no timer due does not add to it; a loop that does is spinning.
	Wakeups uint64
	// Events counts the channel events dispatched (one per ready
	// descriptor per iteration).
	Events uint64
	// TimersFired and PostsRun count timer callbacks and posted functions
	// run.
	TimersFired uint64
	PostsRun    uint64
	// Panics counts panics recovered from handlers, predicates, timers and
	// posted functions.
	Panics uint64

	// Channels is the number of channels in the map, listeners included.
	// It is filled in by Snapshot.
	Channels int

	// BytesIn and BytesOut count the bytes read from and written to the
	// map's channels.
	BytesIn  uint64
	BytesOut uint64
	// InBuffered and OutBuffered are the input waiting for a terminator
	// and the output queued, summed over the channels that report them
	// (ChannelStats). Both are filled in by Snapshot.
	InBuffered  int
	OutBuffered int
}

// ChannelStats are one channel's figures, for a CLIENT LIST style report.
type ChannelStats struct {
	// BytesIn and BytesOut count the bytes this channel read and wrote.
	BytesIn  uint64
	BytesOut uint64
	// InBuffered is the input held waiting for a terminator; OutBuffered
	// the output queued and not yet written (queued producers count as
	// the bytes they have produced so far).
	InBuffered  int
	OutBuffered int
}

// StatsReporter is implemented by channels that keep ChannelStats; every
// dispatcher does. Snapshot sums their buffer sizes.
type StatsReporter interface {
	ChannelStats() ChannelStats
}

// Stats returns the map's live counters, for the dispatchers and protocols
// built on it to add to. Only the goroutine running the map's loop may touch
// them; see Stats.
func (m *Map) Stats() *Stats { return &m.stats }

// Snapshot returns a copy of the counters with the gauges filled in:
// Channels and the buffer sizes summed over every channel (a walk of
// the map, so its cost is proportional to the channels; fine for an INFO
// command, not for every event). Call it on the loop's goroutine.
func (m *Map) Snapshot() Stats {
	s := m.stats
	s.Channels = m.Len()
	s.InBuffered, s.OutBuffered = 0, 0
	m.Range(func(_ int, ch Channel) bool {
		if r, ok := ch.(StatsReporter); ok {
			cs := r.ChannelStats()
			s.InBuffered += cs.InBuffered
			s.OutBuffered += cs.OutBuffered
		}
		return true
	})
	return s
}

// Stats is Map().Snapshot(): the loop's counters with the gauges filled in.
// Call it on the loop's goroutine (or inside Post).
func (l *Loop) Stats() Stats { return l.m.Snapshot() }
