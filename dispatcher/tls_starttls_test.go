package dispatcher_test

import (
	"bytes"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// sendAfterStartTLS answers STARTTLS with a reply (large, so that most of
// it is still queued when StartTLS is called, or short, so that it is
// written at once), calls StartTLS, and sends more lines at once: those
// must go out after the handshake, encrypted, in order.
type sendAfterStartTLS struct {
	tlsEcho
	cfg   *tls.Config
	reply []byte
	after []string
}

func (h *sendAfterStartTLS) HandleData(p []byte) {
	if _, isTLS := h.Socket().ConnectionState(); isTLS || string(p) != "STARTTLS\r\n" {
		return
	}
	// A small send buffer keeps most of a large reply in our queue.
	_ = unix.SetsockoptInt(h.Fd(), unix.SOL_SOCKET, unix.SO_SNDBUF, 16<<10)
	h.Send(h.reply)
	if err := h.StartTLS(h.cfg); err != nil {
		h.errs = append(h.errs, err)
	}
	for _, line := range h.after {
		h.Send([]byte(line))
	}
}

// Output sent between StartTLS and the end of the handshake is not written
// in plaintext after the reply: it waits for the handshake and goes out
// encrypted, in order, all of it — whether the reply was still queued at
// StartTLS or written at once.
func TestDispatcherWithSendSendAfterStartTLS(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		srvCfg, cliCfg := testutil.TLSCert(t)
		after := []string{"250-one\r\n", "250-two\r\n", "250 three\r\n"}
		for _, size := range []int{1 << 20, 0} {
			reply := append(bytes.Repeat([]byte("220-filler\r\n"), size/12), "220 ready\r\n"...)
			l := looptest.NewLoop(t, kind)
			m := l.Map()
			var made []*sendAfterStartTLS
			srv, err := dispatcher.Serve(m, "127.0.0.1:0", func() dispatcher.Handler {
				h := &sendAfterStartTLS{cfg: srvCfg, reply: reply, after: after}
				h.Init(h, m)
				h.noEcho = true
				made = append(made, h)
				return h
			})
			require.NoError(t, err)
			done := make(chan error, 1)
			go func() {
				done <- testutil.StartTLSThenRead(srv.Addr().String(), cliCfg, len(reply), strings.Join(after, ""))
			}()
			require.NoError(t, wait(t, l, done), "reply of %d bytes", len(reply))
			h := made[0]
			testutil.RunUntil(t, l, 10*time.Second, func() bool { return h.Fd() < 0 })
			assert.Empty(t, h.errs)
			awaitGoroutines(t, l, 0)
			_ = srv.Close()
		}
	})
}
