package chat

// DebugCollect reports whether the CollectIncomingData debug mode is on.
func DebugCollect() bool { return debugCollect }

// PoisonByte is what the debug mode overwrites collected data with.
const PoisonByte = poisonByte

// RaceEnabled is set in a race build, which turns the debug mode on.
const RaceEnabled = raceEnabled

// FrameForBench frames data as if one read had delivered it, with the
// replies queued, not written: the framing path alone, without system
// calls.
func (c *AsyncChat) FrameForBench(data []byte) { c.handleInput(data) }

// DropOutputForBench drops the queued output as if it had been written.
func (c *AsyncChat) DropOutputForBench() {
	var scratch [maxWriteBufs][]byte
	bufs := c.out.Gather(scratch[:0], 1<<30, maxWriteBufs)
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	c.out.Consume(n)
}
