package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asyncore-go/asyncore/internal/testutil"

	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
)

const hostname = "mx.test"

// running is an SMTP server running in the background for one test.
type running struct {
	addr    string
	maildir string
	stop    func() // stops the server before the test ends; see testutil.Serve
}

// withConfig is serve with cfg, for testutil.Serve.
func withConfig(cfg config) testutil.ServeFunc {
	return func(ctx context.Context, ready func(net.Addr)) error {
		return serve(ctx, cfg, ready)
	}
}

// start runs serve on 127.0.0.1:0 with a fresh maildir and the given size
// limit, and waits until it listens. The server is stopped when the test
// ends, if the test has not stopped it.
func start(t *testing.T, kind poller.Kind, size int) *running {
	t.Helper()
	maildir := t.TempDir()
	cfg := config{addr: "127.0.0.1:0", backend: kind, maildir: maildir, size: size, hostname: hostname}
	addr, stop := testutil.Serve(t, withConfig(cfg))
	return &running{addr: addr.String(), maildir: maildir, stop: stop}
}

// stored is a message as found in maildir/new: the envelope from the
// header lines the server added, and the rest of the file.
type stored struct {
	From, Rcpt, Body string
}

// traceHeaders are the lines the server writes above every message.
var traceHeaders = []string{"Received: from ", "X-Peer: 127.0.0.1:", "X-Mail-From: ", "X-Rcpt-To: "}

// messages reads every message in maildir/new, and checks that tmp/ holds
// nothing.
func (s *running) messages(t *testing.T) []stored {
	t.Helper()
	tmp, err := os.ReadDir(filepath.Join(s.maildir, "tmp"))
	require.NoError(t, err)
	assert.Empty(t, tmp, "files left in maildir/tmp")

	entries, err := os.ReadDir(filepath.Join(s.maildir, "new"))
	require.NoError(t, err)
	var out []stored
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(s.maildir, "new", e.Name()))
		require.NoError(t, err)
		rest := string(data)
		var values []string
		for _, prefix := range traceHeaders {
			line, after, ok := strings.Cut(rest, "\r\n")
			require.True(t, ok, "%s: header lines end early", e.Name())
			require.True(t, strings.HasPrefix(line, prefix), "%s: want %q, have %q", e.Name(), prefix, line)
			values = append(values, strings.TrimPrefix(line, prefix))
			rest = after
		}
		assert.Contains(t, values[0], " by "+hostname+" (asyncore-go smtpd) with ")
		assert.Contains(t, values[0], " id "+e.Name()+"; ")
		out = append(out, stored{From: values[2], Rcpt: values[3], Body: rest})
	}
	return out
}

// client speaks SMTP over a plain TCP connection, so that the tests see the
// exact replies.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

// dial connects to s and reads the greeting.
func dial(t *testing.T, s *running) *client {
	t.Helper()
	conn, err := net.Dial("tcp", s.addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(testutil.HangGuard)))
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	require.Equal(t, "220 "+hostname+" asyncore-go smtpd", c.reply())
	return c
}

// write sends raw bytes.
func (c *client) write(data string) {
	c.t.Helper()
	_, err := io.WriteString(c.conn, data)
	require.NoError(c.t, err)
}

// reply reads one reply; the lines of a multi-line reply are joined by "\n".
func (c *client) reply() string {
	c.t.Helper()
	var lines []string
	for {
		line, err := c.r.ReadString('\n')
		require.NoError(c.t, err, "reading a reply after %q", lines)
		require.True(c.t, strings.HasSuffix(line, "\r\n"), "reply line %q does not end in CRLF", line)
		line = strings.TrimSuffix(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			return strings.Join(lines, "\n")
		}
	}
}

// cmd sends one command line and returns the reply.
func (c *client) cmd(line string) string {
	c.t.Helper()
	c.write(line + "\r\n")
	return c.reply()
}

// expectEOF checks that the server has closed the connection.
func (c *client) expectEOF() {
	c.t.Helper()
	rest, err := io.ReadAll(c.r)
	assert.NoError(c.t, err)
	assert.Empty(c.t, string(rest), "bytes after the last reply")
}

// send runs one transaction whose body is already dot-stuffed and ends in
// ".\r\n", and returns the final reply.
func (c *client) send(from, to, wire string) string {
	c.t.Helper()
	require.Equal(c.t, "250 OK", c.cmd("MAIL FROM:"+from))
	require.Equal(c.t, "250 OK", c.cmd("RCPT TO:"+to))
	require.Equal(c.t, "354 End data with <CR><LF>.<CR><LF>", c.cmd("DATA"))
	c.write(wire)
	return c.reply()
}

// tricky is a body that exercises transparency: lines that are, or start
// with, dots (net/smtp stuffs them, the server must unstuff them), 8-bit
// bytes, a bare CR and an empty line.
const tricky = "Subject: dots\r\n\r\n" +
	".\r\n" +
	"..\r\n" +
	".leading dot\r\n" +
	"..two dots\r\n" +
	"a line . with a dot\r\n" +
	". \r\n" +
	"8-bit: caf\xc3\xa9 \xff\xfe\x80\x00\r\n" +
	"bare CR \r here\r\n" +
	"\r\n" +
	".\r\n" +
	"last line\r\n"

// bigBody is about 300 KiB, more than one read, with a dot-leading line
// every tenth line.
func bigBody() string {
	var b strings.Builder
	b.WriteString("Subject: big\r\n\r\n")
	for i := 0; b.Len() < 300<<10; i++ {
		if i%10 == 0 {
			b.WriteString(".")
		}
		fmt.Fprintf(&b, "line %06d %s\r\n", i, strings.Repeat("x", 80))
	}
	return b.String()
}

func TestNetSMTPClient(t *testing.T) {
	big := bigBody()
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		s := start(t, kind, 1<<20)
		var want []stored

		// SendMail, from several clients at once.
		const clients, perClient = 4, 3
		var wg sync.WaitGroup
		errs := make(chan error, clients*perClient)
		for i := range clients {
			for j := range perClient {
				want = append(want, stored{
					From: fmt.Sprintf("<sender%d@example.org>", i),
					Rcpt: fmt.Sprintf("<rcpt%d.%d@example.com>", i, j),
					Body: fmt.Sprintf("Subject: message %d.%d\r\n\r\nHello \xe2\x9c\x89 %d.%d\r\n", i, j, i, j),
				})
			}
			wg.Go(func() {
				for j := range perClient {
					body := fmt.Sprintf("Subject: message %d.%d\r\n\r\nHello \xe2\x9c\x89 %d.%d\r\n", i, j, i, j)
					err := smtp.SendMail(s.addr, nil, fmt.Sprintf("sender%d@example.org", i),
						[]string{fmt.Sprintf("rcpt%d.%d@example.com", i, j)}, []byte(body))
					if err != nil {
						errs <- fmt.Errorf("client %d, message %d: %w", i, j, err)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			assert.NoError(t, err)
		}

		// One session, several transactions.
		c, err := smtp.Dial(s.addr)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.Hello("client.test"))
		ok, param := c.Extension("SIZE")
		assert.True(t, ok)
		assert.Equal(t, "1048576", param)
		ok, _ = c.Extension("8BITMIME")
		assert.True(t, ok)

		require.NoError(t, c.Mail("abandoned@example.org"))
		require.NoError(t, c.Rcpt("nobody@example.com"))
		require.NoError(t, c.Reset()) // RSET mid-transaction: nothing is delivered
		require.Error(t, c.Rcpt("nobody@example.com"), "RCPT after RSET needs a new MAIL")

		data := func(from string, rcpts []string, body string) {
			t.Helper()
			require.NoError(t, c.Mail(from))
			for _, r := range rcpts {
				require.NoError(t, c.Rcpt(r))
			}
			w, err := c.Data()
			require.NoError(t, err)
			_, err = io.WriteString(w, body)
			require.NoError(t, err)
			require.NoError(t, w.Close())
		}
		data("dots@example.org", []string{"a@example.com", "b@example.com", "c@example.com"}, tricky)
		want = append(want, stored{"<dots@example.org>", "<a@example.com>, <b@example.com>, <c@example.com>", tricky})
		data("first@example.org", []string{"a@example.com"}, ".\r\nthe first line was a dot\r\n")
		want = append(want, stored{"<first@example.org>", "<a@example.com>", ".\r\nthe first line was a dot\r\n"})
		data("nonl@example.org", []string{"a@example.com"}, "no newline at the end")
		want = append(want, stored{"<nonl@example.org>", "<a@example.com>", "no newline at the end\r\n"})
		data("", []string{"empty@example.com"}, "") // null sender; net/smtp sends "\r\n.\r\n": one empty line
		want = append(want, stored{"<>", "<empty@example.com>", "\r\n"})
		data("big@example.org", []string{"a@example.com"}, big)
		want = append(want, stored{"<big@example.org>", "<a@example.com>", big})

		require.NoError(t, c.Noop())
		require.NoError(t, c.Quit())

		got := s.messages(t)
		assert.Equal(t, len(want), len(got))
		assert.ElementsMatch(t, want, got)
	})
}

func TestProtocol(t *testing.T) {
	steps := []struct{ send, want string }{
		// Sequence: nothing before HELO/EHLO.
		{"MAIL FROM:<a@example.org>", "503 Error: send HELO first"},
		{"RCPT TO:<b@example.com>", "503 Error: send HELO first"},
		{"DATA", "503 Error: send HELO first"},
		{"HELO", "501 Syntax: HELO hostname"},
		{"HELO client.test", "250 " + hostname},
		{"MAIL FROM:<a@example.org> SIZE=10", "501 Syntax: MAIL FROM:<address>"}, // parameters need EHLO
		{"EHLO", "501 Syntax: EHLO hostname"},
		{"EHLO client.test", "250-" + hostname + "\n250-SIZE 1000\n250 8BITMIME"},
		{"ehlo again.test", "250-" + hostname + "\n250-SIZE 1000\n250 8BITMIME"}, // RFC 5321 §4.1.4

		// Sequence within a transaction.
		{"RCPT TO:<b@example.com>", "503 Error: need MAIL command"},
		{"DATA", "503 Error: need MAIL command"},
		{"MAIL FROM:<a@example.org>", "250 OK"},
		{"MAIL FROM:<a@example.org>", "503 Error: nested MAIL command"},
		{"DATA", "503 Error: need RCPT command"},
		{"RCPT TO:<b@example.com>", "250 OK"},
		{"DATA now", "501 Syntax: DATA"},
		{"RSET now", "501 Syntax: RSET"},
		{"RSET", "250 OK"},
		{"RCPT TO:<b@example.com>", "503 Error: need MAIL command"},

		// MAIL and RCPT syntax.
		{"MAIL", "501 Syntax: MAIL FROM:<address> [SP <mail-parameters>]"},
		{"MAIL FROM:", "501 Syntax: MAIL FROM:<address> [SP <mail-parameters>]"},
		{"MAIL TO:<a@example.org>", "501 Syntax: MAIL FROM:<address> [SP <mail-parameters>]"},
		{"MAIL FROM:<a@example.org", "501 Syntax: MAIL FROM:<address> [SP <mail-parameters>]"},
		{"MAIL FROM:<a b@example.org>", "501 Syntax: MAIL FROM:<address> [SP <mail-parameters>]"},
		{"MAIL FROM:<a@example.org>SIZE=1", "501 Syntax: MAIL FROM:<address> [SP <mail-parameters>]"},
		{"MAIL FROM:<a@example.org> SIZE=ten", "501 Syntax: MAIL FROM:<address> [SP <mail-parameters>]"},
		{"MAIL FROM:<a@example.org> SIZE=-1", "501 Syntax: MAIL FROM:<address> [SP <mail-parameters>]"},
		{"MAIL FROM:<a@example.org> BODY=9BIT", "501 Error: BODY can only be one of 7BIT, 8BITMIME"},
		{"MAIL FROM:<a@example.org> AUTH=<>", "555 MAIL FROM parameters not recognized or not implemented"},
		{"MAIL FROM:<a@example.org> SIZE=1001", "552 Error: message size exceeds fixed maximum message size"},
		{"MAIL FROM:<a@example.org> SIZE=99999999999999999999999", "552 Error: message size exceeds fixed maximum message size"},
		{"mail from: a@example.org size=1000 body=8bitmime", "250 OK"}, // no brackets, any case
		{"RCPT", "501 Syntax: RCPT TO:<address> [SP <mail-parameters>]"},
		{"RCPT TO:", "501 Syntax: RCPT TO:<address> [SP <mail-parameters>]"},
		{"RCPT TO:<>", "501 Syntax: RCPT TO:<address> [SP <mail-parameters>]"},
		{"RCPT TO:<b@example.com> NOTIFY=NEVER", "555 RCPT TO parameters not recognized or not implemented"},
		{"RCPT TO:<b@example.com>", "250 OK"},
		{"RSET", "250 OK"},
		{"MAIL FROM:<>", "250 OK"}, // the null reverse-path
		{"RSET", "250 OK"},

		// The other commands.
		{"NOOP", "250 OK"},
		{"noop with an argument", "250 OK"},
		{"VRFY", "501 Syntax: VRFY <address>"},
		{"VRFY postmaster", "252 Cannot VRFY user, but will accept message and attempt delivery"},
		{"EXPN staff", "502 Error: EXPN not implemented"},
		{"TURN", "502 Error: TURN not implemented"},
		{"STARTTLS", "502 Error: STARTTLS not implemented"},
		{"HELP", "214 Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP"},
		{"HELP mail", "214 Syntax: MAIL FROM:<address> [SIZE=n] [BODY=7BIT|8BITMIME]"},
		{"HELP BOGUS", "501 Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP"},
		{"BOGUS", `500 Error: command "BOGUS" not recognized`},
		{"", "500 Error: bad syntax"},
		{"NOOP \rX", "500 Error: bad syntax"},
		{"HELO x\ny", "500 Error: bad syntax"},
		{"NOOP " + strings.Repeat("x", 505), "250 OK"},                   // 512 bytes with the CRLF
		{"NOOP " + strings.Repeat("x", 506), "500 Error: line too long"}, // 513
		{"NOOP", "250 OK"},
		{strings.Repeat("y", 100<<10), "500 Error: line too long"}, // past the chat's default MaxLine too
		{"NOOP", "250 OK"},
	}
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		s := start(t, kind, 1000)
		c := dial(t, s)
		for _, step := range steps {
			name := step.send
			if len(name) > 60 {
				name = name[:60] + "…"
			}
			assert.Equal(t, step.want, c.cmd(step.send), "reply to %q", name)
		}
		assert.Equal(t, "221 Bye", c.cmd("QUIT"))
		c.expectEOF()
		assert.Empty(t, s.messages(t))
	})
}

func TestData(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		s := start(t, kind, 1<<20)
		c := dial(t, s)
		require.Equal(t, "250 "+hostname, c.cmd("HELO client.test"))
		var want []stored

		// A message that ends at once: Python's smtpd, whose terminator
		// was "\r\n.\r\n", never saw the end of this one.
		assert.Regexp(t, `^250 OK: queued as \S+$`, c.send("<a@example.org>", "<b@example.com>", ".\r\n"))
		want = append(want, stored{"<a@example.org>", "<b@example.com>", ""})

		// Lines starting with dots, unstuffed; the first one too.
		assert.Regexp(t, `^250 OK`, c.send("<a@example.org>", "<b@example.com>", "..\r\n...x\r\n.y\r\nz.\r\n.\r\n"))
		want = append(want, stored{"<a@example.org>", "<b@example.com>", ".\r\n..x\r\ny\r\nz.\r\n"})

		// A whole transaction written one byte at a time, so that every
		// CRLF and the final ".\r\n" are split across reads.
		session := "MAIL FROM:<slow@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n" +
			"Subject: slow\r\n\r\n..stuffed\r\n\r\n.\r\nNOOP\r\n"
		replies := make(chan []string, 1)
		go func() {
			var rs []string
			for range 5 {
				line, err := c.r.ReadString('\n')
				if err != nil {
					break
				}
				rs = append(rs, strings.TrimSuffix(line, "\r\n"))
			}
			replies <- rs
		}()
		for i := range len(session) {
			_, err := c.conn.Write([]byte{session[i]})
			require.NoError(t, err)
		}
		rs := <-replies
		require.Len(t, rs, 5)
		assert.Equal(t, "250 OK", rs[0])
		assert.Equal(t, "250 OK", rs[1])
		assert.Equal(t, "354 End data with <CR><LF>.<CR><LF>", rs[2])
		assert.Regexp(t, `^250 OK: queued as `, rs[3])
		assert.Equal(t, "250 OK", rs[4])
		want = append(want, stored{"<slow@example.org>", "<b@example.com>", "Subject: slow\r\n\r\n.stuffed\r\n\r\n"})

		// Commands pipelined in one write, and commands that arrive with
		// the end of a message: each is framed in the state its
		// predecessor left.
		c.write("MAIL FROM:<p@example.org>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n")
		assert.Equal(t, "250 OK", c.reply())
		assert.Equal(t, "250 OK", c.reply())
		assert.Equal(t, "250 OK", c.reply())
		assert.Equal(t, "354 End data with <CR><LF>.<CR><LF>", c.reply())
		c.write("MAIL FROM:<not@a.command>\r\n.\r\nRCPT TO:<b@example.com>\r\nNOOP\r\n")
		assert.Regexp(t, `^250 OK: queued as `, c.reply())
		assert.Equal(t, "503 Error: need MAIL command", c.reply())
		assert.Equal(t, "250 OK", c.reply())
		want = append(want, stored{"<p@example.org>", "<b@example.com>, <c@example.com>", "MAIL FROM:<not@a.command>\r\n"})

		// QUIT: the reply, then the close; what follows QUIT is ignored.
		c.write("QUIT\r\nNOOP\r\n")
		assert.Equal(t, "221 Bye", c.reply())
		c.expectEOF()

		assert.ElementsMatch(t, want, s.messages(t))
	})
}

func TestSizeLimit(t *testing.T) {
	const limit = 1000
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		s := start(t, kind, limit)
		c := dial(t, s)
		require.Equal(t, "250-"+hostname+"\n250-SIZE 1000\n250 8BITMIME", c.cmd("EHLO client.test"))
		var want []stored

		// SIZE announced above the limit: refused before DATA.
		assert.Equal(t, "552 Error: message size exceeds fixed maximum message size", c.cmd("MAIL FROM:<a@example.org> SIZE=1001"))

		// Exactly the limit, counted after unstuffing: accepted.
		exact := strings.Repeat("x", limit-2) + "\r\n"
		assert.Regexp(t, `^250 OK`, c.send("<a@example.org> SIZE=1000", "<b@example.com>", exact+".\r\n"))
		want = append(want, stored{"<a@example.org>", "<b@example.com>", exact})
		stuffed := strings.Repeat(".."+strings.Repeat("s", 97)+"\r\n", 10) // 1010 bytes on the wire, 1000 stored
		assert.Regexp(t, `^250 OK`, c.send("<a@example.org>", "<b@example.com>", stuffed+".\r\n"))
		want = append(want, stored{"<a@example.org>", "<b@example.com>", strings.ReplaceAll(stuffed, "..", ".")})

		// One byte over, and far over: 552 at the end of the data, the
		// transaction is over, and the connection goes on.
		for _, n := range []int{limit + 1, 5 << 20} {
			body := strings.Repeat("y", n-2) + "\r\n"
			assert.Equal(t, "552 Error: Too much mail data", c.send("<a@example.org>", "<b@example.com>", body+".\r\n"), "%d bytes", n)
			assert.Equal(t, "503 Error: need MAIL command", c.cmd("RCPT TO:<b@example.com>"))
			assert.Equal(t, "250 OK", c.cmd("NOOP"))
		}
		// One long line with no CRLF in it: also only counted.
		assert.Equal(t, "552 Error: Too much mail data", c.send("<a@example.org>", "<b@example.com>", strings.Repeat("z", 200<<10)+"\r\n.\r\n"))

		assert.Regexp(t, `^250 OK`, c.send("<after@example.org>", "<b@example.com>", "still here\r\n.\r\n"))
		want = append(want, stored{"<after@example.org>", "<b@example.com>", "still here\r\n"})
		assert.Equal(t, "221 Bye", c.cmd("QUIT"))
		c.expectEOF()

		// net/smtp's view of the same refusal.
		err := smtp.SendMail(s.addr, nil, "a@example.org", []string{"b@example.com"}, bytes.Repeat([]byte("w"), 2*limit))
		var reply *textproto.Error
		require.ErrorAs(t, err, &reply)
		assert.Equal(t, 552, reply.Code)
		assert.Equal(t, "Error: Too much mail data", reply.Msg)

		assert.ElementsMatch(t, want, s.messages(t))
	})
}

// TestShutdown checks that stopping the server closes open sessions —
// one of them in the middle of a message, which is not delivered — and
// leaves no descriptor open.
func TestShutdown(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		checkFDs := testutil.FDCheck(t)
		s := start(t, kind, 1<<20)

		idle := dial(t, s)
		busy := dial(t, s)
		require.Equal(t, "250 "+hostname, busy.cmd("HELO client.test"))
		require.Equal(t, "250 OK", busy.cmd("MAIL FROM:<a@example.org>"))
		require.Equal(t, "250 OK", busy.cmd("RCPT TO:<b@example.com>"))
		require.Equal(t, "354 End data with <CR><LF>.<CR><LF>", busy.cmd("DATA"))
		busy.write("Subject: never finished\r\n\r\nhalf a message\r\n")
		require.Equal(t, "250 OK", idle.cmd("NOOP"))

		s.stop()
		assert.Equal(t, closing, idle.reply())
		idle.expectEOF()
		assert.Equal(t, closing, busy.reply())
		busy.expectEOF()
		require.NoError(t, idle.conn.Close())
		require.NoError(t, busy.conn.Close())
		assert.Empty(t, s.messages(t))
		checkFDs()
	})
}

// TestServeErrors checks that set-up errors are returned, not hidden, and
// that a context cancelled before the loop starts still stops it.
func TestServeErrors(t *testing.T) {
	dir := t.TempDir()
	ok := config{addr: "127.0.0.1:0", maildir: dir, size: 1000}

	testutil.ServeCancelled(t, withConfig(ok))
	for _, sub := range []string{"tmp", "new", "cur"} {
		assert.DirExists(t, filepath.Join(dir, sub))
	}

	bad := ok
	bad.addr = "127.0.0.1:notaport"
	assert.Error(t, serve(context.Background(), bad, nil))

	bad = ok
	bad.addr = testutil.BusyAddr(t)
	assert.Error(t, serve(context.Background(), bad, nil), "port in use")

	file := filepath.Join(dir, "a-file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	bad = ok
	bad.maildir = file
	assert.Error(t, serve(context.Background(), bad, nil), "maildir is a file")

	bad = ok
	bad.size = 0
	assert.Error(t, serve(context.Background(), bad, nil), "size 0")
}
