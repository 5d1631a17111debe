package loop_test

import (
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// pingPong is one end of the benchmarks' ping-pong: a Dispatcher that reads
// into a fixed buffer and sends back what it read. The end that counts is
// the initiator; each byte it gets back is one round trip, and sending it
// again starts the next.
type pingPong struct {
	dispatcher.Dispatcher
	buf    [1]byte
	rounds int
	counts bool
}

func (p *pingPong) HandleRead() {
	n, err := p.Recv(p.buf[:])
	if err != nil || n == 0 {
		return
	}
	if p.counts {
		p.rounds++
	}
	_, _ = p.Send(p.buf[:n])
}

// startPingPong registers both ends of a socketpair in l's map, sends the
// first byte and runs a few hundred round trips, so that the benchmark
// measures the steady state (interest applied, buffers grown).
func startPingPong(b *testing.B, l *loop.Loop) *pingPong {
	b.Helper()
	a, c := testutil.BareSocketpair(b)
	ping, pong := &pingPong{counts: true}, &pingPong{}
	for _, end := range []struct {
		p  *pingPong
		fd int
	}{{ping, a}, {pong, c}} {
		end.p.Init(end.p, l.Map())
		end.p.Logger = discard
		require.NoError(b, end.p.Adopt(end.fd))
	}
	n, err := ping.Send([]byte{1})
	require.NoError(b, err)
	require.Equal(b, 1, n)
	runRounds(b, l, ping, 500)
	return ping
}

// runRounds drives l until ping has completed n more round trips.
func runRounds(b *testing.B, l *loop.Loop, ping *pingPong, n int) {
	want := ping.rounds + n
	for ping.rounds < want {
		if err := l.RunOnce(-1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPingPong: one op is one 1-byte round trip between two dispatchers
// in one loop (two iterations: one per direction). The hot path must not
// allocate.
func BenchmarkPingPong(b *testing.B) {
	for _, kind := range looptest.Backends() {
		b.Run(kind.String(), func(b *testing.B) {
			l := newLoop(b, kind, loop.Options{})
			ping := startPingPong(b, l)
			b.ReportAllocs()
			for b.Loop() {
				runRounds(b, l, ping, 1)
			}
		})
	}
}

// BenchmarkPingPongIdle10k is BenchmarkPingPong beside 10,000 idle
// registered descriptors (unbound UDP sockets watched for reading, one
// descriptor each). With epoll the cost must not depend on them; poll
// hands the kernel the whole array on every wait.
func BenchmarkPingPongIdle10k(b *testing.B) {
	const idle = 10000
	for _, kind := range looptest.Backends() {
		b.Run(kind.String(), func(b *testing.B) {
			if kind == poller.Select {
				b.Skip("select cannot watch 10,000 descriptors: FD_SETSIZE is 1024")
			}
			var rl unix.Rlimit
			require.NoError(b, unix.Getrlimit(unix.RLIMIT_NOFILE, &rl))
			if rl.Cur < idle+256 {
				b.Skipf("RLIMIT_NOFILE is %d; need %d", rl.Cur, idle+256)
			}
			l := newLoop(b, kind, loop.Options{})
			for range idle {
				fd, err := testutil.NewSocket(unix.AF_INET, unix.SOCK_DGRAM)
				require.NoError(b, err)
				addFake(b, l.Map(), fd, poller.Read)
			}
			ping := startPingPong(b, l)
			require.Equal(b, idle+2, l.Map().Len())
			b.ReportAllocs()
			for b.Loop() {
				runRounds(b, l, ping, 1)
			}
		})
	}
}

// BenchmarkPost: one op is a Post and the iteration that runs it (the
// wake-up write, the wait that sees it, the drain and the call).
func BenchmarkPost(b *testing.B) {
	for _, kind := range looptest.Backends() {
		b.Run(kind.String(), func(b *testing.B) {
			l := newLoop(b, kind, loop.Options{})
			ran := 0
			f := func() { ran++ }
			b.ReportAllocs()
			for b.Loop() {
				if err := l.Post(f); err != nil {
					b.Fatal(err)
				}
				if err := l.RunOnce(0); err != nil {
					b.Fatal(err)
				}
			}
			if ran == 0 {
				b.Fatal("no posted function ran")
			}
		})
	}
}

// BenchmarkTimerAfterFuncStop: schedule a timer and cancel it, beside 1,000
// pending ones, so the heap has some depth.
func BenchmarkTimerAfterFuncStop(b *testing.B) {
	for _, kind := range looptest.Backends() {
		b.Run(kind.String(), func(b *testing.B) {
			l := newLoop(b, kind, loop.Options{})
			f := func() {}
			for i := range 1000 {
				l.AfterFunc(time.Hour+time.Duration(i)*time.Millisecond, f)
			}
			b.ReportAllocs()
			for b.Loop() {
				t := l.AfterFunc(90*time.Minute, f)
				if !t.Stop() {
					b.Fatal("Stop of a pending timer reported false")
				}
			}
		})
	}
}
