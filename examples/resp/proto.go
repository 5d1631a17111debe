package main

import (
	"strconv"
	"strings"
)

// RESP2 replies. Each helper appends one reply to b and returns the extended
// slice, as strconv.AppendInt does, so a connection builds its replies in a
// buffer it reuses and nothing is allocated per reply.

var (
	crlf      = []byte("\r\n")
	replyOK   = "+OK\r\n"
	replyNull = "$-1\r\n" // RESP2's null bulk string: a missing key
)

// appendStatus appends a simple string: +OK.
func appendStatus(b []byte, s string) []byte {
	b = append(b, '+')
	b = append(b, s...)
	return append(b, '\r', '\n')
}

// appendError appends an error reply. msg starts with its error code (ERR,
// NOPROTO, ...). A simple string cannot hold CR or LF, so they become spaces,
// as in Redis's addReplyErrorLength.
func appendError(b []byte, msg string) []byte {
	b = append(b, '-')
	for i := 0; i < len(msg); i++ {
		ch := msg[i]
		if ch == '\r' || ch == '\n' {
			ch = ' '
		}
		b = append(b, ch)
	}
	return append(b, '\r', '\n')
}

// appendInt appends an integer reply: :42.
func appendInt(b []byte, n int64) []byte {
	b = append(b, ':')
	b = strconv.AppendInt(b, n, 10)
	return append(b, '\r', '\n')
}

// appendBulk appends a bulk string: $5\r\nhello\r\n.
func appendBulk(b, data []byte) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(data)), 10)
	b = append(b, '\r', '\n')
	b = append(b, data...)
	return append(b, '\r', '\n')
}

// appendBulkHeader appends the header of a bulk string of n bytes, whose
// data and CRLF the caller sends next.
func appendBulkHeader(b []byte, n int) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

// appendBulkString is appendBulk for a string.
func appendBulkString(b []byte, s string) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, '\r', '\n')
	b = append(b, s...)
	return append(b, '\r', '\n')
}

// appendArray appends the header of an array of n replies, which the caller
// appends next.
func appendArray(b []byte, n int) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

// parseInt parses a decimal int64 the way Redis's string2ll does: an
// optional minus sign and digits, no plus sign, spaces or leading zeros, and
// nothing else. INCR on "007" or " 7" is an error in Redis, and here.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || b[0] < '1' || b[0] > '9' {
		return 0, false
	}
	var u uint64
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		d := uint64(ch - '0')
		if u > (1<<64-1-d)/10 {
			return 0, false
		}
		u = u*10 + d
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > 1<<63-1 {
		return 0, false
	}
	return int64(u), true
}

// splitInline splits an inline command line into arguments, appending each
// to buf and its span to spans: Redis's sdssplitargs. White space (see
// isSpace) before and between arguments is skipped; an unquoted argument
// ends at a space, a tab, a CR or an LF (see isSep), so "PING\rfoo" is PING
// with an argument, as Redis reads it. "double quotes" understand \n \r \t
// \b \a \\ \" and \xHH escapes, 'single quotes' only \'. A closing quote
// must be followed by white space or the end of the line. ok is false for
// unbalanced quotes. Unlike Redis, which reads the line as a C string, a
// NUL is an ordinary byte.
func splitInline(line, buf []byte, spans []span) (_ []byte, _ []span, ok bool) {
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) {
			return buf, spans, true
		}
		start := len(buf)
		var quote byte
		for done := false; !done; {
			if i == len(line) {
				if quote != 0 {
					return buf, spans, false
				}
				break
			}
			ch := line[i]
			switch {
			case quote == '"' && ch == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]):
				buf = append(buf, unhex(line[i+2])<<4|unhex(line[i+3]))
				i += 4
				continue
			case quote == '"' && ch == '\\' && i+1 < len(line):
				i++
				switch e := line[i]; e {
				case 'n':
					buf = append(buf, '\n')
				case 'r':
					buf = append(buf, '\r')
				case 't':
					buf = append(buf, '\t')
				case 'b':
					buf = append(buf, '\b')
				case 'a':
					buf = append(buf, '\a')
				default:
					buf = append(buf, e)
				}
			case quote == '\'' && ch == '\\' && i+1 < len(line) && line[i+1] == '\'':
				i++
				buf = append(buf, '\'')
			case quote != 0 && ch == quote:
				// The closing quote must end the argument.
				if i+1 < len(line) && !isSpace(line[i+1]) {
					return buf, spans, false
				}
				done = true
			case quote != 0:
				buf = append(buf, ch)
			case isSep(ch):
				done = true
			case ch == '"' || ch == '\'':
				quote = ch
			default:
				buf = append(buf, ch)
			}
			i++
		}
		spans = append(spans, span{start, len(buf)})
	}
}

// isSpace is C's isspace, which Redis skips between the arguments of an
// inline command and accepts after a closing quote: space, \t, \n, \v,
// \f and \r.
func isSpace(ch byte) bool { return ch == ' ' || '\t' <= ch && ch <= '\r' }

// isSep reports whether ch ends an unquoted argument of an inline command:
// the bytes Redis's sdssplitargs stops at. \v and \f are not among them,
// so "a\vb" is one argument although a \v between arguments is skipped.
func isSep(ch byte) bool { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' }

func isHex(ch byte) bool {
	return '0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f' || 'A' <= ch && ch <= 'F'
}

func unhex(ch byte) byte {
	switch {
	case ch <= '9':
		return ch - '0'
	case ch >= 'a':
		return ch - 'a' + 10
	default:
		return ch - 'A' + 10
	}
}

// printable shows a protocol byte in an error message.
func printable(ch byte) string {
	q := strconv.Quote(string([]byte{ch})) // "\r", "\x00", "a"
	return q[1 : len(q)-1]
}

// lower returns s in lower case into scratch, without allocating when s
// fits: command names are matched case-insensitively.
func lower(scratch, s []byte) []byte {
	out := scratch[:0]
	for _, ch := range s {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		out = append(out, ch)
	}
	return out
}

// argsSummary formats the first arguments for "unknown command" errors as
// Redis does: each quoted and followed by a space, 128 bytes at most.
func argsSummary(args [][]byte) string {
	var sb strings.Builder
	for _, a := range args {
		if sb.Len() >= 128 {
			break
		}
		a = a[:min(len(a), 128-sb.Len())]
		sb.WriteString("'")
		sb.Write(a)
		sb.WriteString("' ")
	}
	return sb.String()
}
