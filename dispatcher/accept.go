package dispatcher

import (
	"net"
	"os"
	"time"

	"github.com/asyncore-go/asyncore/internal/sock"
	"github.com/asyncore-go/asyncore/loop"
	"golang.org/x/sys/unix"
)

// DefaultAcceptBackoff is how long a listener stops accepting after accept
// fails for lack of descriptors (EMFILE, ENFILE): nginx's accept_mutex_delay.
const DefaultAcceptBackoff = 500 * time.Millisecond

// acceptsPerEvent bounds the connections one HandleAccept takes, so a storm
// of connects cannot starve the established connections (Redis accepts ten
// per event, docs/failure-modes.md#f20-fairness).
const acceptsPerEvent = 10

// openSpare reserves a descriptor (on /dev/null) for a listener, to be
// given up when accept runs out of descriptors (see shed). Failing to get
// one is not an error: the listener then only backs off.
func (d *Dispatcher) openSpare() {
	a := d.acceptor()
	if a.hasSpare {
		return
	}
	fd, err := sock.OpenDevNull()
	if err == nil {
		a.spare, a.hasSpare = fd, true
	}
}

func (d *Dispatcher) closeSpare() {
	if a := d.acc; a != nil && a.hasSpare {
		_ = sock.Close(a.spare)
		a.hasSpare = false
	}
}

// acceptState is what only a listener needs. It is allocated when a
// listener first needs it, so that the Dispatcher of each connection — of
// which a server has thousands — does not carry it.
type acceptState struct {
	timer    *loop.Timer // ends a pause (pauseAccepting)
	rejected uint64      // connections refused over MaxConns
	shed     uint64      // connections accepted and closed for lack of descriptors
	spare    int         // the reserve descriptor, if hasSpare
	paused   bool        // not accepting until timer fires
	hasSpare bool
}

// acceptor returns the listener's state, allocating it on first use.
func (d *Dispatcher) acceptor() *acceptState {
	if d.acc == nil {
		d.acc = new(acceptState)
	}
	return d.acc
}

// acceptPaused reports whether the listener is pausing (pauseAccepting).
func (d *Dispatcher) acceptPaused() bool { return d.acc != nil && d.acc.paused }

// maxShed bounds the connections one shed closes, so a connect storm
// cannot hold the loop in it.
const maxShed = 1024

// shed is libuv's EMFILE trick (uv__emfile_trick,
// docs/failure-modes.md#f1-accept-emfile): with no descriptor left, give up the
// spare one, accept every pending connection and close it at once, then take
// the spare back. The peers see the connection closed — they learn the server
// is overloaded — instead of waiting in a backlog that nobody can drain.
// Another goroutine that opens a file meanwhile may take the freed number; the
// spare is then reopened at the next shed.
func (d *Dispatcher) shed() {
	if d.acc == nil || !d.acc.hasSpare {
		d.openSpare()
		return
	}
	d.closeSpare()
	for range maxShed {
		fd, _, err := sock.Accept(d.fd)
		if err != nil {
			break
		}
		_ = sock.Close(fd)
		d.acc.shed++
		stateOf(d.m).stats.Shed++
	}
	d.openSpare()
}

// Accept accepts one pending connection: asyncore's accept. It returns the
// new descriptor (non-blocking, close-on-exec) and the peer's address, or
// fd -1 and a nil error when there is nothing to accept right now — no
// connection pending (EAGAIN), one aborted before it was accepted
// (ECONNABORTED), or no descriptor left (EMFILE, ENFILE). In the last case
// the listener sheds its backlog — it gives up a spare descriptor it keeps
// for the purpose, accepts every pending connection and closes it at once,
// and takes the spare back (see AcceptStats) — then stops watching for connections
// for AcceptBackoff and logs a warning; the listener is never closed for
// it. Any other error is passed to HandleError and returned.
func (d *Dispatcher) Accept() (int, net.Addr, error) {
	if d.fd < 0 {
		return -1, nil, ErrClosed
	}
	fd, addr, err := sock.AcceptAddr(d.fd, int(d.sotype))
	switch {
	case err == nil:
		return fd, addr, nil
	case acceptAgain(err):
		return -1, nil, nil
	case err == unix.EMFILE || err == unix.ENFILE:
		d.shed()
		d.pauseAccepting(err)
		return -1, nil, nil
	case outOfDescriptors(err):
		d.pauseAccepting(err)
		return -1, nil, nil
	}
	return -1, nil, d.fail(os.NewSyscallError("accept", err))
}

// pauseAccepting stops watching the listener for AcceptBackoff. With level
// triggering a listener whose backlog is non-empty stays readable, so
// retrying at once would spin the CPU at 100% while descriptors are short
// (docs/failure-modes.md#f1-accept-emfile); nginx waits 500 ms the same way.
func (d *Dispatcher) pauseAccepting(err error) {
	a := d.acceptor()
	if a.paused {
		return
	}
	l := d.m.Loop()
	if l == nil {
		return
	}
	backoff := d.AcceptBackoff
	if backoff <= 0 {
		backoff = DefaultAcceptBackoff
	}
	a.paused = true
	stateOf(d.m).stats.AcceptPauses++
	d.m.Update(d.fd)
	d.logger().Warn("dispatcher: accept failed; pausing the listener", "err", err, "backoff", backoff, "channel", d.self)
	a.timer = l.AfterFunc(backoff, func() {
		a.paused, a.timer = false, nil
		d.UpdateInterest()
	})
}

// HandleAccept is asyncore's handle_accept: the default accepts pending
// connections — up to ten per event, so a connect storm cannot starve
// established connections — and passes each to HandleAccepted.
//
// Over the map's MaxConns, counted as ConnStats.Conns, each new
// connection is accepted, sent RejectMessage if there is one, and closed at
// once — Redis's policy for maxclients — rather than left in the backlog,
// where a level-triggered listener would keep the loop busy and the client
// would wait without an answer (docs/failure-modes.md#f2-connection-cap).
// HandleAccepted does not see it. A connection counts once HandleAccepted has
// adopted its descriptor into the map, until that channel closes. A connection
// whose descriptor the loop's backend cannot watch — on select, one numbered
// FD_SETSIZE or higher (loop.Loop.FDLimit) — is refused the same way,
// whatever the cap. Refusals are counted in AcceptStats and the map's
// ConnStats.Rejected, and logged at debug level, rate-limited.
func (d *Dispatcher) HandleAccept() {
	epoch := d.epoch
	st := stateOf(d.m)
	for range acceptsPerEvent {
		fd, addr, err := d.Accept()
		if err != nil || fd < 0 {
			return
		}
		if d.overCap(st) {
			d.reject(fd, "over MaxConns")
			continue
		}
		if d.overFDLimit(fd) {
			d.reject(fd, "descriptor over the backend's limit (FD_SETSIZE)")
			continue
		}
		st.markAccepted(fd, d.family, d.sotype, addr)
		d.self.HandleAccepted(fd, addr)
		st.unmarkAccepted()
		if d.epoch != epoch || !d.accepting || d.acceptPaused() {
			return
		}
	}
}

// overCap reports whether the map holds as many accepted connections as
// its cap allows.
func (d *Dispatcher) overCap(st *mapState) bool {
	limit := st.maxConns(d.m)
	return limit >= 0 && st.stats.Conns >= limit
}

// overFDLimit reports whether the loop's backend cannot watch fd.
func (d *Dispatcher) overFDLimit(fd int) bool {
	l := d.m.Loop()
	if l == nil {
		return false
	}
	limit := l.FDLimit()
	return limit > 0 && fd >= limit
}

// reject refuses an accepted connection: RejectMessage if the socket takes
// it at once, then close. why is for the log.
func (d *Dispatcher) reject(fd int, why string) {
	if len(d.RejectMessage) > 0 {
		_, _ = sock.Send(fd, d.RejectMessage)
	}
	_ = sock.Close(fd)
	d.acceptor().rejected++
	stateOf(d.m).stats.Rejected++
	d.logPeer("connection refused: "+why, nil)
}

// HandleAccepted is asyncore's handle_accepted: the default closes the new
// connection and logs "unhandled accepted event" as a warning.
func (d *Dispatcher) HandleAccepted(fd int, addr net.Addr) {
	_ = sock.Close(fd)
	d.LogInfo("unhandled accepted event", "warning")
}
