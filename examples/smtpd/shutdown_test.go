package main

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asyncore-go/asyncore/internal/testutil"

	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
)

// closing is the reply every session gets when the server shuts down
// (RFC 5321 §3.8).
const closing = "421 " + hostname + " Service closing transmission channel"

// TestGracefulShutdown cancels serve's context with three sessions open:
// one idle, one in the middle of DATA, and one whose message is being
// synced to disk. The idle one gets 421 and EOF; the one in DATA gets 421
// and EOF, and its file is removed; the listener refuses new connections;
// the message being committed is delivered and its 250 sent before the
// 421; and serve returns once the sessions have closed — the grace period
// is longer than the test's hang guard, so only the map emptying can end
// it.
func TestGracefulShutdown(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		held := newHeldSync()
		s := startWith(t, 1<<20, func(c *config) {
			c.syncFile, c.backend, c.grace = held.sync, kind, 2*testutil.HangGuard
		})
		t.Cleanup(held.Release)

		committing := dial(t, s)
		require.Equal(t, "250 "+hostname, committing.cmd("HELO a.test"))
		require.Equal(t, "250 OK", committing.cmd("MAIL FROM:<a@example.org>"))
		require.Equal(t, "250 OK", committing.cmd("RCPT TO:<b@example.com>"))
		require.Equal(t, "354 End data with <CR><LF>.<CR><LF>", committing.cmd("DATA"))
		committing.write("Subject: kept\r\n\r\nbody\r\n.\r\nNOOP\r\n")
		<-held.entered // the message is being synced

		inData := dial(t, s)
		require.Equal(t, "250 "+hostname, inData.cmd("HELO c.test"))
		require.Equal(t, "250 OK", inData.cmd("MAIL FROM:<c@example.org>"))
		require.Equal(t, "250 OK", inData.cmd("RCPT TO:<d@example.com>"))
		require.Equal(t, "354 End data with <CR><LF>.<CR><LF>", inData.cmd("DATA"))
		inData.write("Subject: cut\r\n\r\nhalf a line")

		idle := dial(t, s)
		require.Equal(t, "250 "+hostname, idle.cmd("HELO e.test"))

		stopped := make(chan struct{})
		go func() { defer close(stopped); s.stop() }()
		assert.Equal(t, closing, idle.reply())
		idle.expectEOF()
		assert.Equal(t, closing, inData.reply())
		inData.expectEOF()
		if c, err := net.Dial("tcp", s.addr); err == nil {
			_ = c.Close()
			t.Fatal("a connection was accepted after the shutdown began")
		}

		held.Release()
		assert.Regexp(t, `^250 OK: queued as `, committing.reply())
		assert.Equal(t, closing, committing.reply(), "the NOOP after the message is not answered")
		committing.expectEOF()
		for _, c := range []*client{committing, inData, idle} {
			require.NoError(t, c.conn.Close())
		}
		<-stopped // testutil.Serve's stop fails the test if serve hangs

		msgs := s.messages(t) // and nothing left in tmp/
		require.Len(t, msgs, 1)
		assert.Equal(t, "<a@example.org>", msgs[0].From)
		assert.Equal(t, "Subject: kept\r\n\r\nbody\r\n", msgs[0].Body)
	})
}
