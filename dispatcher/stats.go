package dispatcher

import "github.com/asyncore-go/asyncore/loop"

// ChannelStats reports the bytes this dispatcher has read and written
// (loop.StatsReporter). DispatcherWithSend adds its queued output, and
// chat.AsyncChat its buffered input and queued output.
func (d *Dispatcher) ChannelStats() loop.ChannelStats {
	return loop.ChannelStats{BytesIn: d.bytesIn, BytesOut: d.bytesOut}
}

// read records n bytes received, for this channel and its map.
func (d *Dispatcher) read(n int) {
	d.bytesIn += uint64(n)
	d.m.Stats().BytesIn += uint64(n)
}

// CountTimeout records, in the map's ConnStats, a timeout about to reach
// HandleError. The dispatcher calls it for its own timeouts; a type that
// keeps deadlines of its own (see Deadliner) calls it for each one that
// fires, as chat.AsyncChat does for FrameTimeout and LingerTimeout.
func (d *Dispatcher) CountTimeout() { stateOf(d.m).stats.Timeouts++ }

// CountLimitClose records, in the map's ConnStats, a connection closed because
// it went over an input or output limit. chat.AsyncChat calls it for
// ErrLineTooLong, ErrMessageTooLarge and ErrOutputLimit; a protocol that
// enforces limits of its own calls it too.
func (d *Dispatcher) CountLimitClose() { stateOf(d.m).stats.LimitCloses++ }

// ChannelStats adds the queued output to Dispatcher.ChannelStats.
func (d *DispatcherWithSend) ChannelStats() loop.ChannelStats {
	s := d.Dispatcher.ChannelStats()
	s.OutBuffered = d.Pending()
	return s
}
