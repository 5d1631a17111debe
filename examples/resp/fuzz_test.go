package main

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/loop"
)

// FuzzRESPInt checks parseInt against strconv: it accepts exactly the
// canonical decimal form of an int64 — what strconv.FormatInt prints — and
// returns its value.
func FuzzRESPInt(f *testing.F) {
	for _, s := range []string{"0", "-0", "7", "007", "+7", "-1", " 1", "9223372036854775807", "9223372036854775808",
		"-9223372036854775808", "-9223372036854775809", "18446744073709551616", "99999999999999999999", "1e3", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := parseInt(b)
		want, err := strconv.ParseInt(string(b), 10, 64)
		canonical := err == nil && strconv.FormatInt(want, 10) == string(b)
		if ok != canonical || ok && got != want {
			t.Fatalf("parseInt(%q) = %d, %v; strconv says %d, %v (canonical %v)", b, got, ok, want, err, canonical)
		}
	})
}

// FuzzRESPInline checks splitInline against refSplitInline, a direct
// reading of its documentation, and checks that arguments quoted the way
// redis-cli quotes them split back into themselves.
func FuzzRESPInline(f *testing.F) {
	for _, s := range []string{"set a b", `set "a b" 'c d'`, `"\x41\x4g\n\\" x`, `'it\'s' "q"x`, `"open`, "\t  \t",
		`a"b c"`, `"a"b`, `""`, `'\'`, `"\"`, `"\x4"`, "a\rb", "\v a\vb \"c\"\f", "'d'\re"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		// The line's bytes as arguments: split at each space, each part
		// quoted, they must come back as they were.
		args := bytes.Split(line, []byte(" "))
		var quoted []byte
		for _, a := range args {
			quoted = append(quoted, ' ')
			quoted = appendQuoted(quoted, a)
		}
		buf, spans, ok := splitInline(quoted, nil, nil)
		if !ok || len(spans) != len(args) {
			t.Fatalf("splitInline(%q): %d spans, ok %v; want the %d arguments %q", quoted, len(spans), ok, len(args), args)
		}
		for i, s := range spans {
			if !bytes.Equal(buf[s.start:s.end], args[i]) {
				t.Fatalf("splitInline(%q): argument %d is %q, want %q", quoted, i, buf[s.start:s.end], args[i])
			}
		}

		// The line itself, against the reference, appended to a buffer
		// that already holds something.
		prefix := []byte("kept")
		buf, spans, ok = splitInline(line, slices.Clone(prefix), spans[:0])
		want, wantOK := refSplitInline(line)
		if ok != wantOK {
			t.Fatalf("splitInline(%q): ok %v, reference %v", line, ok, wantOK)
		}
		if !bytes.HasPrefix(buf, prefix) {
			t.Fatalf("splitInline(%q) overwrote the buffer it was given: %q", line, buf)
		}
		if !ok {
			return
		}
		got := make([]string, len(spans))
		for i, s := range spans {
			got[i] = string(buf[s.start:s.end])
		}
		if !slices.Equal(got, want) {
			t.Fatalf("splitInline(%q) = %q, reference %q", line, got, want)
		}
	})
}

// refSplitInline splits a line one argument at a time, as splitInline's
// documentation describes: white space (space, \t, \n, \v, \f, \r) is
// skipped before each argument; an argument ends at a space, \t, \r or \n;
// a double or single quote, anywhere in an argument, opens a quoted part
// that must be closed and then followed by white space or the end; in double quotes
// \xHH and \n \r \t \b \a are escapes and a backslash takes the next byte
// as it is; in single quotes only \' is an escape.
func refSplitInline(line []byte) (args []string, ok bool) {
	s := string(line)
	for {
		for s != "" && strings.ContainsRune(" \t\n\v\f\r", rune(s[0])) {
			s = s[1:]
		}
		if s == "" {
			return args, true
		}
		var arg []byte
		for s != "" && !strings.ContainsRune(" \t\r\n", rune(s[0])) {
			q := s[0]
			if q != '"' && q != '\'' {
				arg = append(arg, q)
				s = s[1:]
				continue
			}
			s = s[1:]
			closed := false
			for s != "" && !closed {
				switch {
				case s[0] == q:
					closed = true
					s = s[1:]
				case q == '"' && len(s) >= 4 && s[:2] == `\x` && isHex(s[2]) && isHex(s[3]):
					v, _ := strconv.ParseUint(s[2:4], 16, 8)
					arg = append(arg, byte(v))
					s = s[4:]
				case q == '"' && len(s) >= 2 && s[0] == '\\':
					c := s[1]
					if e, ok := refEscapes[c]; ok {
						c = e
					}
					arg = append(arg, c)
					s = s[2:]
				case q == '\'' && len(s) >= 2 && s[:2] == `\'`:
					arg = append(arg, '\'')
					s = s[2:]
				default:
					arg = append(arg, s[0])
					s = s[1:]
				}
			}
			if !closed || s != "" && !strings.ContainsRune(" \t\n\v\f\r", rune(s[0])) {
				return nil, false
			}
			break // the closing quote ends the argument
		}
		args = append(args, string(arg))
	}
}

// refEscapes are the escapes of a double-quoted argument besides \xHH.
var refEscapes = map[byte]byte{'n': '\n', 'r': '\r', 't': '\t', 'b': '\b', 'a': '\a'}

// appendQuoted appends a in double quotes, as redis-cli's sdscatrepr does.
func appendQuoted(b, a []byte) []byte {
	b = append(b, '"')
	for _, c := range a {
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < ' ' || c >= 0x7f:
			b = fmt.Appendf(b, `\x%02x`, c)
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// FuzzRESP sends arbitrary bytes to a connection of the server, whole and
// in the chunks cuts gives. The properties:
//   - the server never panics, and what it sends is a sequence of well-formed
//     RESP2 replies;
//   - it closes the connection before the client is done only after a
//     protocol error or QUIT, whose reply is the last one;
//   - the chunking changes nothing: the same replies, the same close (except
//     for inputs that read the clock: TTL, and expiries in milliseconds);
//   - however large a length the input announces ($ or *), the server
//     allocates in proportion to the input, not to the length.
func FuzzRESP(f *testing.F) {
	for _, s := range respSeeds {
		f.Add([]byte(s.data), []byte(s.cuts))
	}
	h := newRESPHarness(f)
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		if len(data) > 4<<10 {
			return
		}
		fds := testutil.OpenFDs()
		whole := h.stream(t, data, nil)
		checkReplies(t, data, whole)
		chunked := h.stream(t, data, cuts)
		if n := testutil.OpenFDs(); n != fds {
			t.Fatalf("%d descriptors open before the connections, %d after", fds, n)
		}
		if bytes.Contains(bytes.ToLower(data), []byte("ttl")) || bytes.Contains(bytes.ToLower(data), []byte("px")) {
			return
		}
		if !bytes.Equal(whole.out, chunked.out) || whole.closed != chunked.closed {
			t.Fatalf("the chunking %v changes the replies:\nwhole:   %q (closed %v)\nchunked: %q (closed %v)",
				cuts, whole.out, whole.closed, chunked.out, chunked.closed)
		}
	})
}

// respSeeds reach each state of the request parser; the files under
// testdata/fuzz/FuzzRESP hold the same.
var respSeeds = []struct{ data, cuts string }{
	{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", "\x01\x03\x07"},
	{"PING\nset a \"b c\"\r\nGET a\r\nmget a b\r\n\r\nincr a\n", "\x05"},
	{"*1000000000000\r\n", "\x02"},
	{"*1\r\n$1000000000000\r\n", "\x04\x04"},
	{"*2\r\n$3\r\nSET\r\n$8388609\r\nabc", "\x06"},
	{"*1\r\n$4\r\nPING\r\n*1\r\n$-1\r\n", "\x10"},
	{"*1\r\n$4\r\nPINGxx", "\x01\x01\x01"},
	{"*1\r\n:4\r\nPING\r\n", ""},
	{"set k 1\r\nincrby k 9223372036854775807\r\ndecrby k -1\r\nexists k k\r\ndel k\r\nquit\r\nping\r\n", "\x08\x08"},
	{"*0\r\n*-1\r\n\"unbalanced\r\n", "\x03"},
	{"hello 3\r\nclient setname x\r\nclient getname\r\nclient id\r\ninfo keyspace\r\ncommand count\r\nselect 1\r\nflushall\r\n", "\x20\x20"},
	{"*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n*5\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nw\r\n$2\r\nex\r\n$2\r\n10\r\n", "\x11"},
}

// respHarness is a server without a listener: its connections are
// socketpairs the fuzz function writes to. Each stream gets a server of its
// own, with an empty keyspace.
type respHarness struct {
	l   *loop.Loop
	m   *loop.Map
	buf []byte
}

func newRESPHarness(f *testing.F) *respHarness {
	m := loop.NewMap()
	l, err := loop.New(loop.Options{Map: m})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		_ = dispatcher.CloseAll(m, true)
		_ = l.Close()
	})
	return &respHarness{l: l, m: m, buf: make([]byte, 64<<10)}
}

// respStream is what a connection sent back.
type respStream struct {
	out    []byte
	closed bool // the server closed before the client finished sending
}

// stream sends data to a new connection in the chunks cuts gives (each
// byte the length of the next chunk, zero meaning one; the rest of data
// goes last), running the loop after every chunk, then half-closes and
// collects every reply until the server closes. The server must close, and
// must not allocate more than the input can account for.
func (h *respHarness) stream(t *testing.T, data, cuts []byte) respStream {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)

	fds, err := testutil.NewSocketpair() // non-blocking, close-on-exec, on every Unix
	if err != nil {
		t.Fatal(err)
	}
	peer := fds[1]
	defer unix.Close(peer)
	srv := &server{db: newStore(), started: time.Now()}
	srv.Init(srv, h.m)
	srv.HandleAccepted(fds[0], nil)

	var res respStream
	pump := func() {
		if err := h.l.RunOnce(0); err != nil {
			t.Fatal(err)
		}
		for {
			n, err := unix.Read(peer, h.buf)
			if n <= 0 || err != nil {
				return
			}
			res.out = append(res.out, h.buf[:n]...)
		}
	}
	open := true
	for _, chunk := range testutil.Chunks(data, cuts) {
		for open && len(chunk) > 0 {
			n, err := unix.Write(peer, chunk)
			if n > 0 {
				chunk = chunk[n:]
			}
			if err != nil && !errors.Is(err, unix.EAGAIN) {
				open = false // the server closed: the rest is not sent
			}
			pump()
		}
	}
	// Let the server act on everything sent before telling whether it
	// closed: it reads a buffer at a time.
	for i := 0; h.m.Len() > 0; i++ {
		if n, _, err := unix.Recvfrom(fds[0], h.buf[:1], unix.MSG_PEEK); n <= 0 || err != nil {
			break // nothing left unread (the server's descriptor is open while the map holds it)
		}
		if i == 10000 {
			t.Fatalf("the server does not read its input; replies so far %q", res.out)
		}
		pump()
	}
	pump()
	res.closed = h.m.Len() == 0
	_ = unix.Shutdown(peer, unix.SHUT_WR)
	for i := 0; h.m.Len() > 0; i++ {
		if i == 1000 {
			t.Fatalf("the connection is still open after EOF; replies so far %q", res.out)
		}
		pump()
	}
	pump()
	if srv.clients != 0 {
		t.Fatalf("%d clients counted after the connection closed", srv.clients)
	}

	runtime.ReadMemStats(&after)
	// The read buffer (64 KiB, from a pool that a collection may have
	// emptied), the replies, and a generous factor for the input.
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(1<<20+256*len(data)+8*len(res.out)); got > limit {
		t.Fatalf("%d bytes of input made the server allocate %d bytes (limit %d)", len(data), got, limit)
	}
	return res
}

// checkReplies checks that out is a sequence of well-formed replies, and
// that a protocol error, or QUIT's OK when the server closed early, is the
// last of them.
func checkReplies(t *testing.T, data []byte, res respStream) {
	b := res.out
	var last []byte
	for len(b) > 0 {
		rest, err := skipReply(b, 0)
		if err != nil {
			t.Fatalf("input %q: malformed reply at %q: %v", data, b, err)
		}
		last = b[:len(b)-len(rest)]
		if bytes.HasPrefix(last, []byte("-ERR Protocol error")) && len(rest) > 0 {
			t.Fatalf("input %q: replies %q follow the protocol error %q", data, rest, last)
		}
		b = rest
	}
	if res.closed && !bytes.HasPrefix(last, []byte("-ERR Protocol error")) && string(last) != replyOK {
		t.Fatalf("input %q: the server closed early after %q", data, last)
	}
}

// skipReply returns what follows the RESP2 reply at the start of b.
func skipReply(b []byte, depth int) ([]byte, error) {
	if depth > 8 {
		return nil, errors.New("nested too deep")
	}
	line, rest, ok := bytes.Cut(b, crlf)
	if !ok || len(line) == 0 || bytes.ContainsAny(line, "\r\n") {
		return nil, errors.New("no CRLF-terminated line")
	}
	switch line[0] {
	case '+', '-':
		return rest, nil
	case ':':
		if _, ok := parseInt(line[1:]); !ok {
			return nil, errors.New("bad integer")
		}
		return rest, nil
	case '$', '*':
		n, ok := parseInt(line[1:])
		switch {
		case !ok || n < -1:
			return nil, errors.New("bad length")
		case n == -1:
			return rest, nil
		case line[0] == '$':
			if int64(len(rest)) < n+2 || !bytes.Equal(rest[n:n+2], crlf) {
				return nil, errors.New("bad bulk string")
			}
			return rest[n+2:], nil
		}
		for range n {
			var err error
			if rest, err = skipReply(rest, depth+1); err != nil {
				return nil, err
			}
		}
		return rest, nil
	}
	return nil, fmt.Errorf("unknown reply type %q", line[0])
}
