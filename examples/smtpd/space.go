package main

import (
	"log/slog"
	"time"
)

// spaceCheckEvery is how long a free-space figure is trusted: the file
// system is asked at most once a second, however many clients ask to send.
const spaceCheckEvery = time.Second

// space tells whether the Maildir's file system has room for one more
// message, as Postfix's queue_minfree does: a message is refused with a
// temporary error while it would leave less than minFree bytes free, and
// the client tries again later instead of having its message lost halfway.
type space struct {
	minFree int64                  // < 0: never refuse
	probe   func() (uint64, error) // the free bytes now (statfs)
	every   time.Duration          // how long a figure is trusted; < 0: always ask

	free  uint64
	known bool
	at    time.Time // when free was measured
}

// enough reports whether need more bytes leave at least minFree free. It
// asks the file system only if its figure is older than every, so the cost
// on the loop goroutine is one statfs a second at most. If the file system
// cannot be asked, messages are accepted: delivery reports the real error.
// A nil space always has room.
func (sp *space) enough(need int64) bool {
	if sp == nil || sp.minFree < 0 || sp.probe == nil {
		return true
	}
	now := time.Now()
	if !sp.known || sp.every < 0 || now.Sub(sp.at) >= sp.every {
		free, err := sp.probe()
		sp.at = now
		if err != nil {
			slog.Warn("cannot tell the free space of the maildir", "err", err)
			sp.known = false
			return true
		}
		sp.free, sp.known = free, true
	}
	want := uint64(sp.minFree) + uint64(max(need, 0))
	return sp.free >= want
}
