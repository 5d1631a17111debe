package dispatcher

import (
	"net"
	"runtime"
	"sync"
	"weak"

	"github.com/asyncore-go/asyncore/internal/sock"
	"github.com/asyncore-go/asyncore/loop"
)

// The connection policy of a map — its cap on accepted connections, the
// count that cap applies to, and the connection counters (accepted,
// rejected, shed, timed out, closed over a limit) — is the dispatchers'
// business, not the loop's: the loop only watches descriptors. It lives
// here, in a mapState per map, so that package loop never changes when
// the policy does. See the package documentation, "Connection cap".

// ConnStats are the counters the dispatchers keep for one map, Redis INFO
// style, beside the loop's own (loop.Stats): each is a plain add on the
// loop's goroutine. They accumulate for the map's lifetime. Read them with
// Stats, on the loop's goroutine (a handler, a timer, or a function posted
// with loop.Loop.Post or loop.Group.Post).
type ConnStats struct {
	// Conns is the number of accepted connections the map holds: what
	// MaxConns caps. A connection counts from the moment a dispatcher
	// adopts the descriptor HandleAccept passed to HandleAccepted, until
	// that dispatcher closes.
	Conns int
	// Accepted counts connections accepted and kept; Rejected those
	// accepted and closed at once because MaxConns was reached or the
	// backend cannot watch their descriptor (select, FD_SETSIZE); Shed those
	// accepted and closed at once because the process ran out of
	// descriptors (EMFILE); AcceptPauses the times a listener stopped
	// accepting for its back-off after EMFILE or ENFILE.
	Accepted     uint64
	Rejected     uint64
	Shed         uint64
	AcceptPauses uint64
	// Timeouts counts connections closed because a timeout fired: idle,
	// frame, write stall, connect or linger.
	Timeouts uint64
	// LimitCloses counts connections closed because they went over an
	// input or output limit (a line or message too long, output over its
	// hard limit).
	LimitCloses uint64
	// TLSHandshakes counts completed TLS handshakes; TLSHandshakeErrors
	// failed ones; TLSHandshakeTimeouts those that ran out of
	// HandshakeTimeout; TLSHandshakesShed connections closed because the
	// handshake queue was full; TLSHandshaking the handshakes in progress
	// or waiting now.
	TLSHandshakes        uint64
	TLSHandshakeErrors   uint64
	TLSHandshakeTimeouts uint64
	TLSHandshakesShed    uint64
	TLSHandshaking       int
	// StartTLSDiscardedBytes counts plaintext input a STARTTLS dropped:
	// bytes the peer pipelined behind its STARTTLS command that had been
	// read with it (chat.AsyncChat.StartTLS). Legitimate clients wait for
	// the reply before their handshake, so anything here is a broken
	// client or an injection attempt (CVE-2011-0411). Bytes sent after
	// the reply are not counted: they become the handshake's input, and
	// fail it.
	StartTLSDiscardedBytes uint64
}

// Stats returns the connection counters of m (loop.DefaultMap if nil).
// Call it on the goroutine that runs m's loop.
func Stats(m *loop.Map) ConnStats {
	return stateOf(m).stats
}

// reservedFDs are the descriptors the default cap leaves for everything
// but clients: the standard ones, the loop's wake-up descriptor, listeners
// and their spares, the Go runtime's poller, files, a backend connection.
const reservedFDs = 32

// DefaultMaxConns is the cap a map has until SetMaxConns gives it another:
// 10,000 or the soft RLIMIT_NOFILE less 32, whichever is smaller, so the
// descriptors the process needs for everything else (files, a backend
// connection, the poller) are never all taken by clients. Redis sizes
// maxclients the same way (CONFIG_MIN_RESERVED_FDS,
// docs/failure-modes.md#f2-connection-cap). It is never below 1. A map
// served by a loop on the select backend has a lower default still,
// FD_SETSIZE less 32 (see MaxConns).
func DefaultMaxConns() int {
	const most = 10000
	rl, err := sock.FileLimit()
	if err != nil || rl.Cur >= most+reservedFDs {
		return most
	}
	return max(1, int(rl.Cur)-reservedFDs)
}

// defaultMaxConns is DefaultMaxConns for a backend that watches only
// descriptors below limit (0: any).
func defaultMaxConns(limit int) int {
	n := DefaultMaxConns()
	if limit > 0 {
		n = min(n, max(1, limit-reservedFDs))
	}
	return n
}

// MaxConns reports the cap on the accepted connections of m
// (loop.DefaultMap if nil), or -1 if there is none. Over it a listener in
// m accepts each new connection, sends RejectMessage and closes it (see
// Dispatcher.HandleAccept). Unless SetMaxConns set it, it is
// DefaultMaxConns(), and no more than poller.FDSetSize less 32 while a
// loop on the select backend serves m, since select cannot watch a
// descriptor from FD_SETSIZE up (a listener also refuses a connection
// whose descriptor is that high, whatever the cap).
func MaxConns(m *loop.Map) int {
	if m == nil {
		m = loop.DefaultMap()
	}
	return stateOf(m).maxConns(m)
}

// SetMaxConns sets the cap on the accepted connections of m
// (loop.DefaultMap if nil): zero means the default (see MaxConns), a
// negative value no cap. It may be called before the map runs or, on the
// loop's goroutine, while it runs. Connections already accepted above a
// lowered cap are kept; new ones are refused until the count is below it.
func SetMaxConns(m *loop.Map, n int) {
	st := stateOf(m)
	if n < 0 {
		n = -1
	}
	st.capSet, st.capFor = n, -1
}

// mapState is the dispatchers' state for one map. Like the map itself it
// belongs to the goroutine that runs the map's loop.
type mapState struct {
	stats ConnStats

	capSet int // what SetMaxConns set: 0 default, -1 none
	// The default cap resolved for the FD limit of the backend serving
	// the map (capFor; -1: not yet), so that accepting does not ask the
	// kernel for RLIMIT_NOFILE every time.
	capDefault, capFor int

	tlsp [2]*tlsPool // TLS handshake limits and queues, client and server (tls_pool.go)

	accepted int    // the descriptor HandleAccept is handing over, or -1
	conn     []bool // by descriptor: registered as an accepted connection

	// What the listener knows of the descriptor it is handing over, so
	// that Adopt need not ask the kernel again (see adoptAccepted).
	acceptedAddr                 net.Addr
	acceptedFamily, acceptedType uint8
}

// maxConns is MaxConns for the map st belongs to.
func (st *mapState) maxConns(m *loop.Map) int {
	if st.capSet != 0 {
		return st.capSet
	}
	limit := m.Loop().FDLimit()
	if st.capFor != limit {
		st.capDefault, st.capFor = defaultMaxConns(limit), limit
	}
	return st.capDefault
}

// markAccepted names the descriptor HandleAccept passes to HandleAccepted,
// so that the dispatcher that adopts it there counts as a connection
// (registered), with its listener's family and type and its peer's
// address; unmarkAccepted clears the mark.
func (st *mapState) markAccepted(fd int, family, sotype uint8, addr net.Addr) {
	st.accepted = fd
	st.acceptedFamily, st.acceptedType, st.acceptedAddr = family, sotype, addr
}

// unmarkAccepted clears markAccepted's mark, keeping no address alive.
func (st *mapState) unmarkAccepted() {
	st.accepted, st.acceptedAddr = -1, nil
}

// registered records that a dispatcher joined the map under fd. Whatever
// was counted under fd before has lost its registration (the map replaces
// a channel registered under the same descriptor), so it stops counting;
// the newcomer counts if fd is the descriptor being accepted.
func (st *mapState) registered(fd int) {
	if fd < len(st.conn) && st.conn[fd] {
		st.conn[fd] = false
		st.stats.Conns--
	}
	if fd != st.accepted {
		return
	}
	st.accepted = -1
	if fd >= len(st.conn) {
		grown := make([]bool, max(fd+1, 2*len(st.conn), 64))
		copy(grown, st.conn)
		st.conn = grown
	}
	st.conn[fd] = true
	st.stats.Conns++
	st.stats.Accepted++
}

// removed records that the channel registered under fd left the map.
func (st *mapState) removed(fd int) {
	if fd < len(st.conn) && st.conn[fd] {
		st.conn[fd] = false
		st.stats.Conns--
	}
}

// mapStates holds each map's state, keyed weakly so that it does not keep
// a map alive: once a map is unreachable a cleanup drops its entry. The
// loop offers no place to hang the state on, by design (see above).
var mapStates sync.Map // weak.Pointer[loop.Map] -> *mapState

// stateOf returns the state of m (loop.DefaultMap if nil), making it on
// first use. A lookup costs a weak-pointer lookup and a sync.Map load, no
// allocation: it is done per connection, never per event.
func stateOf(m *loop.Map) *mapState {
	if m == nil {
		m = loop.DefaultMap()
	}
	key := weak.Make(m)
	if st, ok := mapStates.Load(key); ok {
		return st.(*mapState)
	}
	st, loaded := mapStates.LoadOrStore(key, &mapState{accepted: -1, capFor: -1})
	if !loaded {
		runtime.AddCleanup(m, func(key weak.Pointer[loop.Map]) { mapStates.Delete(key) }, key)
	}
	return st.(*mapState)
}
