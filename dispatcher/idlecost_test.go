package dispatcher_test

// What an idle connection costs (issue 14's idle target): accepting and
// adopting a connection leaves no garbage behind, because garbage made per
// accept raises the heap target, and with it the memory 10,000 idle
// connections keep resident.

import (
	"net"
	"runtime"
	"testing"
	"unsafe"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// adoptingListener adopts every accepted descriptor into a plain
// DispatcherWithSend, as examples/echo does.
type adoptingListener struct {
	dispatcher.Dispatcher
	conns []dispatcher.DispatcherWithSend
	addrs []net.Addr
	errs  []error
}

func (s *adoptingListener) HandleAccepted(fd int, addr net.Addr) {
	h := &s.conns[len(s.addrs)]
	h.Init(h, s.Map())
	if err := h.Adopt(fd); err != nil {
		_ = unix.Close(fd)
		s.errs = append(s.errs, err)
	}
	s.addrs = append(s.addrs, addr)
}

// TestAcceptAdoptAllocations: accepting a TCP connection and adopting it
// into a handler allocates the peer's address, which the handler keeps as
// Addr, and nothing else: no sockaddr buffers, no second copy of the
// address, no descriptor queries whose answers the listener already knew.
// (The handlers are preallocated, so only the library's allocations count.)
func TestAcceptAdoptAllocations(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the raw accept4 path is Linux's")
	}
	const n = 64
	l := looptest.NewLoop(t, poller.Epoll)
	s := &adoptingListener{conns: make([]dispatcher.DispatcherWithSend, n), addrs: make([]net.Addr, 0, n)}
	s.Init(s, l.Map())
	dispatcher.SetMaxConns(l.Map(), -1)
	require.NoError(t, s.ListenTCP("127.0.0.1:0"))
	t.Cleanup(func() {
		for i := range s.addrs {
			_ = s.conns[i].Close()
		}
		_ = s.Close()
	})
	// The clients connect before anything is measured: the kernel
	// completes their handshakes and they wait in the backlog.
	connect := func() {
		for range n {
			c, err := net.Dial("tcp4", s.Addr().String())
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
		}
	}
	// A first round, closed again, so that the map's and the counters'
	// tables have grown past the descriptors the measured round gets.
	connect()
	for len(s.addrs) < n {
		require.NoError(t, l.RunOnce(-1))
	}
	for i := range s.conns {
		require.NoError(t, s.conns[i].Close())
		s.conns[i] = dispatcher.DispatcherWithSend{}
	}
	s.addrs = s.addrs[:0]
	connect()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for len(s.addrs) < n {
		require.NoError(t, l.RunOnce(-1))
	}
	runtime.ReadMemStats(&after)
	require.Empty(t, s.errs)
	accepted := float64(n)
	mallocs := float64(after.Mallocs-before.Mallocs) / accepted
	bytes := float64(after.TotalAlloc-before.TotalAlloc) / accepted
	t.Logf("per accepted connection: %.2f allocations, %.0f bytes", mallocs, bytes)
	// A *net.TCPAddr (48 bytes) and its 4-byte IP.
	assert.LessOrEqual(t, mallocs, 2.5, "allocations per accepted connection")
	assert.LessOrEqual(t, bytes, 80.0, "bytes allocated per accepted connection")
	for i, a := range s.addrs {
		assert.Same(t, a, s.conns[i].Addr(), "Addr is the address HandleAccepted was given")
		assert.Equal(t, dispatcher.AFInet, s.conns[i].Socket().Family())
		assert.Equal(t, dispatcher.SockStream, s.conns[i].Socket().Type())
		assert.True(t, s.conns[i].Connected())
	}
}

// TestConnectionStructSizes bounds what one connection's handler costs
// before it holds any data. The bound is Go's allocation size class of 288
// bytes: a byte over it costs a whole class (32 bytes) more per connection.
// The Dispatcher's bound leaves two words of room for the types that embed
// it. Whatever only some connections use — a listener's state, the output
// queue and close lifecycle, big output buffers, a failed producer's error —
// is allocated behind a pointer when first needed.
func TestConnectionStructSizes(t *testing.T) {
	ds := unsafe.Sizeof(dispatcher.Dispatcher{})
	ws := unsafe.Sizeof(dispatcher.DispatcherWithSend{})
	t.Logf("Dispatcher %d bytes, DispatcherWithSend %d bytes", ds, ws)
	assert.LessOrEqual(t, ds, uintptr(288-16), "Dispatcher")
	assert.LessOrEqual(t, ws, uintptr(288), "DispatcherWithSend")
}
