//go:build unix

package poller

import (
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestConformance runs the backend contract of doc.go against every backend
// this system has, the way asyncore's tests run once per poll function
// (F26 backend-parity). Waits with a generous limit are the only
// synchronisation.
func TestConformance(t *testing.T) {
	cases := []struct {
		name string
		run  func(*testing.T, *env)
	}{
		{"RegistrationErrors", testRegistrationErrors},
		{"ReadWhenPeerWrites", testReadWhenPeerWrites},
		{"WriteOnFreshSocket", testWriteOnFreshSocket},
		{"OneEventPerFd", testOneEventPerFd},
		{"ModifyDropsWrite", testModifyDropsWrite},
		{"DeleteStopsEvents", testDeleteStopsEvents},
		{"DeleteKeepsOthers", testDeleteKeepsOthers},
		{"Tags", testTags},
		{"ZeroInterest", testZeroInterest},
		{"PeerClose", testPeerClose},
		{"PipeWriterClosed", testPipeWriterClosed},
		{"OutOfBandIsPriority", testOutOfBand},
		{"RegularFileReady", testRegularFile},
		{"Timeout", testTimeout},
		{"NoRoomForEvents", testNoRoom},
		{"SmallEventsSliceLosesNothing", testSmallSlice},
		{"EINTRNeverSurfaces", testEINTR},
		{"Closed", testClosed},
		{"ManyFds", testManyFds},
		{"DupedFdNoGhostEvents", testDupedFd},
	}
	for _, k := range Available() {
		t.Run(k.String(), func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) { c.run(t, newEnv(t, k)) })
			}
		})
	}
}

func testRegistrationErrors(t *testing.T, e *env) {
	a, _ := e.socketpair()
	c, _ := e.socketpair()
	assert.ErrorIs(t, e.p.Modify(a, Read, 1), unix.ENOENT)
	assert.ErrorIs(t, e.p.Delete(a), unix.ENOENT)
	require.NoError(t, e.p.Add(a, Read, 1))
	assert.ErrorIs(t, e.p.Add(a, Write, 2), unix.EEXIST)
	assert.ErrorIs(t, e.p.Modify(c, Read, 1), unix.ENOENT, "another fd is not watched")
	require.NoError(t, e.p.Modify(a, Write, 3))
	require.NoError(t, e.p.Delete(a))
	assert.ErrorIs(t, e.p.Delete(a), unix.ENOENT)
	assert.ErrorIs(t, e.p.Modify(a, Read, 1), unix.ENOENT)
	require.NoError(t, e.p.Add(a, Read, 4), "a deleted fd can be added again")
	assert.Error(t, e.p.Add(-1, Read, 0))
}

func testReadWhenPeerWrites(t *testing.T, e *env) {
	a, b := e.socketpair()
	require.NoError(t, e.p.Add(a, Read, 7))
	assert.Empty(t, e.wait(0), "nothing written yet")

	e.write(b, "ping")
	ev := e.waitFor(a, Read)
	assert.Equal(t, uint32(7), ev.Tag)
	assert.Zero(t, ev.Events&(Write|Hangup|Err|Invalid), ev.Events.String())
	// Level-triggered: still ready until the data is read.
	ev2, ok := find(e.wait(0), a)
	assert.True(t, ok && ev2.Events&Read != 0, "unread data not reported again")

	buf := make([]byte, 16)
	n, err := unix.Read(a, buf)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(buf[:n]))
	assert.Empty(t, e.wait(0), "data consumed")
}

func testWriteOnFreshSocket(t *testing.T, e *env) {
	a, _ := e.socketpair()
	require.NoError(t, e.p.Add(a, Write, 3))
	ev := e.waitFor(a, Write)
	assert.Equal(t, Event{Fd: a, Tag: 3, Events: Write}, ev)
}

// One Event carries every bit of an fd: kqueue's separate read and write
// filters must be merged.
func testOneEventPerFd(t *testing.T, e *env) {
	a, b := e.socketpair()
	require.NoError(t, e.p.Add(a, Read|Write, 1))
	e.write(b, "x")
	e.waitFor(a, Read)
	evs := e.wait(0) // wait itself fails on two events for one fd
	require.Len(t, evs, 1)
	assert.Equal(t, Read|Write, evs[0].Events&(Read|Write))
}

func testModifyDropsWrite(t *testing.T, e *env) {
	a, b := e.socketpair()
	require.NoError(t, e.p.Add(a, Read|Write, 1))
	e.waitFor(a, Write)
	require.NoError(t, e.p.Modify(a, Read, 2))
	assert.Empty(t, e.wait(0), "write interest dropped")

	e.write(b, "x")
	ev := e.waitFor(a, Read)
	assert.Equal(t, Event{Fd: a, Tag: 2, Events: Read}, ev)
	require.NoError(t, e.p.Modify(a, Write, 3))
	ev = e.waitFor(a, Write)
	assert.Equal(t, Event{Fd: a, Tag: 3, Events: Write}, ev, "read interest dropped")
}

func testDeleteStopsEvents(t *testing.T, e *env) {
	a, b := e.socketpair()
	require.NoError(t, e.p.Add(a, Read|Write, 1))
	e.write(b, "x")
	e.waitFor(a, Read)
	require.NoError(t, e.p.Delete(a))
	assert.Empty(t, e.wait(20*time.Millisecond))
}

// Deleting one fd must leave every other registration intact (the poll
// backend moves its last entry into the hole).
func testDeleteKeepsOthers(t *testing.T, e *env) {
	var fds, peers [4]int
	for i := range fds {
		fds[i], peers[i] = e.socketpair()
		require.NoError(t, e.p.Add(fds[i], Read, uint32(i)))
	}
	require.NoError(t, e.p.Delete(fds[0]))
	require.NoError(t, e.p.Modify(fds[3], Read, 30))
	require.NoError(t, e.p.Delete(fds[1]))
	for i := range peers {
		e.write(peers[i], "x")
	}
	assert.Equal(t, uint32(2), e.waitFor(fds[2], Read).Tag)
	assert.Equal(t, uint32(30), e.waitFor(fds[3], Read).Tag)
	for _, ev := range e.wait(0) {
		assert.Contains(t, []int{fds[2], fds[3]}, ev.Fd)
	}
	require.NoError(t, e.p.Delete(fds[3]))
	assert.ErrorIs(t, e.p.Delete(fds[3]), unix.ENOENT)
	evs := e.wait(0)
	require.Len(t, evs, 1)
	assert.Equal(t, fds[2], evs[0].Fd)
}

func testTags(t *testing.T, e *env) {
	a, b := e.socketpair()
	c, d := e.socketpair()
	require.NoError(t, e.p.Add(a, Read, 11))
	require.NoError(t, e.p.Add(c, Read, 22))
	e.write(b, "x")
	e.write(d, "x")
	assert.Equal(t, uint32(11), e.waitFor(a, Read).Tag)
	assert.Equal(t, uint32(22), e.waitFor(c, Read).Tag)
	require.NoError(t, e.p.Modify(a, Read, 33))
	assert.Equal(t, uint32(33), e.waitFor(a, Read).Tag)
	assert.Equal(t, uint32(22), e.waitFor(c, Read).Tag)
}

func testZeroInterest(t *testing.T, e *env) {
	a, b := e.socketpair()
	require.NoError(t, e.p.Add(a, 0, 5))
	e.write(b, "x")
	for _, ev := range e.wait(20 * time.Millisecond) {
		assert.Zero(t, ev.Events&(Read|Write), "interest 0 reported %v", ev)
	}
	require.NoError(t, e.p.Modify(a, Read, 6))
	assert.Equal(t, uint32(6), e.waitFor(a, Read).Tag)
	require.NoError(t, e.p.Modify(a, 0, 7))
	for _, ev := range e.wait(0) {
		assert.Zero(t, ev.Events&(Read|Write), "interest 0 reported %v", ev)
	}
}

func testPeerClose(t *testing.T, e *env) {
	a, b := e.socketpair()
	require.NoError(t, e.p.Add(a, Read, 1))
	assert.Empty(t, e.wait(0))
	e.close(b)
	ev := e.waitFor(a, Read|Hangup)
	assert.Equal(t, uint32(1), ev.Tag)
	n, err := unix.Read(a, make([]byte, 8))
	require.NoError(t, err)
	assert.Zero(t, n, "EOF after the peer closed")
}

func testPipeWriterClosed(t *testing.T, e *env) {
	r, w := e.pipe()
	require.NoError(t, e.p.Add(r, Read, 1))
	assert.Empty(t, e.wait(0))
	e.close(w)
	e.waitFor(r, Read|Hangup)
}

// testOutOfBand polls one end of a loopback TCP connection, as a raw
// socket, while the other, a net.Conn, sends out-of-band data.
func testOutOfBand(t *testing.T, e *env) {
	fd, conn := testutil.TCPPair(t)
	e.track(fd)
	require.NoError(t, e.p.Add(fd, Read, 9))
	assert.Empty(t, e.wait(0))
	raw, err := conn.SyscallConn()
	require.NoError(t, err)
	var sendErr error
	require.NoError(t, raw.Control(func(s uintptr) {
		sendErr = unix.Sendto(int(s), []byte{0xf4}, unix.MSG_OOB, nil)
	}))
	require.NoError(t, sendErr)
	want := Priority
	if e.kind == Kqueue {
		want = Read // kqueue has no portable out-of-band flag
	}
	ev := e.waitFor(fd, want)
	assert.Equal(t, uint32(9), ev.Tag)
}

// A regular file is ready at once, as poll(2) and select(2) say, even
// where the kernel (epoll, kqueue at EOF) would not.
func testRegularFile(t *testing.T, e *env) {
	f, err := os.CreateTemp(t.TempDir(), "poller")
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	_, err = f.WriteString("hello")
	require.NoError(t, err)
	fd := int(f.Fd())
	require.NoError(t, e.p.Add(fd, Read, 4))
	ev, ok := find(e.wait(0), fd)
	require.True(t, ok, "regular file not ready at once")
	assert.Equal(t, Event{Fd: fd, Tag: 4, Events: Read}, ev)
	require.NoError(t, e.p.Modify(fd, Write, 5))
	ev, ok = find(e.wait(0), fd)
	require.True(t, ok)
	assert.Equal(t, Event{Fd: fd, Tag: 5, Events: Write}, ev)
	require.NoError(t, e.p.Delete(fd))
	assert.Empty(t, e.wait(0))
}

func testTimeout(t *testing.T, e *env) {
	a, _ := e.socketpair()
	require.NoError(t, e.p.Add(a, Read, 1))
	start := time.Now()
	assert.Empty(t, e.wait(30*time.Millisecond))
	assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)
	assert.Empty(t, e.wait(time.Nanosecond))
	assert.Empty(t, e.wait(0))
}

func testNoRoom(t *testing.T, e *env) {
	_, err := e.p.Wait(nil, 0)
	assert.ErrorIs(t, err, ErrNoEvents)
	_, err = e.p.Wait([]Event{}, time.Second)
	assert.ErrorIs(t, err, ErrNoEvents)
}

// With room for one event and three ready fds, each Wait returns one and
// none is lost. Draining each reported fd makes this independent of
// fairness.
func testSmallSlice(t *testing.T, e *env) {
	want := map[int]uint32{}
	for i := range 3 {
		a, b := e.socketpair()
		require.NoError(t, e.p.Add(a, Read, uint32(100+i)))
		e.write(b, "x")
		want[a] = uint32(100 + i)
	}
	got := map[int]uint32{}
	one := make([]Event, 1)
	for range 3 {
		n, err := e.p.Wait(one, 5*time.Second)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		got[one[0].Fd] = one[0].Tag
		_, err = unix.Read(one[0].Fd, make([]byte, 8))
		require.NoError(t, err)
	}
	assert.Equal(t, want, got)
	assert.Empty(t, e.wait(0))
}

// testEINTR is F18 eintr: signals arrive every millisecond at the thread
// blocked in Wait, yet every Wait returns no error and lasts its whole timeout.
func testEINTR(t *testing.T, e *env) {
	a, _ := e.socketpair()
	require.NoError(t, e.p.Add(a, Read, 1))
	sig := make(chan os.Signal, 64)
	signal.Notify(sig, syscall.SIGUSR1)
	defer signal.Stop(sig)

	runtime.LockOSThread() // so the signals hit the thread that waits
	defer runtime.UnlockOSThread()
	tid := threadID()
	stop, done := make(chan struct{}), make(chan int)
	go func() {
		sent := 0
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				done <- sent
				return
			case <-tick.C:
				if signalThread(tid) == nil {
					sent++
				}
			case <-sig:
			}
		}
	}()
	for range 20 {
		start := time.Now()
		n, err := e.p.Wait(e.buf[:], 50*time.Millisecond)
		elapsed := time.Since(start)
		assert.NoError(t, err)
		assert.Zero(t, n)
		assert.GreaterOrEqual(t, elapsed, 50*time.Millisecond, "a restart lost the remaining time")
	}
	close(stop)
	assert.Positive(t, <-done, "no signal was sent")
}

func testClosed(t *testing.T, e *env) {
	a, _ := e.socketpair()
	require.NoError(t, e.p.Add(a, Read, 1))
	require.NoError(t, e.p.Close())
	_, err := e.p.Wait(e.buf[:], 0)
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, e.p.Add(a, Write, 1), ErrClosed)
	assert.ErrorIs(t, e.p.Modify(a, Write, 1), ErrClosed)
	assert.ErrorIs(t, e.p.Delete(a), ErrClosed)
	assert.ErrorIs(t, e.p.Close(), ErrClosed)
}

func testManyFds(t *testing.T, e *env) {
	const pairs, hot = 200, 137
	var peers [pairs]int
	var fds [pairs]int
	for i := range pairs {
		fds[i], peers[i] = e.socketpair()
		require.NoError(t, e.p.Add(fds[i], Read, uint32(i)))
	}
	assert.Empty(t, e.wait(0))
	e.write(peers[hot], "x")
	evs := e.wait(5 * time.Second)
	require.Len(t, evs, 1)
	assert.Equal(t, Event{Fd: fds[hot], Tag: hot, Events: Read}, evs[0])
}

// testDupedFd is F25 dup-ghost-events: Delete before close, and a dup of the
// descriptor that stays open produces no event, nor does the number's next
// owner.
func testDupedFd(t *testing.T, e *env) {
	a, b := e.socketpair()
	require.NoError(t, e.p.Add(a, Read, 1))
	dup, err := unix.Dup(a)
	require.NoError(t, err)
	e.track(dup)
	require.NoError(t, e.p.Delete(a))
	e.close(a)
	e.write(b, "ghost")
	assert.Empty(t, e.wait(50*time.Millisecond), "event for a deleted fd")

	c, _ := e.socketpair() // likely reuses a's number
	t.Logf("closed fd %d, new fd %d", a, c)
	require.NoError(t, e.p.Add(c, Read, 2))
	assert.Empty(t, e.wait(50*time.Millisecond), "event meant for the dup")
}
