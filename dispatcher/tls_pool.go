package dispatcher

import (
	"errors"
	"slices"
	"sync"

	"github.com/asyncore-go/asyncore/internal/config"
)

// tlsPool bounds a map's handshakes: at most MaxHandshakes goroutines, a
// queue of at most HandshakeQueue connections waiting for one, and
// shedding past that. It belongs to the loop's goroutine, like mapState.
type tlsPool struct {
	limits  TLSLimits
	running int
	queue   []*Dispatcher // waiting, oldest first
	stats   *ConnStats
}

// tlsPool returns the map's handshake pool for the server or the client
// role, making it on first use. The roles have a pool each, so that a map
// holding both ends of connections (a test, a proxy to a local TLS
// backend) cannot fill every slot with client handshakes that wait for
// server handshakes queued behind them.
func (st *mapState) tlsPool(server bool) *tlsPool {
	i := 0
	if server {
		i = 1
	}
	if st.tlsp[i] == nil {
		st.tlsp[i] = &tlsPool{stats: &st.stats}
		if st.tlsp[1-i] != nil {
			st.tlsp[i].limits = st.tlsp[1-i].limits
		}
	}
	return st.tlsp[i]
}

func (p *tlsPool) maxRunning() int {
	return max(1, config.Or(p.limits.MaxHandshakes, DefaultMaxHandshakes))
}

func (p *tlsPool) maxQueue() int {
	return max(0, config.Or(p.limits.HandshakeQueue, DefaultHandshakeQueue))
}

// enter starts d's handshake, or queues it; false means the queue is full
// and d must be shed.
func (p *tlsPool) enter(d *Dispatcher) bool {
	switch {
	case p.running < p.maxRunning():
		p.running++
		p.stats.TLSHandshaking++
		d.tlsRun()
	case len(p.queue) < p.maxQueue():
		p.queue = append(p.queue, d)
		p.stats.TLSHandshaking++
	default:
		p.stats.TLSHandshakesShed++
		return false
	}
	return true
}

// leave gives up d's place — its slot, or its place in the queue —
// because its handshake ended (done, failed, timed out, closed); phase is
// where d stood.
func (p *tlsPool) leave(d *Dispatcher, phase tlsPhase) {
	switch phase {
	case tlsQueued:
		if i := slices.Index(p.queue, d); i >= 0 {
			p.queue = slices.Delete(p.queue, i, i+1)
			p.stats.TLSHandshaking--
		}
	case tlsHandshake:
		p.running--
		p.stats.TLSHandshaking--
		p.next()
	}
}

// next starts the handshakes that waited, as slots allow.
func (p *tlsPool) next() {
	for p.running < p.maxRunning() && len(p.queue) > 0 {
		d := p.queue[0]
		p.queue = slices.Delete(p.queue, 0, 1)
		p.running++
		d.tlsRun()
	}
	if len(p.queue) == 0 && cap(p.queue) > 64 {
		p.queue = nil // a burst has passed: give its memory back
	}
}

// tlsScratch gathers SendBuffers' plaintext into one chunk for tls.Conn.
var tlsScratch = sync.Pool{New: func() any { b := make([]byte, 0, tlsSendLimit); return &b }}

// errTLSNoConfig is returned when TLS is started without a tls.Config.
var errTLSNoConfig = errors.New("dispatcher: TLS needs a tls.Config")
