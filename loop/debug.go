package loop

import (
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/asyncore-go/asyncore/poller"
)

// readDebugEnv reports whether ASYNCORE_DEBUG asks for the debug checks:
// anything but unset, "" or "0".
func readDebugEnv() bool {
	v := os.Getenv("ASYNCORE_DEBUG")
	return v != "" && v != "0"
}

var debugEnv = sync.OnceValue(readDebugEnv)

// DebugEnabled reports whether the environment variable ASYNCORE_DEBUG is
// set to anything but "" or "0". It is read once, the first time a loop or
// this function asks. It turns on Options.CheckInterest for every Loop, and
// the other packages' checks for mistakes that otherwise fail silently.
func DebugEnabled() bool { return debugEnv() }

// checkInterest is phase 1's debug pass (Options.CheckInterest): it asks
// every channel that nothing marked whether its interest is still what the
// poller was told. One that changed had a predicate changed without
// Map.Update; it is marked, so the program goes on working, and a warning
// is logged, once per channel and predicate, so that the missing call is
// found in tests.
func (l *Loop) checkInterest() {
	m := l.m
	for fd := range m.entries {
		e := &m.entries[fd]
		ch := e.ch
		if ch == nil || e.dirty {
			continue
		}
		want, ok := l.interest(fd, ch)
		if !ok {
			continue
		}
		e = &m.entries[fd] // Interest may have grown the table
		if e.ch != ch || want == e.applied {
			continue
		}
		changed := (want ^ e.applied) &^ e.warned
		for _, p := range [...]struct {
			bit  poller.Events
			name string
		}{{poller.Read, "Readable"}, {poller.Write, "Writable"}} {
			if changed&p.bit != 0 {
				e.warned |= p.bit
				slog.Warn("loop: "+p.name+" changed without UpdateInterest",
					"fd", fd, "channel", fmt.Sprintf("%T", ch),
					"hint", "call UpdateInterest (Map.Update) after changing what the predicate reads, or run with Options.Strict")
			}
		}
		m.Update(fd)
	}
}
