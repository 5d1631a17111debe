package chat_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// peerCaused is the shared contract: an error is caused by the peer when
// errors.As finds this interface in its chain and PeerCaused says so. The
// default HandleError logs such errors quietly rather than as a bug.
type peerCaused interface{ PeerCaused() bool }

func isPeerCaused(err error) bool {
	var pc peerCaused
	return errors.As(err, &pc) && pc.PeerCaused()
}

// TestPeerCausedErrors: the limit and timeout errors are peer-caused, also
// when wrapped, and stay comparable with == and errors.Is; each is only
// itself.
func TestPeerCausedErrors(t *testing.T) {
	all := []error{chat.ErrLineTooLong, chat.ErrMessageTooLarge, chat.ErrOutputLimit, chat.ErrFrameTimeout}
	for i, err := range all {
		t.Run(err.Error(), func(t *testing.T) {
			assert.True(t, isPeerCaused(err))
			wrapped := fmt.Errorf("serving 127.0.0.1:1234: %w", err)
			assert.True(t, isPeerCaused(wrapped))
			assert.ErrorIs(t, wrapped, err)
			assert.True(t, err == all[i], "== keeps working")
			for j, other := range all {
				if j != i {
					assert.NotErrorIs(t, wrapped, other)
				}
			}
		})
	}
	assert.False(t, isPeerCaused(errors.New("chat: something else")))
}

// TestProducerErrorNotPeerCaused: a producer that fails (a file that
// cannot be read) is our side's problem, not the peer's.
func TestProducerErrorNotPeerCaused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c := &pushChat{}
		c.Init(c, e.m)
		c.Logger = quiet
		_ = e.pair(c)
		c.PushWithProducer(&brokenProducer{chunks: []string{"a"}, err: errors.New("read failed")})
		e.runUntil(func() bool { return c.Fd() < 0 })
		require.Len(t, c.errs, 1)
		assert.False(t, isPeerCaused(c.errs[0]), "%v", c.errs[0])
	})
}
