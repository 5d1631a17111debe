//go:build unix

package poller

import (
	"testing"

	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// BenchmarkWait measures one non-blocking Wait that finds one readable fd:
// the cost the loop pays per iteration. It must not allocate.
func BenchmarkWait(b *testing.B) {
	for _, k := range Available() {
		b.Run(k.String(), func(b *testing.B) {
			p, err := Open(k)
			require.NoError(b, err)
			defer p.Close()
			fds, err := testutil.NewSocketpair()
			require.NoError(b, err)
			defer unix.Close(fds[0])
			defer unix.Close(fds[1])
			require.NoError(b, p.Add(fds[0], Read, 1))
			_, err = unix.Write(fds[1], []byte("x"))
			require.NoError(b, err)
			events := make([]Event, 16)

			b.ReportAllocs()
			for b.Loop() {
				n, err := p.Wait(events, 0)
				if err != nil || n != 1 || events[0].Fd != fds[0] {
					b.Fatalf("Wait = %d, %v, %v", n, err, events[:n])
				}
			}
		})
	}
}
