package chat

import (
	"bytes"
	"strconv"
)

// termKind tells the three kinds of terminator apart. The zero value is
// kindNone, so the zero Terminator collects everything.
type termKind uint8

const (
	kindNone termKind = iota
	kindDelim
	kindLength
)

// Terminator says where a frame of input ends: at a delimiter (asynchat's
// string terminator), after a number of bytes (asynchat's integer
// terminator), or nowhere (asynchat's None). The zero Terminator is "none".
//
// A Terminator is a small immutable value: copy it freely. It holds a
// slice, so compare two with Equal.
type Terminator struct {
	kind  termKind
	delim []byte // kindDelim: a private copy, never empty
	n     int    // kindLength: bytes still wanted; 0 once the length has fired
}

// None is the terminator that never fires: everything is collected. It is
// the zero Terminator, asynchat's None.
var None Terminator

// Delimiter returns a terminator that ends a frame at delim, which is
// copied. An empty delim gives None: asynchat treats an empty bytes
// terminator as it treats None.
func Delimiter(delim []byte) Terminator {
	if len(delim) == 0 {
		return None
	}
	// The copy has no spare capacity, so appending to Delim's result can
	// never write into it.
	d := make([]byte, len(delim))
	copy(d, delim)
	return Terminator{kind: kindDelim, delim: d}
}

// DelimiterString is Delimiter([]byte(s)).
func DelimiterString(s string) Terminator {
	return Delimiter([]byte(s))
}

// Length returns a terminator that ends a frame after n more bytes. Match
// counts it down as input arrives and leaves Length(0) behind when it
// fires. Length(0) collects everything and never fires, like asynchat's
// integer 0; it differs from None only in what Len, String and Equal
// report.
//
// Length panics if n is negative: that is a programmer error, for which
// asynchat's set_terminator raises ValueError.
func Length(n int) Terminator {
	if n < 0 {
		badLength(n)
	}
	return Terminator{kind: kindLength, n: n}
}

// badLength is Length's panic, apart so that Length is small enough to be
// inlined: a protocol that reads a length per message sets one per frame.
//
//go:noinline
func badLength(n int) {
	panic("chat: Length(" + strconv.Itoa(n) + "): the number of received bytes must be positive")
}

// IsNone reports whether t never fires, so that all input is collected:
// None, Length(0) or a Delimiter built from no bytes. This is asynchat's
// "if not terminator" test.
func (t Terminator) IsNone() bool {
	return t.kind == kindNone || (t.kind == kindLength && t.n == 0)
}

// Delim returns the delimiter of a Delimiter terminator and nil for any
// other. The slice belongs to t: do not modify it.
func (t Terminator) Delim() []byte {
	if t.kind != kindDelim {
		return nil
	}
	return t.delim
}

// Len returns the number of bytes a Length terminator still waits for, and
// ok false for a delimiter or None. A Length that has fired reports (0, true).
func (t Terminator) Len() (n int, ok bool) {
	if t.kind != kindLength {
		return 0, false
	}
	return t.n, true
}

// String describes t for logs and test failures: `delimiter "\r\n"`,
// `length 5` or `none`.
func (t Terminator) String() string {
	switch t.kind {
	case kindDelim:
		return "delimiter " + strconv.Quote(string(t.delim))
	case kindLength:
		return "length " + strconv.Itoa(t.n)
	default:
		return "none"
	}
}

// Equal reports whether t and u are the same terminator: both delimiters
// with the same bytes, both lengths with the same count, or both None.
// Length(0) and None both never fire but are not Equal, just as asynchat's
// 0 and None are different values; use IsNone to ask whether a terminator
// fires at all.
func (t Terminator) Equal(u Terminator) bool {
	if t.kind != u.kind {
		return false
	}
	switch t.kind {
	case kindDelim:
		return bytes.Equal(t.delim, u.delim)
	case kindLength:
		return t.n == u.n
	default:
		return true
	}
}

// Step is the outcome of one Match: one turn of asynchat's handle_read loop.
type Step struct {
	// Collect is the data to pass to CollectIncomingData: a sub-slice of
	// the input starting at its first byte, with its capacity cut to its
	// length so that appending to it cannot overwrite the input that
	// follows. It is nil when there is nothing to collect; empty pieces are
	// never collected, as in asynchat.
	Collect []byte
	// Advance is how many input bytes this step consumed: the collected
	// piece plus a found delimiter. It is more than 0 unless Wait is set.
	Advance int
	// Found says the terminator was found: FoundTerminator must be called,
	// after Collect has been collected.
	Found bool
	// Next is the terminator from now on. A length counts down and is
	// Length(0) once it fires; any other terminator is returned unchanged.
	Next Terminator
	// Wait says buf[Advance:] is a proper prefix of the delimiter: keep
	// those bytes and wait for more input before matching again.
	Wait bool
}

// Match runs one turn of asynchat's handle_read loop
// (docs/asyncore-compat.md#handle-read-framing) over buf under terminator t. It
// does no I/O, keeps no state and allocates nothing, so a caller feeds it the
// unconsumed input repeatedly: set the terminator to Next, collect Collect,
// drop Advance bytes, call FoundTerminator if Found (which may change the
// terminator), and stop on Wait (keeping the rest of buf) or when the input is
// used up. Split does exactly that.
//
// buf must be non-empty: asynchat's loop runs "while self.ac_in_buffer".
// An empty buf yields a Step that consumes and collects nothing.
//
// The three cases, as in asynchat:
//
//   - none (IsNone): everything is collected.
//   - Length(n): min(n, len(buf)) bytes are collected and n counts down;
//     Found is set when it reaches 0.
//   - Delimiter(d): the bytes before the first d are collected and d is
//     dropped, with Found set. Without a full d, the bytes before the
//     longest proper prefix of d that ends buf are collected and Wait is
//     set, so that a delimiter split across reads is still found.
func Match(buf []byte, t Terminator) Step {
	n, adv, found, wait := match(buf, &t)
	return Step{Collect: piece(buf, n), Advance: adv, Found: found, Next: t, Wait: wait}
}

// match is Match without the Step: it returns how many bytes of buf to
// collect (from its start) and to consume, and updates *t in place (only a
// length changes: it counts down). Split and AsyncChat frame with it
// directly, so the per-frame work is a few integers, not an 88-byte Step
// and a Terminator copied into the chat at every frame.
func match(buf []byte, t *Terminator) (collect, advance int, found, wait bool) {
	if len(buf) == 0 {
		return 0, 0, false, false
	}
	switch {
	case t.kind == kindDelim:
		d := t.delim
		if len(d) == 1 {
			// The common line terminator: a byte search, and no
			// partial delimiter can end the input.
			if i := bytes.IndexByte(buf, d[0]); i >= 0 {
				return i, i + 1, true, false
			}
			return len(buf), len(buf), false, false
		}
		if i := bytes.Index(buf, d); i >= 0 {
			return i, i + len(d), true, false
		}
		if k := PrefixAtEnd(buf, d); k > 0 {
			rest := len(buf) - k
			return rest, rest, false, true
		}
		return len(buf), len(buf), false, false
	case t.IsNone():
		return len(buf), len(buf), false, false
	}
	// A length: kindLength with n > 0.
	if len(buf) < t.n {
		t.n -= len(buf)
		return len(buf), len(buf), false, false
	}
	n := t.n
	t.n = 0
	return n, n, true, false
}

// piece is buf[:n] with no spare capacity, or nil when n is 0: asynchat does
// not report empty strings ("source of subtle bugs").
func piece(buf []byte, n int) []byte {
	if n == 0 {
		return nil
	}
	return buf[:n:n]
}

// PrefixAtEnd is asynchat's find_prefix_at_end: the length of the longest
// proper prefix of needle that is a suffix of haystack, or 0 if there is
// none. Unlike asynchat it returns 0, not -1, for an empty needle
// (docs/asyncore-compat.md#small-differences). It allocates nothing.
//
// asynchat tries every length from len(needle)-1 down, comparing each
// candidate in full. PrefixAtEnd only compares the candidates whose last
// byte equals the last byte of haystack, found with bytes.LastIndexByte, so
// a long delimiter costs little unless it repeats haystack's last byte many
// times.
func PrefixAtEnd(haystack, needle []byte) int {
	l := min(len(needle)-1, len(haystack))
	if l <= 0 {
		return 0
	}
	last := haystack[len(haystack)-1]
	for l > 0 {
		// The longest remaining candidate ending in last.
		l = bytes.LastIndexByte(needle[:l], last) + 1
		if l == 0 {
			break
		}
		if bytes.Equal(haystack[len(haystack)-l:], needle[:l]) {
			return l
		}
		l--
	}
	return 0
}

// Split feeds chunks through Match one after another, as AsyncChat does with
// the data of each read, calling collect and found like CollectIncomingData
// and FoundTerminator. found receives the terminator in force after the
// match (Length(0) for a length that fired) and returns the terminator to
// use from then on; return the one it is given to keep it. Split returns the
// unconsumed tail, a proper prefix of the final delimiter that is waiting
// for more input (nil when there is none), and the final terminator.
//
// The slice passed to collect is valid only during the call: it may be part
// of a chunk or of Split's own buffer for a delimiter split across chunks,
// which is reused. Copy it to keep it. Split allocates only to join a
// waiting tail with the next chunk, and the returned tail is its own copy.
//
// Split is the reference driver for Match; a reader that wants to bound its
// input, as AsyncChat does, writes the same loop with its limits added.
func Split(chunks [][]byte, t Terminator, collect func([]byte), found func(Terminator) Terminator) (tail []byte, last Terminator) {
	var pending []byte // a partial delimiter carried over to the next chunk
	for _, chunk := range chunks {
		buf := chunk
		if len(pending) > 0 {
			pending = append(pending, chunk...)
			buf = pending
		}
		for len(buf) > 0 {
			n, adv, isFound, wait := match(buf, &t)
			if n > 0 {
				collect(buf[:n:n])
			}
			buf = buf[adv:]
			if isFound {
				t = found(t)
			}
			if wait {
				break
			}
		}
		// buf may be part of chunk, which belongs to the caller, or part of
		// pending itself; append copies with memmove, so both are safe.
		pending = append(pending[:0], buf...)
	}
	if len(pending) == 0 {
		return nil, t
	}
	return pending, t
}
