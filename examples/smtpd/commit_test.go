package main

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asyncore-go/asyncore/internal/testutil"

	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
)

// heldSync is a stand-in for fsync that blocks until released, so a test
// can look at the server while a message is being synced.
type heldSync struct {
	entered  chan string // the file name, when a sync begins
	release  chan struct{}
	once     sync.Once
	released atomic.Int32 // syncs that have returned
}

// Release lets every held sync, and every later one, go on. It may be
// called more than once: by the test, and by a cleanup registered after
// the server's, so that it runs first should the test stop early.
func (h *heldSync) Release() { h.once.Do(func() { close(h.release) }) }

func newHeldSync() *heldSync {
	return &heldSync{entered: make(chan string, 16), release: make(chan struct{})}
}

func (h *heldSync) sync(f *os.File) error {
	h.entered <- filepath.Base(f.Name())
	<-h.release
	defer h.released.Add(1)
	return f.Sync()
}

// startWith is start with cfg changed by edit.
func startWith(t *testing.T, size int, edit func(*config)) *running {
	t.Helper()
	maildir := t.TempDir()
	cfg := config{addr: "127.0.0.1:0", maildir: maildir, size: size, hostname: hostname}
	edit(&cfg)
	addr, stop := testutil.Serve(t, withConfig(cfg))
	return &running{addr: addr.String(), maildir: maildir, stop: stop}
}

// TestCommitOffLoop checks that the sync of a message to disk does not hold
// up the other sessions, that its 250 is sent only once the sync is done,
// and that the commands the client pipelined after the message are answered
// after it, in order.
func TestCommitOffLoop(t *testing.T) {
	looptest.ForEachBackend(t, testCommitOffLoop)
}

func testCommitOffLoop(t *testing.T, kind poller.Kind) {
	held := newHeldSync()
	s := startWith(t, 1<<20, func(c *config) { c.syncFile, c.backend = held.sync, kind })
	t.Cleanup(held.Release)

	a := dial(t, s)
	require.Equal(t, "250 "+hostname, a.cmd("HELO a.test"))
	require.Equal(t, "250 OK", a.cmd("MAIL FROM:<a@example.org>"))
	require.Equal(t, "250 OK", a.cmd("RCPT TO:<b@example.com>"))
	require.Equal(t, "354 End data with <CR><LF>.<CR><LF>", a.cmd("DATA"))
	a.write("Subject: held\r\n\r\nbody\r\n.\r\nNOOP\r\nMAIL FROM:<next@example.org>\r\n")
	<-held.entered // the sync of a's message has begun and is held

	// Another session is served meanwhile.
	b := dial(t, s)
	assert.Equal(t, "250 "+hostname, b.cmd("HELO b.test"))
	assert.Equal(t, "250 OK", b.cmd("NOOP"))
	assert.Zero(t, held.released.Load(), "the sync was released before the NOOP was answered")

	held.Release()
	assert.Regexp(t, `^250 OK: queued as `, a.reply())
	assert.EqualValues(t, 1, held.released.Load(), "250 before the sync returned")
	assert.Equal(t, "250 OK", a.reply())
	assert.Equal(t, "250 OK", a.reply())
	assert.Equal(t, "221 Bye", a.cmd("QUIT"))
	a.expectEOF()
	got := s.messages(t)
	require.Len(t, got, 1)
	assert.Equal(t, "Subject: held\r\n\r\nbody\r\n", got[0].Body)
}

// TestCommitQueueFull checks that a message finding every worker busy and
// the queue full is refused at once with a temporary error, instead of the
// loop waiting, and that the messages that did get in are delivered.
func TestCommitQueueFull(t *testing.T) {
	h := newSMTPHarness(t, 1<<20)
	held := newHeldSync()
	h.srv.box.sync = held.sync
	h.srv.commits = newCommitter(1, 1)
	t.Cleanup(h.srv.commits.close)
	t.Cleanup(held.Release)

	envelope := "HELO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
	var cs []*pipeClient
	for range 3 {
		c := h.dial(t)
		c.send(envelope, nil)
		c.waitFor("354 ")
		cs = append(cs, c)
	}
	cs[0].send("first\r\n.\r\n", nil)
	<-held.entered                             // the one worker is busy
	cs[1].send("second\r\n.\r\nNOOP\r\n", nil) // waits in the queue
	cs[2].send("third\r\n.\r\nRCPT TO:<b@example.com>\r\n", nil)
	cs[2].waitFor("451 4.3.0 Too many messages being written, try again later\r\n503 Error: need MAIL command\r\n")
	assert.Len(t, h.files(t, "tmp"), 2, "the refused message's file is kept")
	assert.Zero(t, held.released.Load())

	held.Release()
	cs[0].waitFor("250 OK: queued as ")
	cs[1].waitFor("250 OK: queued as ")
	cs[1].waitFor("\r\n250 OK\r\n")
	assert.Len(t, h.files(t, "new"), 2)
	assert.Empty(t, h.files(t, "tmp"))
}

// TestCommitAfterClose checks that a client that goes away while its
// message is being synced leaves the server unharmed: the message, complete,
// is delivered, and the result, which has no one to go to, is dropped.
func TestCommitAfterClose(t *testing.T) {
	looptest.ForEachBackend(t, testCommitAfterClose)
}

func testCommitAfterClose(t *testing.T, kind poller.Kind) {
	held := newHeldSync()
	s := startWith(t, 1<<20, func(c *config) { c.syncFile, c.backend = held.sync, kind })
	t.Cleanup(held.Release)

	a := dial(t, s)
	require.Equal(t, "250 "+hostname, a.cmd("HELO a.test"))
	require.Equal(t, "250 OK", a.cmd("MAIL FROM:<a@example.org>"))
	require.Equal(t, "250 OK", a.cmd("RCPT TO:<b@example.com>"))
	require.Equal(t, "354 End data with <CR><LF>.<CR><LF>", a.cmd("DATA"))
	a.write("gone\r\n.\r\nNOOP\r\n")
	<-held.entered
	require.NoError(t, a.conn.Close())

	b := dial(t, s) // the close is seen by now or soon; either order must work
	require.Equal(t, "250 OK", b.cmd("NOOP"))
	held.Release()
	for held.released.Load() == 0 {
		require.Equal(t, "250 OK", b.cmd("NOOP"))
	}
	require.Equal(t, "250 OK", b.cmd("NOOP"))
	s.stop()
	got := s.messages(t)
	require.Len(t, got, 1)
	assert.Equal(t, "gone\r\n", got[0].Body)
}

// TestDiskFull checks the free-space check: MAIL FROM is refused with 452
// when the message it announces would leave less than -minfree free, and
// DATA when the disk is already below it.
func TestDiskFull(t *testing.T) {
	var free atomic.Uint64
	free.Store(10_000)
	s := startWith(t, 1000, func(c *config) {
		c.minFree = 5000
		c.freeSpace = func() (uint64, error) { return free.Load(), nil }
		c.spaceEvery = -1 // ask every time
	})
	c := dial(t, s)
	require.Equal(t, "250-"+hostname+"\n250-SIZE 1000\n250 8BITMIME", c.cmd("EHLO c.test"))
	assert.Equal(t, "250 OK", c.cmd("MAIL FROM:<a@example.org> SIZE=1000"))
	assert.Equal(t, "250 OK", c.cmd("RSET"))

	free.Store(5500)
	assert.Equal(t, "452 4.3.1 Insufficient system storage", c.cmd("MAIL FROM:<a@example.org> SIZE=1000"))
	assert.Equal(t, "250 OK", c.cmd("MAIL FROM:<a@example.org>"))
	assert.Equal(t, "250 OK", c.cmd("RCPT TO:<b@example.com>"))
	free.Store(4000)
	assert.Equal(t, "452 4.3.1 Insufficient system storage", c.cmd("DATA"))
	free.Store(1 << 30) // room again: the transaction goes on
	assert.Equal(t, "354 End data with <CR><LF>.<CR><LF>", c.cmd("DATA"))
	assert.Regexp(t, `^250 OK: queued as `, c.cmd("room again\r\n."))
	assert.Len(t, s.messages(t), 1)
	free.Store(4000)
	assert.Equal(t, "452 4.3.1 Insufficient system storage", c.cmd("MAIL FROM:<c@example.org>"))

	// The figure is trusted for a while: the file system is not asked
	// for every command.
	var asked atomic.Int32
	s2 := startWith(t, 1000, func(c *config) {
		c.freeSpace = func() (uint64, error) { asked.Add(1); return 1 << 30, nil }
		c.spaceEvery = time.Hour
	})
	c2 := dial(t, s2)
	require.Equal(t, "250 "+hostname, c2.cmd("HELO c.test"))
	for range 5 {
		assert.Equal(t, "250 OK", c2.cmd("MAIL FROM:<a@example.org>"))
		assert.Equal(t, "250 OK", c2.cmd("RSET"))
	}
	assert.EqualValues(t, 1, asked.Load())
}
