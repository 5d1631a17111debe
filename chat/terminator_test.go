package chat

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

//go:generate python3 testdata/gen_golden.py

// A trace is a list of callbacks: "c:<data>" for a collect, foundEvent for
// a found terminator. Strings keep failure output readable.
func collectEvent(p []byte) string { return "c:" + string(p) }

const foundEvent = "f"

// scripted returns a found callback that switches to script[0], script[1],
// ... on successive calls and keeps the terminator once the script is used
// up, like the Recorder in testdata/gen_golden.py.
func scripted(script []Terminator) func(Terminator) Terminator {
	i := 0
	return func(t Terminator) Terminator {
		if i < len(script) {
			t = script[i]
			i++
		}
		return t
	}
}

// trace runs chunks through Split and returns the callbacks it made.
func trace(chunks [][]byte, t Terminator, script []Terminator) (events []string, tail []byte, last Terminator) {
	found := scripted(script)
	tail, last = Split(chunks, t,
		func(p []byte) { events = append(events, collectEvent(p)) },
		func(t Terminator) Terminator {
			events = append(events, foundEvent)
			return found(t)
		})
	return events, tail, last
}

// frames turns a trace into what a protocol sees: the data collected before
// each found terminator, and what was collected after the last one.
func frames(events []string) (done []string, open string) {
	var cur strings.Builder
	for _, e := range events {
		if e == foundEvent {
			done = append(done, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteString(strings.TrimPrefix(e, "c:"))
	}
	return done, cur.String()
}

// chunked cuts data into pieces of size bytes, the last one shorter.
func chunked(data []byte, size int) [][]byte {
	var out [][]byte
	for len(data) > size {
		out = append(out, data[:size])
		data = data[size:]
	}
	if len(data) > 0 {
		out = append(out, data)
	}
	return out
}

func strs(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// c7Cases are the observable consequences of asynchat's handle_read
// (docs/asyncore-compat.md#handle-read-framing), each with its reads and the
// exact trace CPython produces.
var c7Cases = []struct {
	name   string
	term   Terminator
	script []Terminator
	reads  [][]byte
	want   []string
	tail   string
	last   Terminator
}{
	{
		name:  "delimiter split across reads",
		term:  DelimiterString("\r\n"),
		reads: strs("hello\r", "\nworld\r\n"),
		want:  []string{"c:hello", "f", "c:world", "f"},
		last:  DelimiterString("\r\n"),
	},
	{
		name:  "three-byte delimiter",
		term:  DelimiterString("qqq"),
		reads: strs("aq", "q", "qb"),
		want:  []string{"c:a", "f", "c:b"},
		last:  DelimiterString("qqq"),
	},
	{
		name:  "buffer that is only a prefix",
		term:  DelimiterString("qqq"),
		reads: strs("q", "q"),
		want:  nil,
		tail:  "qq",
		last:  DelimiterString("qqq"),
	},
	{
		name:  "leading and adjacent delimiters",
		term:  DelimiterString("\r\n"),
		reads: strs("\r\n\r\nab"),
		want:  []string{"f", "f", "c:ab"},
		last:  DelimiterString("\r\n"),
	},
	{
		name:  "empty line",
		term:  DelimiterString("\n"),
		reads: strs("a\nb\n\nc"),
		want:  []string{"c:a", "f", "c:b", "f", "f", "c:c"},
		last:  DelimiterString("\n"),
	},
	{
		name:  "length 5 counts down then collects everything",
		term:  Length(5),
		reads: strs("abc", "defgh", "ij"),
		want:  []string{"c:abc", "c:de", "f", "c:fgh", "c:ij"},
		last:  Length(0),
	},
	{
		name:  "length 3 in one read",
		term:  Length(3),
		reads: strs("abcdefgh"),
		want:  []string{"c:abc", "f", "c:defgh"},
		last:  Length(0),
	},
	{
		name:  "length 0 never fires",
		term:  Length(0),
		reads: strs("ab", "cd"),
		want:  []string{"c:ab", "c:cd"},
		last:  Length(0),
	},
	{
		name:  "none never fires",
		term:  None,
		reads: strs("ab", "cd"),
		want:  []string{"c:ab", "c:cd"},
		last:  None,
	},
	{
		name:  "empty delimiter never fires",
		term:  DelimiterString(""),
		reads: strs("ab", "cd"),
		want:  []string{"c:ab", "c:cd"},
		last:  None,
	},
	{
		name:   "found terminator switches delimiter, length, delimiter",
		term:   DelimiterString("\r\n"),
		script: []Terminator{Length(3), DelimiterString("\r\n")},
		reads:  strs("HDR\r\nabcdefXY\r\n"),
		want:   []string{"c:HDR", "f", "c:abc", "f", "c:defXY", "f"},
		last:   DelimiterString("\r\n"),
	},
	{
		name:  "partial delimiter kept between reads",
		term:  DelimiterString("\r\n"),
		reads: strs("hello\r"),
		want:  []string{"c:hello"},
		tail:  "\r",
		last:  DelimiterString("\r\n"),
	},
	{
		name:  "false start of a delimiter is collected",
		term:  DelimiterString("\r\n"),
		reads: strs("a\r", "b\r", "\n"),
		want:  []string{"c:a", "c:\rb", "f"},
		last:  DelimiterString("\r\n"),
	},
	{
		name:  "self-overlapping delimiter",
		term:  DelimiterString("aab"),
		reads: strs("aa", "aab"),
		want:  []string{"c:aa", "f"},
		last:  DelimiterString("aab"),
	},
}

func TestSplitC7(t *testing.T) {
	for _, tc := range c7Cases {
		t.Run(tc.name, func(t *testing.T) {
			got, tail, last := trace(tc.reads, tc.term, tc.script)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.tail, string(tail))
			assert.True(t, tc.last.Equal(last), "final terminator %v, want %v", last, tc.last)
		})
	}
}

// TestSplitC7EveryChunkSize feeds the input of every C7 case at every chunk
// size from 1 byte to all of it, as http-parser's test_scan does. The
// collected pieces depend on the chunking; the frames, the tail and the
// final terminator must not.
func TestSplitC7EveryChunkSize(t *testing.T) {
	for _, tc := range c7Cases {
		input := bytes.Join(tc.reads, nil)
		wantDone, wantOpen := frames(tc.want)
		for size := 1; size <= len(input); size++ {
			t.Run(fmt.Sprintf("%s/chunk=%d", tc.name, size), func(t *testing.T) {
				got, tail, last := trace(chunked(input, size), tc.term, tc.script)
				done, open := frames(got)
				assert.Equal(t, wantDone, done)
				assert.Equal(t, wantOpen, open)
				assert.Equal(t, tc.tail, string(tail))
				assert.True(t, tc.last.Equal(last), "final terminator %v, want %v", last, tc.last)
			})
		}
	}
}

func TestMatch(t *testing.T) {
	crlf := DelimiterString("\r\n")
	tests := []struct {
		name string
		buf  string
		term Terminator
		want Step
	}{
		{"none", "abc", None, Step{Collect: []byte("abc"), Advance: 3, Next: None}},
		{"length 0", "abc", Length(0), Step{Collect: []byte("abc"), Advance: 3, Next: Length(0)}},
		{"length short", "abc", Length(5), Step{Collect: []byte("abc"), Advance: 3, Next: Length(2)}},
		{"length exact", "abc", Length(3), Step{Collect: []byte("abc"), Advance: 3, Found: true, Next: Length(0)}},
		{"length more", "abcdef", Length(2), Step{Collect: []byte("ab"), Advance: 2, Found: true, Next: Length(0)}},
		{"delimiter inside", "ab\r\ncd", crlf, Step{Collect: []byte("ab"), Advance: 4, Found: true, Next: crlf}},
		{"delimiter first", "\r\ncd", crlf, Step{Advance: 2, Found: true, Next: crlf}},
		{"delimiter only", "\r\n", crlf, Step{Advance: 2, Found: true, Next: crlf}},
		{"partial delimiter at end", "ab\r", crlf, Step{Collect: []byte("ab"), Advance: 2, Next: crlf, Wait: true}},
		{"only a partial delimiter", "\r", crlf, Step{Advance: 0, Next: crlf, Wait: true}},
		{"no delimiter", "ab\n", crlf, Step{Collect: []byte("ab\n"), Advance: 3, Next: crlf}},
		{"first of two delimiters", "a\r\nb\r\n", crlf, Step{Collect: []byte("a"), Advance: 3, Found: true, Next: crlf}},
		{"overlapping prefix", "abcqq", DelimiterString("qqq"), Step{Collect: []byte("abc"), Advance: 3, Next: DelimiterString("qqq"), Wait: true}},
		{"overlapping match", "aaab", DelimiterString("aab"), Step{Collect: []byte("a"), Advance: 4, Found: true, Next: DelimiterString("aab")}},
		{"longest prefix wins", "x\r\n.\r", DelimiterString("\r\n.\r\n"), Step{Collect: []byte("x"), Advance: 1, Next: DelimiterString("\r\n.\r\n"), Wait: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Match([]byte(tc.buf), tc.term)
			assert.Equal(t, tc.want.Collect, got.Collect)
			assert.Equal(t, tc.want.Advance, got.Advance)
			assert.Equal(t, tc.want.Found, got.Found)
			assert.Equal(t, tc.want.Wait, got.Wait)
			assert.True(t, tc.want.Next.Equal(got.Next), "Next %v, want %v", got.Next, tc.want.Next)
			if got.Collect != nil {
				assert.Equal(t, len(got.Collect), cap(got.Collect), "Collect must have no spare capacity")
			}
		})
	}
}

func TestMatchEmptyBuffer(t *testing.T) {
	for _, term := range []Terminator{None, Length(0), Length(3), DelimiterString("\r\n")} {
		t.Run(term.String(), func(t *testing.T) {
			got := Match(nil, term)
			assert.Nil(t, got.Collect)
			assert.Zero(t, got.Advance)
			assert.False(t, got.Found)
			assert.True(t, term.Equal(got.Next))
		})
	}
}

// TestMatchCollectCannotClobberInput checks that appending to Collect
// reallocates instead of overwriting the delimiter and the data after it.
func TestMatchCollectCannotClobberInput(t *testing.T) {
	buf := []byte("ab\r\ncd")
	s := Match(buf, DelimiterString("\r\n"))
	_ = append(s.Collect, "XXXX"...)
	assert.Equal(t, "ab\r\ncd", string(buf))
}

func TestMatchAllocatesNothing(t *testing.T) {
	tests := []struct {
		name string
		buf  string
		term Terminator
	}{
		{"none", "abc", None},
		{"length 0", "abc", Length(0)},
		{"length short", "abc", Length(5)},
		{"length found", "abcdef", Length(2)},
		{"delimiter found", "ab\r\ncd", DelimiterString("\r\n")},
		{"delimiter wait", "ab\r\n.\r", DelimiterString("\r\n.\r\n")},
		{"delimiter absent", "abcdef", DelimiterString("\r\n")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf := []byte(tc.buf)
			var s Step
			allocs := testing.AllocsPerRun(100, func() { s = Match(buf, tc.term) })
			assert.Zero(t, allocs)
			assert.Positive(t, s.Advance+len(tc.buf)) // keep s live
		})
	}
	t.Run("PrefixAtEnd", func(t *testing.T) {
		h, n := []byte("ab\r\n.\r"), []byte("\r\n.\r\n")
		var k int
		assert.Zero(t, testing.AllocsPerRun(100, func() { k = PrefixAtEnd(h, n) }))
		assert.Equal(t, 4, k)
	})
}

// TestPrefixAtEnd is the find_prefix_at_end table
// (docs/asyncore-compat.md#find-prefix-at-end), except that an empty needle
// gives 0 where asynchat returns -1.
func TestPrefixAtEnd(t *testing.T) {
	tests := []struct {
		haystack, needle string
		want             int
	}{
		{"qwerty\r", "\r\n", 1},
		{"qwertydkjf", "\r\n", 0},
		{"qwerty\r\n", "\r\n", 0},
		{"abcqq", "qqq", 2},
		{"abcq", "qqq", 1},
		{"", "abc", 0},
		{"x", "\n", 0},
		{"abc", "", 0},
		{"ab\r\n.\r", "\r\n.\r\n", 4},
		{"\r\n.", "\r\n.\r\n", 3},
		{"aab", "aabx", 3},
		{"aaa", "aab", 2},
		// Beyond C17: a haystack shorter than the candidates, repeats of
		// the last byte inside the needle, and a needle equal to haystack.
		{"a", "aab", 1},
		{"ba", "abab", 1},
		{"bab", "abab", 2},
		{"xabab", "ababa", 4},
		{"abc", "abc", 0},
		{"", "", 0},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q in %q", tc.needle, tc.haystack), func(t *testing.T) {
			assert.Equal(t, tc.want, PrefixAtEnd([]byte(tc.haystack), []byte(tc.needle)))
			assert.Equal(t, naivePrefixAtEnd([]byte(tc.haystack), []byte(tc.needle)), PrefixAtEnd([]byte(tc.haystack), []byte(tc.needle)))
		})
	}
}

// naivePrefixAtEnd is asynchat's find_prefix_at_end line for line, with 0
// for an empty needle.
func naivePrefixAtEnd(haystack, needle []byte) int {
	l := len(needle) - 1
	for l > 0 && !bytes.HasSuffix(haystack, needle[:l]) {
		l--
	}
	return max(l, 0)
}

// TestPrefixAtEndExhaustive compares PrefixAtEnd with asynchat's loop on
// every haystack and needle of up to 6 and 5 bytes over a two-letter
// alphabet, which covers every pattern of self-overlap.
func TestPrefixAtEndExhaustive(t *testing.T) {
	words := func(maxLen int) [][]byte {
		out := [][]byte{{}}
		for prev := out; maxLen > 0; maxLen-- {
			var next [][]byte
			for _, w := range prev {
				for _, c := range []byte("ab") {
					next = append(next, append(append([]byte{}, w...), c))
				}
			}
			out = append(out, next...)
			prev = next
		}
		return out
	}
	for _, h := range words(6) {
		for _, n := range words(5) {
			if got, want := PrefixAtEnd(h, n), naivePrefixAtEnd(h, n); got != want {
				t.Errorf("PrefixAtEnd(%q, %q) = %d, want %d", h, n, got, want)
			}
		}
	}
}

func TestPrefixAtEndLongNeedle(t *testing.T) {
	needle := append(bytes.Repeat([]byte("-"), 4096), "boundary\r\n"...)
	haystack := append([]byte("body"), needle[:2000]...)
	assert.Equal(t, 2000, PrefixAtEnd(haystack, needle))
	assert.Equal(t, 0, PrefixAtEnd([]byte("body\n"), needle))
}

func TestTerminator(t *testing.T) {
	t.Run("Length(-1) panics", func(t *testing.T) {
		assert.PanicsWithValue(t, "chat: Length(-1): the number of received bytes must be positive", func() { Length(-1) })
	})
	t.Run("zero value is None", func(t *testing.T) {
		var z Terminator
		assert.True(t, z.IsNone())
		assert.True(t, z.Equal(None))
		assert.Equal(t, "none", z.String())
	})
	t.Run("Delimiter copies its argument", func(t *testing.T) {
		d := []byte("\r\n")
		term := Delimiter(d)
		d[0] = 'x'
		assert.Equal(t, []byte("\r\n"), term.Delim())
		assert.Equal(t, len(term.Delim()), cap(term.Delim()))
	})

	crlf := DelimiterString("\r\n")
	tests := []struct {
		name   string
		term   Terminator
		isNone bool
		delim  []byte
		n      int
		ok     bool
		str    string
	}{
		{"None", None, true, nil, 0, false, "none"},
		{"Delimiter(nil)", Delimiter(nil), true, nil, 0, false, "none"},
		{"Delimiter empty", Delimiter([]byte{}), true, nil, 0, false, "none"},
		{"DelimiterString empty", DelimiterString(""), true, nil, 0, false, "none"},
		{"Length(0)", Length(0), true, nil, 0, true, "length 0"},
		{"Length(5)", Length(5), false, nil, 5, true, "length 5"},
		{"crlf", crlf, false, []byte("\r\n"), 0, false, `delimiter "\r\n"`},
		{"smtp data", DelimiterString("\r\n.\r\n"), false, []byte("\r\n.\r\n"), 0, false, `delimiter "\r\n.\r\n"`},
		{"binary", Delimiter([]byte{0, 0xff}), false, []byte{0, 0xff}, 0, false, `delimiter "\x00\xff"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.isNone, tc.term.IsNone())
			assert.Equal(t, tc.delim, tc.term.Delim())
			n, ok := tc.term.Len()
			assert.Equal(t, tc.n, n)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.str, tc.term.String())
			assert.True(t, tc.term.Equal(tc.term))
		})
	}

	equal := []struct {
		a, b Terminator
		want bool
	}{
		{None, Delimiter(nil), true},
		{None, Length(0), false},
		{Length(0), Length(0), true},
		{Length(3), Length(3), true},
		{Length(3), Length(4), false},
		{crlf, Delimiter([]byte("\r\n")), true},
		{crlf, DelimiterString("\n"), false},
		{crlf, None, false},
		{DelimiterString("\x02"), Length(2), false},
	}
	for _, tc := range equal {
		t.Run(fmt.Sprintf("%v Equal %v", tc.a, tc.b), func(t *testing.T) {
			assert.Equal(t, tc.want, tc.a.Equal(tc.b))
			assert.Equal(t, tc.want, tc.b.Equal(tc.a))
		})
	}
}

func TestSplitDoesNotModifyChunks(t *testing.T) {
	// The chunks share one array, so a careless append to a waiting tail
	// would write over the next chunk.
	data := []byte("ab\r\ncd\r\nef\r")
	orig := string(data)
	chunks := [][]byte{data[:3], data[3:7], data[7:]}
	got, tail, _ := trace(chunks, DelimiterString("\r\n"), nil)
	assert.Equal(t, []string{"c:ab", "f", "c:cd", "f", "c:ef"}, got)
	assert.Equal(t, "\r", string(tail))
	assert.Equal(t, orig, string(data))
}

func TestSplitEmptyChunks(t *testing.T) {
	got, tail, last := trace([][]byte{nil, []byte("a\r"), {}, []byte("\nb"), nil}, DelimiterString("\r\n"), nil)
	assert.Equal(t, []string{"c:a", "f", "c:b"}, got)
	assert.Nil(t, tail)
	assert.True(t, last.Equal(DelimiterString("\r\n")))
}

// goldenCase is one entry of testdata/golden.json; see gen_golden.py for
// the encoding.
type goldenCase struct {
	Term   json.RawMessage   `json:"term"`
	Script []json.RawMessage `json:"script"`
	Input  string            `json:"input"`
	Runs   []struct {
		Chunk int             `json:"chunk"`
		Trace [][]string      `json:"trace"`
		Tail  string          `json:"tail"`
		Final json.RawMessage `json:"final"`
	} `json:"runs"`
}

// goldenTerm decodes a terminator: null, a length, or a hex delimiter.
func goldenTerm(t *testing.T, raw json.RawMessage) Terminator {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(raw, &v))
	switch v := v.(type) {
	case nil:
		return None
	case float64:
		return Length(int(v))
	case string:
		d, err := hex.DecodeString(v)
		require.NoError(t, err)
		return Delimiter(d)
	}
	require.Failf(t, "bad terminator", "%s", raw)
	return None
}

// TestGolden replays every trace that CPython's asynchat produced in
// testdata/golden.json through Split, with the same chunking, and expects
// the same collects and founds in the same order, the same tail and the
// same final terminator.
func TestGolden(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "golden.json"))
	require.NoError(t, err)
	var cases []goldenCase
	require.NoError(t, json.Unmarshal(raw, &cases))
	require.NotEmpty(t, cases)

	runs := 0
	for _, gc := range cases {
		term := goldenTerm(t, gc.Term)
		var script []Terminator
		for _, s := range gc.Script {
			script = append(script, goldenTerm(t, s))
		}
		input, err := hex.DecodeString(gc.Input)
		require.NoError(t, err)
		require.Len(t, gc.Runs, len(input), "every chunk size from 1 to len(input)")

		for i, run := range gc.Runs {
			require.Equal(t, i+1, run.Chunk)
			runs++
			name := fmt.Sprintf("%v%v/%q/chunk=%d", term, script, input, run.Chunk)
			t.Run(name, func(t *testing.T) {
				var want []string
				for _, ev := range run.Trace {
					if ev[0] == "f" {
						want = append(want, foundEvent)
						continue
					}
					p, err := hex.DecodeString(ev[1])
					require.NoError(t, err)
					want = append(want, collectEvent(p))
				}
				got, tail, last := trace(chunked(input, run.Chunk), term, script)
				assert.Equal(t, want, got)
				assert.Equal(t, run.Tail, hex.EncodeToString(tail))
				final := goldenTerm(t, run.Final)
				assert.True(t, final.Equal(last), "final terminator %v, want %v", last, final)
			})
		}
	}
	t.Logf("%d cases, %d runs", len(cases), runs)
}

// BenchmarkMatchLine frames a buffer of 16 CRLF-terminated lines, one Match
// per line, as AsyncChat does after a read.
func BenchmarkMatchLine(b *testing.B) {
	var buf []byte
	for i := range 16 {
		buf = fmt.Appendf(buf, "PRIVMSG #chan%02d :hello, world\r\n", i)
	}
	term := DelimiterString("\r\n")
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		rest, lines := buf, 0
		for len(rest) > 0 {
			s := Match(rest, term)
			rest = rest[s.Advance:]
			if s.Found {
				lines++
			}
			if s.Wait {
				break
			}
		}
		if lines != 16 {
			b.Fatalf("framed %d lines, want 16", lines)
		}
	}
}
