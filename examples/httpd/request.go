package main

import (
	"bytes"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// maxTarget bounds the request target (the URL in the request line); a
// longer one is answered with 414 URI Too Long. The head as a whole is
// bounded by the chat's MaxLine (see conn.go).
const maxTarget = 8 << 10

// request is what the server keeps of one request head: the request line,
// and only the header fields it acts on. Everything else is parsed (to
// reject malformed heads) and forgotten.
//
// target and path are views of the head's bytes (path is a copy only when
// the target had to be decoded or cleaned), so that a request for a cached
// file allocates nothing. They are valid until the next request head is
// read — the whole life of the request, body included — and must be
// copied by anything that keeps them longer.
type request struct {
	method string // "GET", "HEAD", "POST", … (case-sensitive, RFC 9110 §9.1)
	target []byte // the request target as sent: "/a%20b?x=1"
	path   []byte // the target's path, decoded and cleaned: "/a b"
	minor  int    // HTTP/1.minor: 0 or 1

	keepAlive        bool  // the connection may serve another request after this one
	contentLength    int64 // body length; 0 when there is no body
	transferEncoding bool  // a Transfer-Encoding field was sent (chunked bodies are not supported)
	expectContinue   bool  // "Expect: 100-continue": the client waits for a go-ahead before its body
	contentType      string
	ifModifiedSince  time.Time // zero if absent or not a valid HTTP date
}

// parseRequest parses a request head: the bytes before the blank line that
// ends it, without that "\r\n\r\n". It returns the request and 0, or an
// error status — 400 Bad Request, 414 URI Too Long or 505 HTTP Version Not
// Supported — with whatever of the request was understood (the method, so
// that an error reply to HEAD has no body). A head made only of empty lines
// gives a request with an empty method and status 0: RFC 9112 §2.2 asks
// servers to ignore empty lines before a request line, which clients send
// after a POST body by old habit.
//
// The grammar is RFC 9112's, applied strictly where leniency has been a
// source of request smuggling: no whitespace between a field name and its
// colon, no obsolete line folding, no bare CR or LF, no disagreeing
// Content-Length fields.
func parseRequest(head []byte) (req request, status int) {
	for bytes.HasPrefix(head, []byte("\r\n")) {
		head = head[2:]
	}
	if len(head) == 0 {
		return req, 0
	}
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))

	// The request line: method SP request-target SP HTTP-version.
	method, line, ok1 := bytes.Cut(line, []byte(" "))
	target, version, ok2 := bytes.Cut(line, []byte(" "))
	if !ok1 || !ok2 || !isToken(method) || len(target) == 0 || !isVisible(target) {
		return req, http.StatusBadRequest
	}
	req.method = methodString(method)
	if len(target) > maxTarget {
		return req, http.StatusRequestURITooLong
	}
	req.target = target
	switch {
	case string(version) == "HTTP/1.1":
		req.minor = 1
	case string(version) == "HTTP/1.0":
		req.minor = 0
	case len(version) == 8 && strings.HasPrefix(string(version), "HTTP/") &&
		isDigit(version[5]) && version[6] == '.' && isDigit(version[7]):
		return req, http.StatusHTTPVersionNotSupported // well formed, but not 1.0 or 1.1
	default:
		return req, http.StatusBadRequest
	}
	p, ok := targetPathBytes(target)
	if !ok {
		return req, http.StatusBadRequest
	}
	req.path = p

	// The header fields, one per line: field-name ":" OWS field-value OWS.
	var hosts int
	var closeOpt, keepAliveOpt, sawLength bool
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(line, []byte(":"))
		// A name that is not a token also catches a line that starts with
		// a space or tab: obsolete line folding, which RFC 9112 §5.2 lets
		// a server reject with 400.
		if !ok || !isToken(name) {
			return req, http.StatusBadRequest
		}
		value = bytes.Trim(value, " \t")
		if !isFieldValue(value) {
			return req, http.StatusBadRequest
		}
		switch {
		case fieldIs(name, "Host"):
			hosts++
		case fieldIs(name, "Connection"):
			// A list of tokens: "keep-alive, Upgrade".
			for list := value; len(list) > 0; {
				var opt []byte
				opt, list, _ = bytes.Cut(list, []byte(","))
				opt = bytes.TrimSpace(opt)
				closeOpt = closeOpt || asciiEqualFold(opt, "close")
				keepAliveOpt = keepAliveOpt || asciiEqualFold(opt, "keep-alive")
			}
		case fieldIs(name, "Content-Length"):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 || value[0] == '+' || (sawLength && n != req.contentLength) {
				return req, http.StatusBadRequest
			}
			req.contentLength, sawLength = n, true
		case fieldIs(name, "Transfer-Encoding"):
			req.transferEncoding = true
		case fieldIs(name, "Expect"):
			req.expectContinue = asciiEqualFold(value, "100-continue")
		case fieldIs(name, "Content-Type"):
			req.contentType = string(value)
		case fieldIs(name, "If-Modified-Since"):
			if t, err := http.ParseTime(string(value)); err == nil {
				req.ifModifiedSince = t
			}
		}
	}
	// RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status
	// code to any HTTP/1.1 request message that lacks a Host header field
	// and to any request message that contains more than one Host header
	// field".
	if hosts > 1 || (req.minor == 1 && hosts == 0) {
		return req, http.StatusBadRequest
	}
	// Persistence (RFC 9112 §9.3): HTTP/1.1 keeps the connection open unless
	// told "close"; HTTP/1.0 closes it unless told "keep-alive".
	req.keepAlive = !closeOpt && (req.minor == 1 || keepAliveOpt)
	return req, 0
}

// methodString returns the method as a string, without allocating one
// for the methods this server serves.
func methodString(method []byte) string {
	switch string(method) { // compared without a conversion
	case "GET":
		return "GET"
	case "HEAD":
		return "HEAD"
	case "POST":
		return "POST"
	}
	return string(method)
}

// targetPathBytes is targetPath for a target in the head's bytes. The
// common target — an origin-form path that needs no decoding or cleaning,
// with or without a query — is answered with a view of target; any other
// goes through targetPath, and its path is a copy.
func targetPathBytes(target []byte) ([]byte, bool) {
	p := target
	if i := bytes.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if isCleanPath(p) {
		return p, true
	}
	clean, ok := targetPath(string(target))
	return []byte(clean), ok
}

// isCleanPath reports whether p is a path that targetPath returns as it
// is: it begins with "/", has no percent-encoding and no NUL, and has no
// empty, "." or ".." segment except an empty last one (a trailing slash).
func isCleanPath(p []byte) bool {
	if len(p) == 0 || p[0] != '/' || bytes.IndexByte(p, '%') >= 0 || bytes.IndexByte(p, 0) >= 0 {
		return false
	}
	for rest := p[1:]; len(rest) > 0; {
		seg, after, more := bytes.Cut(rest, []byte("/"))
		switch {
		case len(seg) == 0: // "//"
			return false
		case seg[0] == '.' && (len(seg) == 1 || len(seg) == 2 && seg[1] == '.'):
			return false
		}
		if !more {
			break
		}
		rest = after
	}
	return true
}

// targetPath returns the decoded, cleaned path of a request target, or
// false if the target is not one this server serves. A trailing slash is
// kept. It accepts the origin form ("/a/b?q") and the absolute form
// ("http://host/a/b?q", which RFC 9112 §3.2.2 requires servers to accept
// too). It refuses any ".." segment, encoded ("%2e%2e") or not, rather than
// resolving it: no request can name a file above the root, however its path
// is spelled. Symbolic links are the other way out of the root; resolve
// (files.go) deals with them.
func targetPath(target string) (string, bool) {
	for _, scheme := range []string{"http://", "https://"} {
		if len(target) >= len(scheme) && strings.EqualFold(target[:len(scheme)], scheme) {
			target = target[len(scheme):]
			if i := strings.IndexByte(target, '/'); i >= 0 {
				target = target[i:]
			} else {
				target = "/"
			}
		}
	}
	if !strings.HasPrefix(target, "/") {
		return "", false // "*" (OPTIONS *) or the authority form of CONNECT
	}
	p, _, _ := strings.Cut(target, "?")
	p, err := url.PathUnescape(p)
	if err != nil || strings.IndexByte(p, 0) >= 0 || strings.Contains(p+"/", "/../") {
		return "", false
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/" // "/dir/" names a directory: keep the slash for resolve
	}
	return clean, true
}

// fieldIs reports whether a field name is want. Field names are
// case-insensitive (RFC 9110 §5.1).
func fieldIs(name []byte, want string) bool {
	return asciiEqualFold(name, want)
}

// asciiEqualFold reports whether b is s under ASCII case folding. Field
// names and the tokens compared here are ASCII; unlike strings.EqualFold
// it does not fold non-ASCII letters onto ASCII ones (the Kelvin sign
// onto "k"), and it needs no conversion of b.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// isToken reports whether b is a non-empty RFC 9110 token: method and field
// names are tokens.
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !isTokenChar(c) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// isVisible reports whether b has only visible ASCII: no spaces, no
// control bytes. A request target is made of such bytes.
func isVisible(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// isFieldValue reports whether b may be a field value: no control bytes
// except tab — in particular no bare CR or LF, and no NUL.
func isFieldValue(b []byte) bool {
	for _, c := range b {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
