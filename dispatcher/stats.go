package dispatcher

import "github.com/asyncore-go/asyncore/loop"

// ChannelStats reports the bytes this dispatcher has read and written
// (loop.StatsReporter). DispatcherWithSend adds its queued output, and
// chat.AsyncChat its buffered input and queued output.
func (d *Dispatcher) ChannelStats() loop.ChannelStats {
	return loop.ChannelStats{BytesIn: d.bytesIn, BytesOut: d.bytesOut}
}

// AcceptStats counts the connections a listener took from the backlog but
// did not pass to HandleAccepted.
type AcceptStats struct {
	// Rejected counts the connections refused because the loop's MaxConns
	// was reached or the backend could not watch their descriptor.
	Rejected uint64
	// Shed counts the connections accepted and closed at once because the
	// process was out of descriptors.
	Shed uint64
}

// AcceptStats reports what this listener refused and shed (the loop's
// Stats count the same for the whole map).
func (d *Dispatcher) AcceptStats() AcceptStats {
	if d.acc == nil {
		return AcceptStats{}
	}
	return AcceptStats{Rejected: d.acc.rejected, Shed: d.acc.shed}
}

// read records n bytes received, for this channel and its map.
func (d *Dispatcher) read(n int) {
	d.bytesIn += uint64(n)
	d.m.Stats().BytesIn += uint64(n)
}

// countTimeout is Hooks.CountTimeout.
func (d *Dispatcher) countTimeout() { stateOf(d.m).stats.Timeouts++ }

// countLimitClose is Hooks.CountLimitClose.
func (d *Dispatcher) countLimitClose() { stateOf(d.m).stats.LimitCloses++ }

// ChannelStats adds the queued output to Dispatcher.ChannelStats.
func (d *DispatcherWithSend) ChannelStats() loop.ChannelStats {
	s := d.Dispatcher.ChannelStats()
	s.OutBuffered = d.Pending()
	return s
}
