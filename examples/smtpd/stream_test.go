package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/loop"
)

// pipeClient is a client of a harness's server over a socket pair; the
// test goroutine runs the loop, so it can look at the server between any
// two events.
type pipeClient struct {
	t   testing.TB
	h   *smtpHarness
	fd  int
	out []byte // everything the server wrote so far
}

// dialHarness connects a new session and runs the loop once (the greeting).
func (h *smtpHarness) dial(t testing.TB) *pipeClient {
	t.Helper()
	fds, err := testutil.NewSocketpair()
	require.NoError(t, err)
	c := &pipeClient{t: t, h: h, fd: fds[1]}
	t.Cleanup(c.close)
	h.srv.HandleAccepted(fds[0], nil)
	c.pump()
	return c
}

// pump runs the loop once without waiting and reads what the server sent.
func (c *pipeClient) pump() {
	c.t.Helper()
	require.NoError(c.t, c.h.l.RunOnce(0))
	c.read()
}

// read takes what the server has written so far.
func (c *pipeClient) read() {
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(c.fd, buf)
		if n <= 0 || err != nil {
			return
		}
		c.out = append(c.out, buf[:n]...)
	}
}

// send writes data, running the loop between writes, and calls each, if
// not nil, after every run of the loop.
func (c *pipeClient) send(data string, each func()) {
	c.t.Helper()
	for len(data) > 0 {
		n, err := unix.Write(c.fd, []byte(data))
		if n > 0 {
			data = data[n:]
		}
		if err != nil && !errors.Is(err, unix.EAGAIN) {
			c.t.Fatalf("write: %v", err)
		}
		c.pump()
		if each != nil {
			each()
		}
	}
}

// waitFor runs the loop until the server's output contains want.
func (c *pipeClient) waitFor(want string) {
	c.t.Helper()
	testutil.RunUntil(c.t, c.h.l, 10*time.Second, func() bool {
		c.read()
		return bytes.Contains(c.out, []byte(want))
	})
}

// close closes the client's end; the server sees EOF.
func (c *pipeClient) close() {
	if c.fd >= 0 {
		_ = unix.Close(c.fd)
		c.fd = -1
	}
}

// files lists the names in the harness's maildir subdirectory sub.
func (h *smtpHarness) files(t testing.TB, sub string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(h.srv.box.dir, sub))
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// session returns the one session the harness's map holds.
func (h *smtpHarness) session(t testing.TB) *session {
	t.Helper()
	var found *session
	h.m.Range(func(_ int, ch loop.Channel) bool {
		if s, ok := ch.(*session); ok {
			found = s
		}
		return true
	})
	require.NotNil(t, found, "no session")
	return found
}

// stuffedBody returns a message of about n bytes as sent (dot-stuffed, with
// a leading dot on every seventh line) and as it must be stored.
func stuffedBody(n int) (wire, stored string) {
	var w, s strings.Builder
	for i := 0; w.Len() < n; i++ {
		line := fmt.Sprintf("line %07d %s", i, strings.Repeat("m", 70))
		if i%7 == 0 {
			line = "." + line
			w.WriteString(".")
		}
		w.WriteString(line + "\r\n")
		s.WriteString(line + "\r\n")
	}
	return w.String(), s.String()
}

// maxSessionBuffer is what a session in DATA may hold in memory: one read's
// worth of message at most, whatever the size of the message.
const maxSessionBuffer = 64 << 10

// TestDataStreamedToDisk checks that a message is written to its file in
// tmp/ as it arrives, not held in memory, and that the file is removed when
// the message is abandoned: the connection closes, the frame times out, or
// the message goes over the size limit.
func TestDataStreamedToDisk(t *testing.T) {
	const size = 8 << 20
	h := newSMTPHarness(t, size)
	envelope := "HELO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
	wire, stored := stuffedBody(4 << 20)

	peak := 0
	measure := func() { peak = max(peak, h.l.Stats().InBuffered) }

	// Delivered: the memory held stays small all along, and the file
	// holds the message exactly.
	c := h.dial(t)
	c.send(envelope, nil)
	require.Contains(t, string(c.out), "354 ")
	for i := 0; i < len(wire); i += 64 << 10 {
		c.send(wire[i:min(i+64<<10, len(wire))], measure)
	}
	assert.LessOrEqual(t, peak, maxSessionBuffer, "bytes held in memory during a 4 MiB DATA")
	assert.Len(t, h.files(t, "tmp"), 1, "the message is not being written to tmp/")
	c.send(".\r\n", measure)
	c.waitFor("250 OK: queued as ")
	assert.Empty(t, h.files(t, "tmp"))
	news := h.files(t, "new")
	require.Len(t, news, 1)
	data, err := os.ReadFile(filepath.Join(h.srv.box.dir, "new", news[0]))
	require.NoError(t, err)
	for range 4 { // the trace lines
		_, data, _ = bytes.Cut(data, crlf)
	}
	assert.True(t, string(data) == stored, "the stored message differs from the one sent (%d bytes, want %d)", len(data), len(stored))
	require.NoError(t, os.Remove(filepath.Join(h.srv.box.dir, "new", news[0])))
	c.close()
	testutil.RunUntil(t, h.l, 10*time.Second, func() bool { return h.m.Len() == 0 })

	// Abandoned: the client goes away in the middle of the message.
	c = h.dial(t)
	c.send(envelope+wire[:1<<20], measure)
	assert.Len(t, h.files(t, "tmp"), 1)
	c.close()
	testutil.RunUntil(t, h.l, 10*time.Second, func() bool { return h.m.Len() == 0 })
	assert.Empty(t, h.files(t, "tmp"), "the file of an abandoned message is left in tmp/")

	// Abandoned: the line under way does not end within FrameTimeout.
	c = h.dial(t)
	s := h.session(t)
	c.send(envelope+wire[:100<<10]+"no end to this line", measure)
	assert.Len(t, h.files(t, "tmp"), 1)
	s.FrameTimeout = time.Millisecond
	s.Hooks().ResetTimeouts()
	testutil.RunUntil(t, h.l, 10*time.Second, func() bool { return h.m.Len() == 0 })
	assert.Empty(t, h.files(t, "tmp"), "the file of a timed-out message is left in tmp/")

	// Refused: over the size limit the file goes at once, and the rest
	// of the message is only counted.
	c = h.dial(t)
	c.send(envelope, nil)
	over, _ := stuffedBody(size + 1<<20) // more than the socket buffers hold
	c.send(over, measure)
	assert.Empty(t, h.files(t, "tmp"), "the file of a message over the limit is kept")
	c.send(".\r\nNOOP\r\n", measure)
	c.waitFor("552 Error: Too much mail data\r\n250 OK\r\n")
	assert.Empty(t, h.files(t, "new"))
	assert.LessOrEqual(t, peak, maxSessionBuffer)
}
