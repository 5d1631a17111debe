package chat

import (
	"bytes"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// fuzzAlphabet is small so that random delimiters overlap themselves and
// the data ("aab", "abab", "\r\n.\r\n") as often as possible.
const fuzzAlphabet = "ab\r\n."

// fuzzTerms decodes spec into a start terminator and a script: the
// terminator found switches to at each successive call, where keep means
// "return the terminator found was given". Each terminator takes one
// opcode byte, and a delimiter takes 1–5 more bytes for its letters.
func fuzzTerms(spec []byte) (start Terminator, script []fuzzStep) {
	if len(spec) == 0 {
		return DelimiterString("\r\n"), nil
	}
	spec = spec[:min(len(spec), 64)]
	var terms []fuzzStep
	for len(spec) > 0 {
		op := spec[0]
		spec = spec[1:]
		switch op % 8 {
		case 0:
			terms = append(terms, fuzzStep{term: None})
		case 1, 2:
			terms = append(terms, fuzzStep{term: Length(int(op/8) % 10)})
		case 7:
			terms = append(terms, fuzzStep{keep: true})
		default:
			n := min(1+int(op/8)%5, len(spec))
			var d []byte
			for _, c := range spec[:n] {
				d = append(d, fuzzAlphabet[int(c)%len(fuzzAlphabet)])
			}
			spec = spec[n:]
			terms = append(terms, fuzzStep{term: Delimiter(d)})
		}
	}
	if terms[0].keep {
		terms[0] = fuzzStep{term: DelimiterString("\r\n")}
	}
	return terms[0].term, terms[1:]
}

// fuzzStep is one entry of a fuzz script.
type fuzzStep struct {
	term Terminator
	keep bool
}

// fuzzFound returns a found callback that follows script.
func fuzzFound(script []fuzzStep) func(Terminator) Terminator {
	i := 0
	return func(t Terminator) Terminator {
		if i < len(script) {
			s := script[i]
			i++
			if !s.keep {
				return s.term
			}
		}
		return t
	}
}

// fuzzCuts splits data into chunks whose lengths are the bytes of cuts
// (0 gives an empty chunk); what is left over is the last chunk.
func fuzzCuts(data, cuts []byte) [][]byte {
	var out [][]byte
	for _, c := range cuts {
		n := min(int(c), len(data))
		out = append(out, data[:n])
		data = data[n:]
	}
	return append(out, data)
}

// framed is what a protocol sees: the complete frames, the data collected
// since the last one, the tail kept for a partial delimiter, and the final
// terminator.
type framed struct {
	frames [][]byte
	open   []byte
	tail   []byte
	last   Terminator
}

// referenceFrames frames the whole input at once, the simple way:
// bytes.Index for a delimiter, slicing for a length. The rest after the
// last frame is returned in open, tail included.
func referenceFrames(data []byte, t Terminator, script []fuzzStep) framed {
	found := fuzzFound(script)
	var r framed
	for {
		if d := t.Delim(); d != nil {
			i := bytes.Index(data, d)
			if i < 0 {
				break
			}
			r.frames = append(r.frames, data[:i])
			data = data[i+len(d):]
		} else if n, _ := t.Len(); n > 0 {
			if len(data) < n {
				t = Length(n - len(data))
				break
			}
			r.frames = append(r.frames, data[:n])
			data = data[n:]
			t = Length(0)
		} else {
			break
		}
		t = found(t)
	}
	r.open, r.last = data, t
	return r
}

// splitFrames runs chunks through Split and joins the collected pieces
// into frames.
func splitFrames(chunks [][]byte, t Terminator, script []fuzzStep) framed {
	var r framed
	var cur []byte
	found := fuzzFound(script)
	r.tail, r.last = Split(chunks, t,
		func(p []byte) { cur = append(cur, p...) },
		func(t Terminator) Terminator {
			r.frames = append(r.frames, cur)
			cur = nil
			return found(t)
		})
	r.open = cur
	return r
}

// checkedFrames is Split written out again, checking every Step Match
// returns against the contract documented on Step.
func checkedFrames(t *testing.T, chunks [][]byte, term Terminator, script []fuzzStep) framed {
	var r framed
	var cur, pending []byte
	found := fuzzFound(script)
	for _, chunk := range chunks {
		buf := append(pending, chunk...)
		pending = nil
		for len(buf) > 0 {
			s := Match(buf, term)
			if problem := checkStep(buf, term, s); problem != "" {
				t.Fatalf("Match(%q, %v) = %+v: %s", buf, term, s, problem)
			}
			term = s.Next
			cur = append(cur, s.Collect...)
			buf = buf[s.Advance:]
			if s.Found {
				r.frames = append(r.frames, cur)
				cur = nil
				term = found(term)
			}
			if s.Wait {
				pending = slices.Clone(buf) // buf may be part of data
				break
			}
		}
	}
	r.open, r.tail, r.last = cur, pending, term
	return r
}

// checkStep says what is wrong with s as the result of Match(buf, term),
// or returns "". It uses plain comparisons, not testify, because it runs
// once per step of every fuzz input.
func checkStep(buf []byte, term Terminator, s Step) string {
	switch {
	case s.Advance < 0 || s.Advance > len(buf):
		return "Advance outside the input"
	case s.Advance == 0 && !s.Wait:
		return "no progress without Wait"
	case s.Collect != nil && len(s.Collect) == 0:
		return "empty non-nil Collect"
	case len(s.Collect) > s.Advance || !bytes.Equal(buf[:len(s.Collect)], s.Collect):
		return "Collect is not the start of the consumed input"
	case len(s.Collect) != cap(s.Collect):
		return "Collect has spare capacity"
	case s.Found && s.Wait:
		return "Found and Wait"
	}
	d := term.Delim()
	n, isLen := term.Len()
	switch {
	case term.IsNone():
		if s.Advance != len(buf) || s.Found || s.Wait || !s.Next.Equal(term) {
			return "none must collect everything"
		}
	case isLen:
		if s.Advance != min(n, len(buf)) || s.Advance != len(s.Collect) || s.Found != (n <= len(buf)) || s.Wait {
			return "length collects min(n, len(buf)) and fires at n"
		}
		if !s.Next.Equal(Length(n - s.Advance)) {
			return "length did not count down"
		}
	case !s.Next.Equal(term):
		return "a delimiter changed"
	case s.Found:
		if !bytes.Equal(buf[len(s.Collect):s.Advance], d) || bytes.Contains(buf[:s.Advance-1], d) {
			return "not the first delimiter"
		}
	case s.Wait:
		rest := buf[s.Advance:]
		if len(s.Collect) != s.Advance || len(rest) == 0 || len(rest) >= len(d) || !bytes.HasPrefix(d, rest) {
			return "the rest is not a proper prefix of the delimiter"
		}
		if bytes.Contains(buf, d) || naivePrefixAtEnd(buf, d) != len(rest) {
			return "not the longest partial delimiter"
		}
	default:
		if s.Advance != len(buf) || bytes.Contains(buf, d) || naivePrefixAtEnd(buf, d) != 0 {
			return "a delimiter or partial delimiter was collected"
		}
	}
	return ""
}

func requireSameFrames(t *testing.T, want, got framed, what string) {
	t.Helper()
	if sameFrames(want, got) {
		return // the cheap check; testify only to describe a failure
	}
	want, got = normalize(want), normalize(got)
	require.Equal(t, len(want.frames), len(got.frames), "%s: number of frames", what)
	for i := range want.frames {
		require.Equal(t, want.frames[i], got.frames[i], "%s: frame %d", what, i)
	}
	require.Equal(t, want.open, got.open, "%s: open frame", what)
	require.Equal(t, want.tail, got.tail, "%s: tail", what)
	require.True(t, want.last.Equal(got.last), "%s: final terminator %v, want %v", what, got.last, want.last)
}

// FuzzMatch checks Match, through Split and through a driver that checks
// every Step, against a reference that frames the whole input with
// bytes.Index, for any terminator script and any chunking:
//
//   - the frames, the open frame plus tail, and the final terminator equal
//     the reference's (differential);
//   - they are the same whatever the chunking: unchunked, cut at cuts, and
//     one byte at a time;
//   - every Step keeps its contract (no panic, progress unless Wait, no
//     empty Collect, a tail shorter than the delimiter).
func FuzzMatch(f *testing.F) {
	// spec bytes: op%8 0 none, 1–2 length op/8%10, 7 keep, else a
	// delimiter of 1+op/8%5 letters from fuzzAlphabet given by the next
	// bytes (0 a, 1 b, 2 \r, 3 \n, 4 .).
	f.Add([]byte("hello\r\nworld\r\n"), []byte{6}, []byte{3 + 8, 2, 3})
	f.Add([]byte("HDR\r\nabcdefXY\r\n"), []byte{1, 1, 1}, []byte{3 + 8, 2, 3, 1 + 24, 3 + 8, 2, 3})
	f.Add([]byte("MAIL\r\nDATA\r\nx\r\n.\r\r\n.\r\nQUIT\r\n"), []byte{2, 5, 3, 7}, []byte{3 + 8, 2, 3, 3 + 8, 2, 3, 3 + 32, 2, 3, 4, 2, 3, 3 + 8, 2, 3})
	f.Add([]byte("aaabaabaaab"), []byte{2, 2, 2, 2}, []byte{3 + 16, 0, 0, 1})
	f.Add([]byte("abababaab"), []byte{1, 3}, []byte{3 + 8, 0, 1, 3 + 16, 0, 0, 1, 7, 1 + 24})
	f.Add([]byte("a\nb\n\nc"), []byte{}, []byte{3, 3, 0})
	f.Add([]byte("abcdefgh"), []byte{3, 0, 5}, []byte{1 + 40})
	f.Add([]byte("\r\n\r\nab"), []byte{1}, []byte{3 + 8, 2, 3, 2, 3 + 8, 2, 3})
	f.Add([]byte("aa"), []byte{1}, []byte{3 + 16, 0, 0, 0})
	f.Add([]byte(""), []byte{}, []byte{})

	f.Fuzz(func(t *testing.T, data, cuts, spec []byte) {
		start, script := fuzzTerms(spec)
		want := referenceFrames(data, start, script)

		whole := splitFrames([][]byte{data}, start, script)
		cut := splitFrames(fuzzCuts(data, cuts), start, script)
		checked := checkedFrames(t, fuzzCuts(data, cuts), start, script)
		var bytewise framed
		if len(data) <= 1024 {
			bytewise = checkedFrames(t, fuzzCuts(data, bytes.Repeat([]byte{1}, len(data))), start, script)
		}

		// Property (c): the tail is a proper prefix of the final delimiter
		// and the end of the unframed input.
		for _, r := range []framed{whole, cut, checked} {
			if d := r.last.Delim(); d != nil {
				require.Less(t, len(r.tail), len(d))
				require.True(t, bytes.HasPrefix(d, r.tail))
			} else {
				require.Empty(t, r.tail)
			}
		}

		// Property (a): against the reference, which keeps back the longest
		// proper prefix of a final delimiter as asynchat's loop finds it.
		if d := want.last.Delim(); d != nil {
			k := naivePrefixAtEnd(want.open, d)
			want.open, want.tail = want.open[:len(want.open)-k], want.open[len(want.open)-k:]
		}
		requireSameFrames(t, want, whole, "whole input")

		// Property (b): the chunking does not matter.
		requireSameFrames(t, want, cut, "cut")
		requireSameFrames(t, want, checked, "checked")
		if len(data) <= 1024 {
			requireSameFrames(t, want, bytewise, "one byte at a time")
		}
	})
}

// normalize turns empty frames and tails into nil and copies them, so that
// require.Equal compares contents only, as sameFrames does.
func normalize(r framed) framed {
	clip := func(b []byte) []byte {
		if len(b) == 0 {
			return nil
		}
		return slices.Clone(b)
	}
	out := framed{open: clip(r.open), tail: clip(r.tail), last: r.last}
	for _, fr := range r.frames {
		out.frames = append(out.frames, clip(fr))
	}
	return out
}

// sameFrames compares two results by content: nil and empty are the same.
func sameFrames(a, b framed) bool {
	return slices.EqualFunc(a.frames, b.frames, bytes.Equal) &&
		bytes.Equal(a.open, b.open) && bytes.Equal(a.tail, b.tail) && a.last.Equal(b.last)
}
