package testutil

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func closeOnExec(t *testing.T, fd int) bool {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	require.NoError(t, err)
	return flags&unix.FD_CLOEXEC != 0
}

func nonBlocking(t *testing.T, fd int) bool {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	require.NoError(t, err)
	return flags&unix.O_NONBLOCK != 0
}

// TestSocketpairOwnership: each socket pair closes, when its test ends,
// exactly the ends its doc gives the test, and no other.
func TestSocketpairOwnership(t *testing.T) {
	var a, b, local, peer, bareA, bareB int
	t.Run("make", func(t *testing.T) {
		a, b = Socketpair(t)
		local, peer = PeerSocketpair(t)
		bareA, bareB = BareSocketpair(t)
		for _, fd := range []int{a, b, local, peer, bareA, bareB} {
			assert.True(t, closeOnExec(t, fd), "fd %d close-on-exec", fd)
			assert.True(t, nonBlocking(t, fd), "fd %d non-blocking", fd)
		}
	})
	assert.False(t, IsOpen(a), "Socketpair's first end closed")
	assert.False(t, IsOpen(b), "Socketpair's second end closed")
	assert.True(t, IsOpen(local), "PeerSocketpair's local end left to its owner")
	assert.False(t, IsOpen(peer), "PeerSocketpair's peer closed")
	assert.True(t, IsOpen(bareA) && IsOpen(bareB), "BareSocketpair's ends left to the caller")
	for _, fd := range []int{local, bareA, bareB} {
		require.NoError(t, unix.Close(fd))
	}
}

// TestAdoptPair: the local end goes to adopt, the peer is connected to it
// and closed when the test ends.
func TestAdoptPair(t *testing.T) {
	var adopted, peer int
	t.Run("adopt", func(t *testing.T) {
		peer = AdoptPair(t, func(fd int) error { adopted = fd; return nil })
		_, err := unix.Write(peer, []byte("x"))
		require.NoError(t, err)
		var buf [4]byte
		n, err := unix.Read(adopted, buf[:])
		require.NoError(t, err)
		assert.Equal(t, "x", string(buf[:n]))
	})
	assert.False(t, IsOpen(peer), "the peer is closed when the test ends")
	assert.True(t, IsOpen(adopted), "the adopted end is its owner's")
	require.NoError(t, unix.Close(adopted))
}

// TestTCPPair: the raw end is a close-on-exec, non-blocking descriptor
// connected to the client.
func TestTCPPair(t *testing.T) {
	fd, client := TCPPair(t)
	defer unix.Close(fd)
	assert.True(t, closeOnExec(t, fd))
	assert.True(t, nonBlocking(t, fd))
	_, err := client.Write([]byte("ping"))
	require.NoError(t, err)
	var got []byte
	buf := make([]byte, 16)
	RunUntil(t, runnerFunc(func(time.Duration) error { return nil }), 0, func() bool {
		b, _, err := ReadReady(fd, buf)
		require.NoError(t, err)
		got = append(got, b...)
		return len(got) == 4
	})
	assert.Equal(t, "ping", string(got))
}

// TestReadReady: what is there, then EAGAIN without blocking, then EOF.
func TestReadReady(t *testing.T) {
	a, b := Socketpair(t)
	Write(t, b, "abcdef")
	got, eof, err := ReadReady(a, make([]byte, 4))
	require.NoError(t, err)
	assert.Equal(t, "abcdef", string(got), "read in successive fills of buf")
	assert.False(t, eof)
	require.NoError(t, unix.Shutdown(b, unix.SHUT_WR))
	got, eof, err = ReadReady(a, make([]byte, 4))
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.True(t, eof)
	_, _, err = ReadReady(-1, make([]byte, 4))
	assert.True(t, errors.Is(err, unix.EBADF))
}

// TestDupTo: the copy has the number asked for and is close-on-exec.
func TestDupTo(t *testing.T) {
	a, _ := Socketpair(t)
	target, _ := Socketpair(t) // a number that is open: DupTo replaces it
	require.NoError(t, DupTo(a, target))
	assert.True(t, closeOnExec(t, target))
}

// TestPercentile: the nearest-rank percentile, and ds left unsorted.
func TestPercentile(t *testing.T) {
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(100 - i) // 100 down to 1
	}
	assert.Equal(t, time.Duration(1), Percentile(ds, 0))
	assert.Equal(t, time.Duration(50), Percentile(ds, 0.5))
	assert.Equal(t, time.Duration(99), Percentile(ds, 0.99))
	assert.Equal(t, time.Duration(100), Percentile(ds, 1))
	assert.Equal(t, time.Duration(100), ds[0], "ds is not sorted in place")
	assert.Zero(t, Percentile(nil, 0.99))
	assert.Equal(t, time.Duration(7), Percentile([]time.Duration{7}, 0.99))
}

type runnerFunc func(time.Duration) error

func (f runnerFunc) RunOnce(d time.Duration) error { return f(d) }

// TestRunFor: n iterations, each with the wait asked for.
func TestRunFor(t *testing.T) {
	var waits []time.Duration
	RunFor(t, runnerFunc(func(d time.Duration) error { waits = append(waits, d); return nil }), 3, time.Millisecond)
	assert.Equal(t, []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}, waits)
	waits = nil
	Settle(t, runnerFunc(func(d time.Duration) error { waits = append(waits, d); return nil }))
	assert.Len(t, waits, 5)
}
