package chat_test

import (
	"errors"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// brokenProducer yields its chunks, then ends with an error, as a file
// producer does when a read fails.
type brokenProducer struct {
	chunks []string
	err    error
}

func (p *brokenProducer) More() []byte {
	if len(p.chunks) == 0 {
		return nil
	}
	c := p.chunks[0]
	p.chunks = p.chunks[1:]
	return []byte(c)
}

func (p *brokenProducer) Err() error {
	if len(p.chunks) == 0 {
		return p.err
	}
	return nil
}

type errRecorder struct {
	chat.AsyncChat
	errs []error
}

func (r *errRecorder) HandleError(err error) {
	r.errs = append(r.errs, err)
	_ = r.Close()
}

// TestProducerErrorClosesConnection: when a producer ends with an error,
// the bytes queued before it and its own output are delivered, nothing
// queued after it is sent (it would be framed as if the reply were whole),
// HandleError receives the cause, and the connection closes.
func TestProducerErrorClosesConnection(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		l := looptest.NewLoop(t, kind)
		pair, err := testutil.NewSocketpair()
		require.NoError(t, err)
		peer := pair[1]
		t.Cleanup(func() { _ = unix.Close(peer) })
		r := &errRecorder{}
		r.Init(r, l.Map())
		require.NoError(t, r.Adopt(pair[0]))

		boom := errors.New("read failed halfway")
		r.Push([]byte("A"))
		r.PushWithProducer(&brokenProducer{chunks: []string{"b", "c"}, err: boom})
		r.Push([]byte("D"))

		testutil.RunUntil(t, l, 5*time.Second, func() bool { return r.Fd() < 0 })
		require.Len(t, r.errs, 1)
		assert.ErrorIs(t, r.errs[0], boom)

		var got []byte
		buf := make([]byte, 64)
		for {
			n, err := unix.Read(peer, buf)
			if n <= 0 || err != nil {
				break
			}
			got = append(got, buf[:n]...)
		}
		assert.Equal(t, "Abc", string(got), "nothing after the failed producer may be sent")
	})
}
