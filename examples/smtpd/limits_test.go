package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRecipientLimits checks what bounds a session's recipient list: the
// number of recipients (-max-rcpt) and the length of each path (RFC 5321
// §4.5.3.1.3: 256 octets), so that a client cannot make one session hold
// more than max-rcpt × 256 bytes of addresses.
func TestRecipientLimits(t *testing.T) {
	s := startWith(t, 1000, func(c *config) { c.maxRcpt = 3 })
	c := dial(t, s)
	require.Equal(t, "250 "+hostname, c.cmd("HELO c.test"))
	long := "<" + strings.Repeat("a", 250) + "@b.c>" // 256 with the brackets
	assert.Equal(t, "501 Error: path too long", c.cmd("MAIL FROM:<"+strings.Repeat("a", 251)+"@b.c>"))
	require.Equal(t, "250 OK", c.cmd("MAIL FROM:"+long))
	assert.Equal(t, "501 Error: path too long", c.cmd("RCPT TO:<x"+strings.Repeat("a", 250)+"@b.c>"))
	for range 3 {
		assert.Equal(t, "250 OK", c.cmd("RCPT TO:"+long))
	}
	assert.Equal(t, "452 Error: too many recipients", c.cmd("RCPT TO:<d@e.f>"))
	assert.Equal(t, "354 End data with <CR><LF>.<CR><LF>", c.cmd("DATA"))
	assert.Regexp(t, `^250 OK: queued as `, c.cmd("."))
	got := s.messages(t)
	require.Len(t, got, 1)
	assert.Equal(t, long+", "+long+", "+long, got[0].Rcpt)
}

// TestOpenMessageLimit checks -max-data: a session in DATA holds a file
// open, so the messages under way at once are capped — past the cap DATA
// is refused for now — and sessions idling in DATA cannot take every
// descriptor the process has.
func TestOpenMessageLimit(t *testing.T) {
	h := newSMTPHarness(t, 1<<20)
	h.srv.maxOpen = 2
	envelope := "HELO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
	var cs []*pipeClient
	for range 3 {
		c := h.dial(t)
		c.send(envelope, nil)
		cs = append(cs, c)
	}
	cs[0].waitFor("354 ")
	cs[1].waitFor("354 ")
	cs[2].waitFor("451 4.3.2 Too many messages in progress, try again later\r\n")
	assert.Len(t, h.files(t, "tmp"), 2)

	cs[0].send("done\r\n.\r\n", nil)
	cs[0].waitFor("250 OK: queued as ")
	cs[2].send("DATA\r\n", nil)
	cs[2].waitFor("354 ")
	cs[1].close() // abandoned: its slot is free again
	cs[0].send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n", nil)
	cs[0].waitFor("\r\n354 ")
	assert.Len(t, h.files(t, "tmp"), 2)
}
