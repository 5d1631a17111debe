package dispatcher_test

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/loop"
	"golang.org/x/sys/unix"
)

// BenchmarkWithSendBurst: one op is a Send larger than the socket takes at
// once, the rest queued and written as the peer reads — the path through
// DispatcherWithSend's queue. Small bursts must not allocate in steady state.
func BenchmarkWithSendBurst(b *testing.B) {
	for _, size := range []int{8 << 10, 1 << 20} {
		b.Run(byteSize(size), func(b *testing.B) {
			pair, err := testutil.NewSocketpair()
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = unix.Close(pair[1]) })
			// A small send buffer, so that even the small burst queues.
			_ = unix.SetsockoptInt(pair[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<10)
			d := &dispatcher.DispatcherWithSend{}
			d.Init(d, loop.NewMap())
			if err := d.Adopt(pair[0]); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = d.Close() })
			burst := bytes.Repeat([]byte("x"), size)
			sink := make([]byte, 256<<10)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				d.Send(burst)
				for got := 0; got < size; {
					n, err := unix.Read(pair[1], sink)
					if err != nil {
						b.Fatal(err)
					}
					got += n
					if d.Pending() > 0 {
						d.HandleWrite()
					}
				}
			}
		})
	}
}

func byteSize(n int) string { return strconv.Itoa(n>>10) + "KiB" }
