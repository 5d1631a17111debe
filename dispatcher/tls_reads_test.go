package dispatcher_test

import (
	"bytes"
	"sync/atomic"
	"testing"

	"github.com/asyncore-go/asyncore/internal/sock"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
)

// TestTLSOneReadPerEvent: after the handshake, a read event on a TLS
// connection costs one read(2) when the first read comes back short, as on
// a plaintext connection. Reading on until EAGAIN cost a second read per
// event that only returned EAGAIN: one third more system calls per request
// in the bench harness's TLS echo (a read, a read, a send).
func TestTLSOneReadPerEvent(t *testing.T) {
	req := bytes.Repeat([]byte("x"), 64)
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l, cli := tlsEchoPair(t, kind)
		want := 4
		round := func() {
			cli.Send(req)
			want += len(req)
			testutil.RunUntil(t, l, testutil.HangGuard, func() bool { return cli.got >= want })
		}
		round() // tickets and the first records go by
		var reads atomic.Int64
		restore := sock.SetInjector(func(op sock.Op, fd int) sock.Fault {
			if op == sock.OpRead {
				reads.Add(1)
			}
			return sock.Fault{}
		})
		defer restore()
		const rounds = 200
		for range rounds {
			round()
		}
		restore()
		// Two read events a round, the server's and the client's; a
		// record split across two events costs one more, rarely.
		perRound := float64(reads.Load()) / rounds
		t.Logf("%.2f reads per round trip", perRound)
		if perRound > 2.5 {
			t.Fatalf("%.2f reads per round trip (two read events); want at most 2.5", perRound)
		}
	})
}

// TestTLSOneDecryptCallPerEvent: a read event that takes one whole record
// from the socket calls tls.Conn.Read once, not a second time only to learn
// that the socket is empty. crypto/tls allocates a reader each time it
// reads its transport (atLeastReader), so that second call cost an
// allocation per event on each side: 4 per round trip, 2 left after.
func TestTLSOneDecryptCallPerEvent(t *testing.T) {
	req := bytes.Repeat([]byte("x"), 64)
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l, cli := tlsEchoPair(t, kind)
		want := 4
		round := func() {
			cli.Send(req)
			want += len(req)
			testutil.RunUntil(t, l, testutil.HangGuard, func() bool { return cli.got >= want })
		}
		for range 10 {
			round() // tickets and the first records go by; pools warm up
		}
		allocs := testing.AllocsPerRun(200, round)
		t.Logf("%.2f allocations per round trip", allocs)
		if raceEnabled {
			return // a race build allocates on its own (debug modes, pools that drop items)
		}
		if allocs > 2.5 {
			t.Fatalf("%.2f allocations per round trip; want at most 2.5 (one record read per side)", allocs)
		}
	})
}
