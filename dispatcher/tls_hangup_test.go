package dispatcher_test

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// eventCounter is a TLS echo handler that counts the readiness reports it
// is given.
type eventCounter struct {
	tlsEcho
	events int
}

func (h *eventCounter) HandleEvents(ev poller.Events) {
	h.events++
	h.tlsEcho.HandleEvents(ev)
}

// A peer that hangs up in the middle of a handshake — with a reset, or
// with a plain close — while the handshake goroutine is busy (here: held
// in GetCertificate) does not make the loop spin on the hang-up the poller
// keeps reporting: once the EOF is fed to the handshake, the connection
// asks for nothing (tlsInterest) and the loop takes its descriptor out of
// the poller, so it gets no more events until the goroutine reports; then
// it ends. Events are counted, not time. (Keeping Read interest after the
// EOF makes this fail with hundreds of events on every backend.)
func TestTLSHangupDuringHandshakeDoesNotSpin(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		for _, how := range []string{"reset", "close"} {
			srvCfg, cliCfg := testutil.TLSCert(t)
			cert := srvCfg.Certificates[0]
			entered, release := make(chan struct{}, 1), make(chan struct{})
			srvCfg.Certificates = nil
			srvCfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				entered <- struct{}{}
				<-release // on the handshake goroutine, never the loop's
				return &cert, nil
			}
			l := looptest.NewLoop(t, kind)
			m := l.Map()
			var made []*eventCounter
			srv, err := dispatcher.ServeTLS(m, "127.0.0.1:0", srvCfg, func() dispatcher.Handler {
				h := &eventCounter{}
				h.Init(h, m)
				made = append(made, h)
				return h
			})
			require.NoError(t, err)
			raw, err := net.Dial("tcp4", srv.Addr().String())
			require.NoError(t, err)
			go func() { _ = tls.Client(raw, cliCfg).Handshake() }() // sends its ClientHello, then waits
			got := false
			testutil.RunUntil(t, l, 30*time.Second, func() bool {
				select {
				case <-entered:
					got = true
				default:
				}
				return got
			})
			h := made[0]
			if how == "reset" {
				require.NoError(t, raw.(*net.TCPConn).SetLinger(0))
			}
			require.NoError(t, raw.Close())
			// Wait for the server to see the hang-up, through the events
			// themselves.
			testutil.RunUntil(t, l, 30*time.Second, func() bool { return h.Hooks().EOF() })
			before := h.events
			for range 200 {
				require.NoError(t, l.RunOnce(time.Millisecond))
			}
			assert.LessOrEqual(t, h.events-before, 2, "%s: events while the handshake goroutine is busy", how)
			close(release)
			testutil.RunUntil(t, l, 30*time.Second, func() bool { return h.Fd() < 0 })
			assert.Zero(t, dispatcher.Stats(m).TLSHandshaking, how)
			if how == "close" {
				// The EOF reached the handshake, which reports it. (After a
				// reset, the goroutine's first write usually fails first,
				// and the connection ends through HandleClose.)
				require.NotEmpty(t, h.errs, how)
				var te *dispatcher.TLSError
				assert.ErrorAs(t, h.errs[0], &te, how)
			}
			awaitGoroutines(t, l, 0)
			_ = srv.Close()
		}
	})
}
