package dispatcher_test

import (
	"bytes"
	"testing"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// dataEcho is the DataHandler fast path: every piece of input is sent
// back, and what HandleData saw is recorded (copied).
type dataEcho struct {
	dispatcher.DispatcherWithSend
	got    []byte
	reads  int // HandleRead calls: there must be none
	closes int
	lent   []byte // the last p, kept to check the lifetime rule
	nested func(p []byte)
	held   bool // not watched for reading: only a nested read takes its input
}

func (e *dataEcho) Readable() bool { return !e.held && e.DispatcherWithSend.Readable() }

func (e *dataEcho) HandleData(p []byte) {
	e.got = append(e.got, p...)
	e.lent = p
	if e.nested != nil {
		e.nested(p)
	}
	e.Send(p)
}

func (e *dataEcho) HandleRead() { e.reads++ }

func (e *dataEcho) HandleClose() {
	e.closes++
	e.DispatcherWithSend.HandleClose()
}

// TestHandleData: a handler with HandleData gets the input without a
// HandleRead, EOF reaches HandleClose, and the read counts in the channel's
// statistics as a Recv does.
func TestHandleData(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := looptest.NewLoop(t, kind)
		e := &dataEcho{}
		e.Init(e, l.Map())
		peer := testutil.AdoptPair(t, e.Adopt)

		testutil.Write(t, peer, "hello")
		testutil.RunUntil(t, l, 0, func() bool { return len(e.got) == 5 })
		assert.Equal(t, "hello", string(e.got))
		assert.Zero(t, e.reads, "HandleRead is not called for a DataHandler")
		assert.EqualValues(t, 5, e.ChannelStats().BytesIn)

		buf := make([]byte, 16)
		var echoed []byte
		for len(echoed) < 5 {
			testutil.RunFor(t, l, 1, 0)
			got, _, err := testutil.ReadReady(peer, buf)
			require.NoError(t, err)
			echoed = append(echoed, got...)
		}
		assert.Equal(t, "hello", string(echoed))

		require.NoError(t, unix.Shutdown(peer, unix.SHUT_WR))
		testutil.RunUntil(t, l, 0, func() bool { return e.Fd() < 0 })
		assert.Equal(t, 1, e.closes, "EOF goes to HandleClose")
		assert.Equal(t, "hello", string(e.got), "EOF is not handed to HandleData")
	})
}

// TestHandleDataLifetime: the slice HandleData is lent points into the
// loop's buffer and is overwritten after HandleData returns in the debug
// mode (on under -race), so a handler that keeps it sees the poison.
func TestHandleDataLifetime(t *testing.T) {
	if !raceEnabled {
		t.Skip("the lent input is poisoned in the debug mode: run with -race")
	}
	l := looptest.NewLoop(t, 0)
	e := &dataEcho{}
	e.Init(e, l.Map())
	peer := testutil.AdoptPair(t, e.Adopt)
	testutil.Write(t, peer, "abc")
	testutil.RunUntil(t, l, 0, func() bool { return len(e.got) == 3 })
	assert.Equal(t, "###", string(e.lent), "the kept slice was poisoned once HandleData returned")
}

// TestHandleDataNested: a proxy's HandleData reads its other side from
// inside; the nested read must not land in the buffer the outer input is
// still in.
func TestHandleDataNested(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := looptest.NewLoop(t, kind)
		inner := &dataEcho{held: true}
		inner.Init(inner, l.Map())
		innerPeer := testutil.AdoptPair(t, inner.Adopt)

		outer := &dataEcho{}
		outer.Init(outer, l.Map())
		outerPeer := testutil.AdoptPair(t, outer.Adopt)

		var seen []byte
		outer.nested = func(p []byte) {
			before := bytes.Clone(p)
			inner.HandleEvents(poller.Read) // the inner side's read event, nested
			seen = bytes.Clone(p)
			assert.Equal(t, before, seen, "the nested read overwrote the outer input")
		}
		testutil.Write(t, innerPeer, "INNER")
		testutil.Write(t, outerPeer, "outer")
		testutil.RunUntil(t, l, 0, func() bool { return len(outer.got) == 5 && len(inner.got) == 5 })
		assert.Equal(t, "outer", string(seen))
		assert.Equal(t, "INNER", string(inner.got))
	})
}

// TestHandleDataReset: a reset peer goes to HandleClose through the
// same path as Recv's, and HandleData sees nothing.
func TestHandleDataReset(t *testing.T) {
	fd, client := testutil.TCPPair(t)
	l := looptest.NewLoop(t, 0)
	e := &dataEcho{}
	e.Init(e, l.Map())
	require.NoError(t, e.Adopt(fd))
	require.NoError(t, client.SetLinger(0))
	require.NoError(t, client.Close()) // RST
	testutil.RunUntil(t, l, 0, func() bool { return e.Fd() < 0 })
	assert.Equal(t, 1, e.closes)
	assert.Empty(t, e.got)
}
