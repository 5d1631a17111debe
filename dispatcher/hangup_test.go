package dispatcher_test

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// pausedReader does not want to read (as under back-pressure) but reads
// when asked, and records the order of events.
type pausedReader struct {
	dispatcher.Dispatcher
	got      []byte
	closedAt int // len(got) when HandleClose ran; -1 before
	closes   int
	eofSeen  bool
}

func (p *pausedReader) Readable() bool { return false }
func (p *pausedReader) Writable() bool { return true }
func (p *pausedReader) HandleWrite()   {}

func (p *pausedReader) HandleRead() {
	var buf [4096]byte
	if n, _ := p.Recv(buf[:]); n > 0 {
		p.got = append(p.got, buf[:n]...)
	}
}

func (p *pausedReader) HandleClose() {
	p.closes++
	p.closedAt, p.eofSeen = len(p.got), p.Hooks().EOF()
	_ = p.Close()
}

// TestHangupDeliversBufferedInput: we shut down our writing side, the peer
// sends data and closes, and the kernel reports a hang-up while the data is
// still buffered — to a dispatcher that is not reading just now. The data
// must be delivered before HandleClose, which then sees EOF; closing at the
// hang-up would drop it.
func TestHangupDeliversBufferedInput(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		if kind == poller.Select {
			t.Skip("select(2) has no hang-up condition: a socket not watched for reading cannot see the peer leave")
		}
		l := looptest.NewLoop(t, kind)
		fd, client := testutil.TCPPair(t)
		p := &pausedReader{closedAt: -1}
		p.Init(p, l.Map())
		require.NoError(t, p.Adopt(fd))

		require.NoError(t, unix.Shutdown(fd, unix.SHUT_WR))
		payload := bytes.Repeat([]byte("0123456789abcdef"), 1024) // 16 KiB: fits the receive buffer, so the FIN arrives behind it
		require.NoError(t, client.SetDeadline(time.Now().Add(5*time.Second)))
		_, err := client.Write(payload)
		require.NoError(t, err)
		_, err = io.Copy(io.Discard, client) // our FIN arrives: EOF
		require.NoError(t, err)
		require.NoError(t, client.Close())

		testutil.RunUntil(t, l, 5*time.Second, func() bool { return p.closes > 0 })
		assert.Equal(t, 1, p.closes)
		assert.Equal(t, len(payload), p.closedAt, "every buffered byte must be read before HandleClose")
		assert.True(t, bytes.Equal(payload, p.got))
		assert.True(t, p.eofSeen, "the close follows the EOF")
	})
}

// TestWithSendFlushesAfterEOF: a client sends a request and half-closes
// (nc -N); the reply still queued when the EOF arrives is written in full
// before the close, instead of being dropped as asyncore does.
func TestWithSendFlushesAfterEOF(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := looptest.NewLoop(t, kind)
		fd, client := testutil.TCPPair(t)
		require.NoError(t, unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096))
		e := &bigReplier{reply: bytes.Repeat([]byte("r"), 1<<20)}
		e.Init(e, l.Map())
		require.NoError(t, e.Adopt(fd))

		require.NoError(t, client.SetDeadline(time.Now().Add(10*time.Second)))
		_, err := client.Write([]byte("GO"))
		require.NoError(t, err)
		require.NoError(t, client.CloseWrite())

		got := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(client) // until the server's close
			got <- b
		}()
		var received []byte
		testutil.RunUntil(t, l, 10*time.Second, func() bool {
			select {
			case received = <-got:
				return true
			default:
				return false
			}
		})
		assert.Equal(t, len(e.reply), len(received), "the whole reply must arrive before EOF")
		assert.Equal(t, -1, e.Fd(), "closed once flushed")
	})
}

// bigReplier answers the first bytes it reads with a reply too large for the
// socket buffer, so most of it is still queued when the client's EOF comes.
type bigReplier struct {
	dispatcher.DispatcherWithSend
	reply   []byte
	replied bool
}

func (b *bigReplier) HandleRead() {
	var buf [64]byte
	if n, _ := b.Recv(buf[:]); n > 0 && !b.replied {
		b.replied = true
		b.Send(b.reply)
	}
}
