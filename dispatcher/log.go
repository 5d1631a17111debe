package dispatcher

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/asyncore-go/asyncore/loop"
)

func (d *Dispatcher) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}

// Log is asyncore's log: it logs message at info level, whatever
// IgnoreLogTypes says.
func (d *Dispatcher) Log(message string) {
	d.logger().Info(message, "channel", d.String())
}

// LogInfo is asyncore's log_info: it logs message with the given type
// ("info", "warning", "error", or any other word) unless the type is in
// IgnoreLogTypes. "error" logs at error level, "warning" at warn level,
// anything else at info level; the type is recorded as the "type" attribute.
func (d *Dispatcher) LogInfo(message, typ string) {
	d.logInfo(message, typ)
}

func (d *Dispatcher) logInfo(message, typ string, attrs ...any) {
	ignore := d.IgnoreLogTypes
	if ignore == nil {
		ignore = []string{"warning"}
	}
	if slices.Contains(ignore, typ) {
		return
	}
	level := slog.LevelInfo
	switch typ {
	case "error":
		level = slog.LevelError
	case "warning":
		level = slog.LevelWarn
	}
	d.logger().Log(context.Background(), level, message, append([]any{"type", typ}, attrs...)...)
}

// logPeer logs msg (and err, if not nil) at debug level about something a
// peer caused, if the
// logger wants debug output and the loop's LogGate lets the line through;
// the line reports how many were held back before it. Nothing is
// allocated for a line that is not written.
func (d *Dispatcher) logPeer(msg string, err error) {
	lg := d.logger()
	ctx := context.Background()
	if !lg.Enabled(ctx, slog.LevelDebug) {
		return
	}
	ok, held := peerLogGate(d.m.Loop())
	if !ok {
		return
	}
	attrs := []any{"channel", d.self}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	if held > 0 {
		attrs = append(attrs, "suppressed", held)
	}
	lg.Log(ctx, slog.LevelDebug, "dispatcher: "+msg, attrs...)
}

// processGate rate-limits peer-caused log lines of dispatchers whose map has
// no loop yet; processStart is its clock's origin.
var (
	processGateMu sync.Mutex
	processGate   loop.LogGate
	processStart  = time.Now()
)

// peerLogGate asks l's LogGate, at l's clock, whether a line may be logged;
// without a loop it asks the process-wide one.
func peerLogGate(l *loop.Loop) (ok bool, held uint64) {
	if l != nil {
		return l.PeerLog().Allow(l.Now())
	}
	processGateMu.Lock()
	defer processGateMu.Unlock()
	return processGate.Allow(time.Since(processStart))
}
