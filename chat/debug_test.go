package chat_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// keeperChat has the aliasing bug issue 12 describes, a literal port of
// asynchat's self.buffer.append(data): it keeps the slices it is given and
// joins them when the frame ends.
type keeperChat struct {
	chat.AsyncChat
	parts  [][]byte
	frames []string
}

func (c *keeperChat) CollectIncomingData(data []byte) {
	c.parts = append(c.parts, data) // the bug: data is only lent
}

func (c *keeperChat) FoundTerminator() {
	c.frames = append(c.frames, string(bytes.Join(c.parts, nil)))
	c.parts = c.parts[:0]
}

// childEnv, when set in the environment, tells TestCollectPoisoned it runs
// in the child process TestCollectPoisonedEnv started, and what it
// expects: "on" or "off".
const childEnv = "CHAT_TEST_POISON_CHILD"

// TestCollectPoisoned: in the debug mode (a race build, or ASYNCORE_DEBUG
// set), the slice given to CollectIncomingData is overwritten once the call
// returns, so a handler that keeps it gets visibly wrong data — here a
// frame split across two reads — instead of data that is right until the
// buffer happens to be reused. Without the debug mode the same handler
// gets "world\nworld" here: wrong, but plausible-looking data.
func TestCollectPoisoned(t *testing.T) {
	want := chat.DebugCollect()
	switch os.Getenv(childEnv) {
	case "on":
		require.True(t, want, "ASYNCORE_DEBUG=%q", os.Getenv("ASYNCORE_DEBUG"))
	case "off":
		require.False(t, want, "ASYNCORE_DEBUG=%q", os.Getenv("ASYNCORE_DEBUG"))
	}
	forEachBackend(t, func(t *testing.T, e *env) {
		c := &keeperChat{}
		c.Init(c, e.m)
		c.Logger = quiet
		c.SetTerminator(chat.DelimiterString("\n"))
		peer := e.pair(c)
		e.write(peer, []byte("hello "))
		e.runUntil(func() bool { return len(c.parts) == 1 })
		e.write(peer, []byte("world\n"))
		e.runUntil(func() bool { return len(c.frames) == 1 })
		if !want {
			t.Logf("debug mode off: the kept slices read %q", c.frames[0])
			return
		}
		// The last piece is overwritten when its call returns; the first
		// was too, and then perhaps by the next read into the same buffer.
		frame := c.frames[0]
		assert.True(t, strings.HasSuffix(frame, strings.Repeat(string(chat.PoisonByte), len("world"))),
			"the kept slices are overwritten: %q", frame)
		assert.NotContains(t, frame, "hello")
		assert.NotContains(t, frame, "world")
		t.Logf("debug mode on: the kept slices read %q", frame)
	})
}

// TestCollectPoisonedEnv runs TestCollectPoisoned in a child process with
// ASYNCORE_DEBUG set, then set to "0": the variable is read once, when the
// package starts, and "0" or empty means off (unless this is a race build,
// where the mode is always on).
func TestCollectPoisonedEnv(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("in the child")
	}
	for _, tc := range []struct{ value, expect string }{
		{"1", "on"},
		{"yes", "on"},
		{"0", "off"},
		{"", "off"},
	} {
		if tc.expect == "off" && chat.RaceEnabled {
			tc.expect = "on"
		}
		t.Run("ASYNCORE_DEBUG="+tc.value, func(t *testing.T) {
			t.Parallel() // each child process has its own environment
			cmd := exec.Command(os.Args[0], "-test.run=^TestCollectPoisoned$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), "ASYNCORE_DEBUG="+tc.value, childEnv+"="+tc.expect)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.Contains(t, string(out), "--- PASS: TestCollectPoisoned")
		})
	}
}
