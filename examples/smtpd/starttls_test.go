package main

import (
	"bufio"
	"crypto/tls"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
)

const readyTLS = "220 2.0.0 Ready to start TLS"

// startTLSServer is start with a certificate (-tls-cert, -tls-key) and
// edit's changes; it returns the server and the client configuration
// that trusts it.
func startTLSServer(t *testing.T, kind poller.Kind, edit func(*config)) (*running, *tls.Config) {
	t.Helper()
	srvCfg, cliCfg := testutil.TLSCert(t)
	s := startWith(t, 1<<20, func(c *config) {
		c.backend, c.tls = kind, srvCfg
		if edit != nil {
			edit(c)
		}
	})
	return s, cliCfg
}

// upgrade makes the client's connection TLS after the server's 220. The
// server must have sent nothing after that reply in the clear: a byte
// already buffered here would be one.
func (c *client) upgrade(cfg *tls.Config) {
	c.t.Helper()
	require.Zero(c.t, c.r.Buffered(), "the server sent bytes in the clear after %q", readyTLS)
	tc := tls.Client(c.conn, cfg)
	require.NoError(c.t, tc.Handshake())
	c.conn, c.r = tc, bufio.NewReader(tc)
}

// TestStartTLS: with a certificate EHLO offers STARTTLS; after it the
// session starts over (RFC 3207 §4.2: no HELO, no transaction), EHLO no
// longer offers it, a second STARTTLS is out of sequence, and mail is
// delivered with "ESMTPS" in its Received line.
func TestStartTLS(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		s, cfg := startTLSServer(t, kind, nil)
		c := dial(t, s)
		ehlo := c.cmd("EHLO client.test")
		assert.Contains(t, strings.Split(ehlo, "\n"), "250-STARTTLS")
		assert.Equal(t, "501 Syntax: STARTTLS", c.cmd("STARTTLS now"))
		require.Equal(t, "250 OK", c.cmd("MAIL FROM:<clear@example.org>"))
		require.Equal(t, readyTLS, c.cmd("STARTTLS"))
		c.upgrade(cfg)

		assert.Equal(t, needHelo, c.cmd("MAIL FROM:<a@example.org>"), "the EHLO before STARTTLS must be forgotten")
		ehlo = c.cmd("EHLO client.test")
		assert.NotContains(t, ehlo, "STARTTLS", "offered again under TLS")
		assert.Contains(t, ehlo, "250 8BITMIME")
		assert.Equal(t, "503 5.5.1 Error: TLS already active", c.cmd("STARTTLS"))
		assert.Equal(t, "503 Error: need MAIL command", c.cmd("RCPT TO:<b@example.com>"), "the transaction before STARTTLS must be forgotten")
		assert.Regexp(t, `^250 OK: queued as `, c.send("<a@example.org>", "<b@example.com>", "Subject: secret\r\n\r\nover TLS\r\n.\r\n"))
		assert.Equal(t, "221 Bye", c.cmd("QUIT"))

		got := s.messages(t)
		require.Len(t, got, 1)
		assert.Equal(t, stored{From: "<a@example.org>", Rcpt: "<b@example.com>", Body: "Subject: secret\r\n\r\nover TLS\r\n"}, got[0])
		files, err := os.ReadDir(filepath.Join(s.maildir, "new"))
		require.NoError(t, err)
		require.Len(t, files, 1)
		data, err := os.ReadFile(filepath.Join(s.maildir, "new", files[0].Name()))
		require.NoError(t, err)
		assert.Contains(t, string(data), " with ESMTPS id ", "RFC 3848: the Received line says the mail came under STARTTLS")
	})
}

// TestStartTLSWithoutCertificate: without -tls-cert nothing changes:
// STARTTLS is not offered and not implemented.
func TestStartTLSWithoutCertificate(t *testing.T) {
	s := start(t, 0, 1<<20)
	c := dial(t, s)
	assert.NotContains(t, c.cmd("EHLO client.test"), "STARTTLS")
	assert.Equal(t, "502 Error: STARTTLS not implemented", c.cmd("STARTTLS"))
}

// TestStartTLSPipelined is CVE-2011-0411: commands sent in the clear in the
// same packet as STARTTLS, which a man in the middle could have added, must
// not run, neither before the handshake nor after it.
func TestStartTLSPipelined(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		s, cfg := startTLSServer(t, kind, nil)
		c := dial(t, s)
		c.write("EHLO client.test\r\nSTARTTLS\r\nEHLO evil.test\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.com>\r\n")
		assert.Contains(t, c.reply(), "250-STARTTLS")
		require.Equal(t, readyTLS, c.reply())
		c.upgrade(cfg)
		// The next reply is NOOP's: nothing answers the injected commands,
		// and they left no state behind.
		assert.Equal(t, "250 OK", c.cmd("NOOP"))
		assert.Equal(t, needHelo, c.cmd("RCPT TO:<victim@example.com>"))
	})
}

// TestStartTLSHeldDuringCommit: a STARTTLS pipelined after a message is
// held while the message is committed, then answered; the commands held
// after it came in the clear and are dropped like those the chat had not
// framed yet.
func TestStartTLSHeldDuringCommit(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		held := newHeldSync()
		s, cfg := startTLSServer(t, kind, func(c *config) { c.syncFile = held.sync })
		t.Cleanup(held.Release)
		c := dial(t, s)
		require.Contains(t, c.cmd("EHLO client.test"), "250-STARTTLS")
		require.Equal(t, "250 OK", c.cmd("MAIL FROM:<a@example.org>"))
		require.Equal(t, "250 OK", c.cmd("RCPT TO:<b@example.com>"))
		require.Equal(t, "354 End data with <CR><LF>.<CR><LF>", c.cmd("DATA"))
		c.write("Subject: held\r\n\r\nbody\r\n.\r\nSTARTTLS\r\nEHLO evil.test\r\nMAIL FROM:<evil@example.org>\r\n")
		<-held.entered
		held.Release()
		assert.Regexp(t, `^250 OK: queued as `, c.reply())
		require.Equal(t, readyTLS, c.reply())
		c.upgrade(cfg)
		assert.Equal(t, "250 OK", c.cmd("NOOP"))
		assert.Equal(t, needHelo, c.cmd("MAIL FROM:<a@example.org>"))
	})
}

// TestStartTLSNetSMTP: Go's net/smtp client, which upgrades with
// Client.StartTLS when the server offers it, sends a message.
func TestStartTLSNetSMTP(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		s, cfg := startTLSServer(t, kind, nil)
		c, err := smtp.Dial(s.addr)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.Hello("client.test"))
		ok, _ := c.Extension("STARTTLS")
		require.True(t, ok, "STARTTLS not offered")
		require.NoError(t, c.StartTLS(cfg))
		state, ok := c.TLSConnectionState()
		require.True(t, ok)
		assert.GreaterOrEqual(t, state.Version, uint16(tls.VersionTLS12))
		require.NoError(t, c.Mail("a@example.org"))
		require.NoError(t, c.Rcpt("b@example.com"))
		w, err := c.Data()
		require.NoError(t, err)
		_, err = w.Write([]byte("Subject: net/smtp\r\n\r\n.dot\r\nbody\r\n"))
		require.NoError(t, err)
		require.NoError(t, w.Close())
		require.NoError(t, c.Quit())
		got := s.messages(t)
		require.Len(t, got, 1)
		assert.Equal(t, "Subject: net/smtp\r\n\r\n.dot\r\nbody\r\n", got[0].Body)
	})
}
