package dispatcher_test

import (
	"bytes"
	"testing"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

type gatherConn struct {
	dispatcher.Dispatcher
	closes int
}

func (g *gatherConn) HandleClose() {
	g.closes++
	_ = g.Close()
}

func newGatherConn(t *testing.T) (*gatherConn, int) {
	t.Helper()
	pair, err := testutil.NewSocketpair()
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Close(pair[1]) })
	g := &gatherConn{}
	g.Init(g, loop.NewMap())
	require.NoError(t, g.Adopt(pair[0]))
	t.Cleanup(func() { _ = g.Close() })
	return g, pair[1]
}

// TestSendBuffers checks that one gathered write sends the buffers in order
// and skips empty ones.
func TestSendBuffers(t *testing.T) {
	g, peer := newGatherConn(t)
	n, err := g.Socket().SendBuffers([][]byte{[]byte("hello "), nil, []byte("wor"), {}, []byte("ld\n")})
	require.NoError(t, err)
	assert.Equal(t, 12, n)
	buf := make([]byte, 64)
	got, err := unix.Read(peer, buf)
	require.NoError(t, err)
	assert.Equal(t, "hello world\n", string(buf[:got]))
}

// TestSendBuffersShortWrite fills the socket: the count returned stops in
// the middle of a buffer, EAGAIN then gives 0 and no error, and what arrived
// is exactly a prefix of the concatenation.
func TestSendBuffersShortWrite(t *testing.T) {
	g, peer := newGatherConn(t)
	require.NoError(t, unix.SetsockoptInt(g.Fd(), unix.SOL_SOCKET, unix.SO_SNDBUF, 4096))
	a := bytes.Repeat([]byte("a"), 300_000)
	b := bytes.Repeat([]byte("b"), 300_000)
	n, err := g.Socket().SendBuffers([][]byte{a, b})
	require.NoError(t, err)
	require.Less(t, n, len(a)+len(b), "a 4 KiB socket buffer cannot take 600 KB")
	n2, err := g.Socket().SendBuffers([][]byte{[]byte("x")})
	require.NoError(t, err)
	assert.Zero(t, n2, "a full socket is EAGAIN: 0 bytes, no error")

	want := append(append([]byte{}, a...), b...)[:n]
	got := make([]byte, 0, n)
	buf := make([]byte, 65536)
	for len(got) < n {
		m, err := unix.Read(peer, buf)
		require.NoError(t, err)
		got = append(got, buf[:m]...)
	}
	assert.True(t, bytes.Equal(want, got), "the bytes received must be a prefix of a+b")
}

// TestSendBuffersBrokenPeer: EPIPE is a disconnect, so HandleClose runs.
func TestSendBuffersBrokenPeer(t *testing.T) {
	g, peer := newGatherConn(t)
	require.NoError(t, unix.Close(peer))
	_, err := g.Socket().SendBuffers([][]byte{[]byte("x"), []byte("y")})
	assert.ErrorIs(t, err, unix.EPIPE)
	assert.Equal(t, 1, g.closes)
	_, err = g.Socket().SendBuffers([][]byte{[]byte("x")})
	assert.ErrorIs(t, err, dispatcher.ErrClosed)
}

// TestSendBuffersAllocs: a steady stream of gathered writes allocates
// nothing (Linux; other systems use x/sys's allocating gather calls).
func TestSendBuffersAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts are not meaningful in -short runs")
	}
	g, peer := newGatherConn(t)
	bufs := [][]byte{[]byte("abc"), []byte("def"), []byte("ghi")}
	sink := make([]byte, 64)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := g.Socket().SendBuffers(bufs); err != nil {
			t.Fatal(err)
		}
		_, _ = unix.Read(peer, sink)
	})
	if testutil.GatherAllocates {
		t.Skipf("this system's gather call allocates (%.0f allocs)", allocs)
	}
	assert.Zero(t, allocs)
}
