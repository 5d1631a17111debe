package dispatcher_test

import (
	"bytes"
	"testing"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"golang.org/x/sys/unix"
)

// dataEchoBench is examples/echo's handler: HandleData sends back what the
// loop read for it.
type dataEchoBench struct {
	dispatcher.DispatcherWithSend
}

func (e *dataEchoBench) HandleData(p []byte) { e.Send(p) }

// BenchmarkHandleDataEcho: one op is a 64-byte request written by a peer
// driven in the same goroutine, the loop iteration that reads it into the
// loop's buffer and hands it to HandleData, the echo's send, and the peer's
// read of the reply. The steady state must not allocate.
func BenchmarkHandleDataEcho(b *testing.B) {
	req := bytes.Repeat([]byte("x"), 64)
	for _, kind := range looptest.Backends() {
		b.Run(kind.String(), func(b *testing.B) {
			l := looptest.NewLoop(b, kind)
			e := &dataEchoBench{}
			e.Init(e, l.Map())
			peer := testutil.AdoptPair(b, e.Adopt)
			in := make([]byte, 4096)
			round := func() {
				if n, err := unix.Write(peer, req); err != nil || n != len(req) {
					b.Fatalf("peer write: %d, %v", n, err)
				}
				for got := 0; got < len(req); {
					if err := l.RunOnce(-1); err != nil {
						b.Fatal(err)
					}
					n, err := unix.Read(peer, in)
					if err == unix.EAGAIN || err == unix.EINTR {
						continue
					}
					if err != nil || n == 0 {
						b.Fatalf("peer read: %d, %v", n, err)
					}
					got += n
				}
			}
			for range 100 {
				round()
			}
			b.SetBytes(int64(len(req)))
			b.ReportAllocs()
			for b.Loop() {
				round()
			}
		})
	}
}
