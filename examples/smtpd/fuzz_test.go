package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
)

// FuzzSMTPPath checks parsePath: what it accepts is an address in angle
// brackets with no brackets, spaces or tabs inside, and parameters without
// spaces; and the accepted form, written out again, parses to itself.
func FuzzSMTPPath(f *testing.F) {
	for _, s := range []string{"FROM:<a@b>", "from: <> SIZE=10 BODY=8BITMIME", "TO:a@b", "TO:<a b>", "TO:<a>x",
		"FROM:<<a>>", "FROM:", "TO:  <x@y>   P=1  Q", "FROM:<a\t@b>"} {
		f.Add(s, "FROM:")
	}
	f.Add("TO:<a@b>", "TO:")
	f.Fuzz(func(t *testing.T, arg, keyword string) {
		path, params, ok := parsePath(arg, keyword)
		if !ok {
			return
		}
		if len(path) < 2 || path[0] != '<' || path[len(path)-1] != '>' || strings.ContainsAny(path[1:len(path)-1], "<> \t") {
			t.Fatalf("parsePath(%q, %q) accepted the path %q", arg, keyword, path)
		}
		for _, p := range params {
			if p == "" || strings.ContainsAny(p, " \t\r\n\v\f") {
				t.Fatalf("parsePath(%q, %q) returned the parameter %q", arg, keyword, p)
			}
		}
		again := keyword + path
		if len(params) > 0 {
			again += " " + strings.Join(params, " ")
		}
		path2, params2, ok2 := parsePath(again, keyword)
		if !ok2 || path2 != path || strings.Join(params2, " ") != strings.Join(params, " ") {
			t.Fatalf("parsePath(%q) = %q %q, but parsePath(%q) = %q %q %v", arg, path, params, again, path2, params2, ok2)
		}
	})
}

// FuzzSMTPCommand sends arbitrary bytes to a session, whole and in the
// chunks cuts gives, and reads the conversation back line by line against
// the input. The properties:
//   - the session never panics, greets once, and gives every command line
//     exactly one reply: lines of a three-digit code and "-", then one of
//     the same code and a space (RFC 5321 §4.2.1);
//   - in DATA, lines get no reply until the line holding a single "."; the
//     message stored is the lines in between with one leading "." removed
//     from each (RFC 5321 §4.5.2), or, when that is over the size limit,
//     nothing, and the reply is 552;
//   - after QUIT's 221 nothing more is answered;
//   - the chunking changes nothing: the same replies (message names aside)
//     and the same messages stored.
func FuzzSMTPCommand(f *testing.F) {
	for _, s := range smtpSeeds {
		f.Add([]byte(s.data), []byte(s.cuts))
	}
	// A delivery is logged at Info; thousands a second would drown the
	// fuzzer's own output.
	logger := slog.Default()
	slog.SetDefault(slog.New(slog.DiscardHandler))
	f.Cleanup(func() { slog.SetDefault(logger) })
	h := newSMTPHarness(f, smtpSize)
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		if len(data) > 8<<10 {
			return
		}
		fds := testutil.OpenFDs()
		whole := h.stream(t, data, nil)
		h.check(t, data, whole)
		chunked := h.stream(t, data, cuts)
		if n := testutil.OpenFDs(); n != fds {
			t.Fatalf("%d descriptors open before the sessions, %d after", fds, n)
		}
		if !bytes.Equal(whole.out, chunked.out) || !slices.EqualFunc(whole.msgs, chunked.msgs, bytes.Equal) {
			t.Fatalf("the chunking %v changes the conversation:\nwhole:   %q %q\nchunked: %q %q",
				cuts, whole.out, whole.msgs, chunked.out, chunked.msgs)
		}
	})
}

// smtpSize is the harness's message size limit: small, so that 552 is
// within a fuzzer's reach.
const smtpSize = 300

// smtpSeeds reach each command and the DATA state; the files under
// testdata/fuzz/FuzzSMTPCommand hold the same.
var smtpSeeds = []struct{ data, cuts string }{
	{"EHLO c\r\nMAIL FROM:<a@b> SIZE=10 BODY=8BITMIME\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: x\r\n\r\n..leading dot\r\n.\r\n\r\n.\r\nQUIT\r\n", "\x01\x05\x03"},
	{"HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<x>\r\nDATA\r\n.\r\nRSET\r\nNOOP hi\r\nVRFY\r\nVRFY x\r\nHELP\r\nHELP mail\r\nHELP nope\r\nEXPN x\r\nbogus\r\n\r\n", "\x07"},
	{"MAIL FROM:<a>\r\nDATA\r\nHELO\r\nHELO c\r\nRCPT TO:<a>\r\nMAIL FROM:a b\r\nMAIL FROM:<a> SIZE=1\r\nMAIL FROM:<a>\r\nMAIL FROM:<b>\r\nRCPT TO:<>\r\nDATA x\r\n", "\x02\x02"},
	{"EHLO c\r\nMAIL FROM:<a> SIZE=99999999999999999999999\r\nMAIL FROM:<a> BODY=9BIT\r\nMAIL FROM:<a> X=1\r\nRCPT TO:<b> NOTIFY=NEVER\r\n", "\x10\x10"},
	{"HELO c\r\nMAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\n" + strings.Repeat("0123456789abcdef\r\n", 20) + ".\r\nNOOP\r\n", "\x20\x01"},
	{"HELO c\r\n" + strings.Repeat("x", 600) + "\r\nNOOP a\rb\r\nNOOP\n\r\nQUIT\r\nNOOP\r\n", "\x00\x00\x00"},
	{"HELO c\r\nMAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\n.\r\r\n...\r\n.x\r\n.\r\n", "\x01\x01\x01\x01\x01\x01\x01\x01"},
	// Two messages and commands after each, in one piece: what follows a
	// final "." waits for that message's commit and is framed after it.
	{"HELO c\r\nMAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\none\r\n.\r\nNOOP\r\nMAIL FROM:<c>\r\nRCPT TO:<d>\r\nDATA\r\ntwo\r\n..\r\n.\r\nRSET\r\nQUIT\r\n", "\x30"},
}

// smtpHarness is a server without a listener: its sessions are socketpairs
// the fuzz function writes to, delivering into a Maildir.
type smtpHarness struct {
	l   *loop.Loop
	m   *loop.Map
	srv *server
}

// newSMTPHarness makes a harness whose server accepts messages of up to
// size bytes. Everything it made is released when the test ends.
func newSMTPHarness(f testing.TB, size int) *smtpHarness {
	// Every message is synced to disk; on tmpfs that costs nothing.
	dir := ""
	if d, err := os.MkdirTemp("/dev/shm", "smtpd-fuzz-"); err == nil {
		dir = d
		f.Cleanup(func() { _ = os.RemoveAll(d) })
	} else {
		dir = f.TempDir()
	}
	box, err := openMaildir(filepath.Join(dir, "maildir"), "fuzz.example")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(box.close)
	m := loop.NewMap()
	l, err := loop.New(loop.Options{Map: m})
	if err != nil {
		f.Fatal(err)
	}
	srv := &server{hostname: "fuzz.example", size: size, box: box}
	srv.Init(srv, m)
	f.Cleanup(func() {
		_ = dispatcher.CloseAll(m, true)
		_ = l.Close()
	})
	return &smtpHarness{l: l, m: m, srv: srv}
}

// smtpRun is what one session sent back and stored.
type smtpRun struct {
	out  []byte   // the replies, with message names replaced by "NAME"
	msgs [][]byte // the messages stored, without their trace lines
	raw  []byte   // the replies as sent
}

// queuedAs matches the name in a delivery's reply.
var queuedAs = regexp.MustCompile(`(?m)^250 OK: queued as ([^\r]*)`)

// stream sends data to a new session in the chunks cuts gives (each byte
// the length of the next chunk, zero meaning one; the rest of data goes
// last), running the loop after every chunk, then half-closes and collects
// every reply until the session closes. The messages delivered are read
// and removed.
func (h *smtpHarness) stream(t *testing.T, data, cuts []byte) smtpRun {
	out := looptest.Converse(t, h.l, func(fd int) { h.srv.HandleAccepted(fd, nil) }, data, cuts)
	run := smtpRun{raw: out}
	for _, m := range queuedAs.FindAllSubmatch(out, -1) {
		name := filepath.Join(h.srv.box.dir, "new", string(m[1]))
		msg, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("reply %q, but no message: %v", m[0], err)
		}
		_ = os.Remove(name)
		// The trace is four lines: Received, X-Peer, X-Mail-From and
		// X-Rcpt-To, none of which can hold a CRLF of its own.
		for range 4 {
			_, msg, _ = bytes.Cut(msg, crlf)
		}
		run.msgs = append(run.msgs, msg)
	}
	run.out = queuedAs.ReplaceAll(out, []byte("250 OK: queued as NAME"))
	return run
}

// replyLine is one line of a reply: code, separator, text.
var replyLine = regexp.MustCompile(`^([2-5][0-9][0-9])([ -])[^\r\n]*$`)

// check reads the conversation back against the input.
func (h *smtpHarness) check(t *testing.T, data []byte, run smtpRun) {
	replies := run.raw
	// next returns the next complete reply: its code and its lines.
	next := func(after string) (code string, lines []string) {
		for {
			line, rest, ok := bytes.Cut(replies, crlf)
			if !ok {
				t.Fatalf("input %q: no reply to %q; left over %q", data, after, replies)
			}
			replies = rest
			m := replyLine.FindSubmatch(line)
			if m == nil || (code != "" && string(m[1]) != code) {
				t.Fatalf("input %q: reply line %q to %q", data, line, after)
			}
			code = string(m[1])
			lines = append(lines, string(line))
			if m[2][0] == ' ' {
				return code, lines
			}
		}
	}
	if code, _ := next("the connection"); code != "220" {
		t.Fatalf("input %q: greeting %s", data, code)
	}
	msgs := run.msgs
	inData, quit := false, false
	var body []byte
	frames := bytes.Split(data, crlf)
	for _, line := range frames[:len(frames)-1] { // the last has no CRLF
		if quit {
			break
		}
		switch {
		case !inData:
			code, lines := next(string(line))
			inData = code == "354"
			quit = code == "221"
			if len(lines) > 1 && !bytes.HasPrefix(bytes.ToUpper(line), []byte("EHLO ")) {
				t.Fatalf("input %q: a reply of %d lines to %q", data, len(lines), line)
			}
			body = body[:0]
		case string(line) == ".":
			inData = false
			code, lines := next("the end of the data")
			switch {
			case len(body) > smtpSize:
				if code != "552" {
					t.Fatalf("input %q: a message of %d bytes got %q", data, len(body), lines)
				}
			case code != "250":
				t.Fatalf("input %q: a message of %d bytes got %q", data, len(body), lines)
			case len(msgs) == 0 || !bytes.Equal(msgs[0], body):
				t.Fatalf("input %q: message stored as %q, sent as %q", data, msgs[:min(1, len(msgs))], body)
			default:
				msgs = msgs[1:]
			}
		default:
			body = append(body, bytes.TrimPrefix(line, []byte("."))...)
			body = append(body, crlf...)
		}
	}
	if len(replies) > 0 || len(msgs) > 0 {
		t.Fatalf("input %q: replies %q and messages %q unaccounted for", data, replies, msgs)
	}
}
