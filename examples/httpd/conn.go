package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/loop"
)

// Limits on what one request may make the server hold in memory.
const (
	// maxHead bounds the request line and header fields together. It is the
	// chat's MaxLine: a head that grows past it without its blank line
	// fails the chat with chat.ErrLineTooLong, answered with 431.
	maxHead = 64 << 10
	// maxBody bounds a request body, which the chat collects in memory.
	// It is the chat's MaxMessage, and a Content-Length above it is
	// answered with 413 before the body is read.
	maxBody = 1 << 20
)

// headLine is the terminator while a request head is read: a line. The
// head is collected a line at a time, rather than as one frame ended by
// "\r\n\r\n", so that a line ended by a bare LF is accepted, as nginx and
// Go's net/http accept it (RFC 9112 §2.2 allows a recipient to): the head
// ends at the first empty line, with or without its CR.
var headLine = chat.DelimiterString("\n")

// defaultHeadTimeout bounds the time from a head's first line to its end.
// The chat's FrameTimeout bounds each line; this bounds the head, so that a
// client cannot hold a connection by sending a header line every minute,
// or one line and then nothing.
const defaultHeadTimeout = chat.DefaultFrameTimeout

// conn serves one client connection. HTTP/1.1 is two kinds of frame in
// turn, which is what asynchat's terminators are for:
//
//   - a head, ended by an empty line: the terminator is headLine, and the
//     lines are gathered in head until the empty one;
//   - then, if the head announced a body, Content-Length bytes: the
//     terminator is chat.Length(n), and back to headLine afterwards.
//
// A head's lines are collected straight into the head being gathered
// (CollectIncomingData); a body goes to the chat's default collector, and
// FoundTerminator takes it with TakeData. A client may send several requests without waiting for
// the replies (pipelining): the chat frames them one after the other, and
// since each reply is pushed before the next request is looked at, replies
// leave in request order. The replies to all the requests of one read are
// written with one system call.
type conn struct {
	chat.AsyncChat
	srv    *server
	req    request // the request whose body is being read
	inBody bool    // the terminator is the body's length, not headLine
	head   []byte  // scratch for reply heads, reused (Push copies it)
	lines  []byte  // the request head so far, each line ended by CRLF, then the line being collected
	lineAt int     // where in lines the line being collected begins
	inHead bool    // lines holds a head begun at headAt
	headAt time.Duration
	held   int // queued file bodies holding their descriptor (fileBody)
	// shutdown: the server is shutting down; the request being read is
	// the last one (BeginShutdown).
	shutdown bool
}

// newConn serves the connected socket fd with srv's files.
func newConn(srv *server, fd int) (*conn, error) {
	c := &conn{srv: srv}
	c.Init(c, srv.Map())
	c.MaxLine = maxHead
	c.MaxMessage = maxBody
	c.SetTerminator(headLine)
	return c, c.Adopt(fd)
}

// CollectIncomingData appends a piece of a head line to the head being
// gathered, which saves the copy into the chat's buffer and its hand-over
// by TakeData; a piece of a body goes to the chat's default collector.
// The chat's MaxLine bounds a line, headLine the head.
func (c *conn) CollectIncomingData(data []byte) {
	if c.inBody {
		c.AsyncChat.CollectIncomingData(data)
		return
	}
	c.lines = append(c.lines, data...)
}

// FoundTerminator is called with a complete frame collected: a line of a
// head, or the body of the request whose head came before.
func (c *conn) FoundTerminator() {
	if !c.inBody {
		c.headLine()
		return
	}
	data := c.TakeData() // valid until the next frame is collected
	c.inBody = false
	c.SetTerminator(headLine)
	c.respond(&c.req, data)
}

// headLine ends the line just collected at the end of the head — without
// its LF — with CRLF, and reads the head when the line is the empty one
// that ends it. Empty lines before a request are skipped (RFC 9112 §2.2).
// A head over maxHead bytes is answered with 431, as one long line is.
func (c *conn) headLine() {
	line := bytes.TrimSuffix(c.lines[c.lineAt:], []byte("\r"))
	if len(line) == 0 {
		c.lines = c.lines[:c.lineAt]
		if !c.inHead {
			return
		}
		head := c.lines[:len(c.lines)-2] // without the last CRLF
		c.lines, c.lineAt, c.inHead = c.lines[:0], 0, false
		c.readHead(head)
		if cap(c.lines) > 4<<10 {
			c.lines = nil // one large head does not pin its buffer
		}
		return
	}
	if !c.inHead {
		c.inHead = true
		if l := c.Map().Loop(); l != nil {
			c.headAt = l.Now()
			c.Hooks().ArmTimeout(c.headAt + c.srv.headTimeout)
		}
	}
	if c.lineAt+len(line)+2 > maxHead {
		c.lines, c.lineAt, c.inHead = nil, 0, false
		c.refuse(chat.ErrLineTooLong, http.StatusRequestHeaderFieldsTooLarge)
		return
	}
	c.lines = append(c.lines[:c.lineAt+len(line)], "\r\n"...)
	c.lineAt = len(c.lines)
}

// NextDeadline adds the head's deadline (the server's headTimeout) to the
// chat's (dispatcher.Deadliner).
func (c *conn) NextDeadline() (time.Duration, bool) {
	at, ok := c.AsyncChat.NextDeadline()
	if h := c.headAt + c.srv.headTimeout; c.inHead && (!ok || h < at) {
		at, ok = h, true
	}
	return at, ok
}

// HandleDeadline answers a head not finished within the server's
// headTimeout with 408 and closes, then lets the chat act on its own
// deadlines.
func (c *conn) HandleDeadline(now time.Duration) {
	if c.inHead && now >= c.headAt+c.srv.headTimeout {
		c.lines, c.lineAt, c.inHead = nil, 0, false
		c.Hooks().CountTimeout()
		c.refuse(chat.ErrFrameTimeout, http.StatusRequestTimeout)
	}
	c.AsyncChat.HandleDeadline(now)
}

// refuse answers a request the server stops reading with status, and
// closes once the reply is written.
func (c *conn) refuse(err error, status int) {
	slog.Debug("request refused", "peer", c.Addr(), "err", err, "status", status)
	req := request{} // keepAlive false: "Connection: close"
	c.finish(&req, c.sendError(&req, status, ""))
}

// readHead parses a head and either answers the request or, when a body
// follows, switches the terminator to the body's length. The switch takes
// effect at once, for bytes already received too: with pipelining the body
// may have arrived in the same read as its head, followed by the next
// request.
func (c *conn) readHead(head []byte) {
	req, status := parseRequest(head)
	switch {
	case status != 0:
	case req.method == "":
		return // empty lines between requests
	case req.transferEncoding:
		// Without support for chunked bodies the end of this request, and
		// so the start of the next, is unknown: refuse it and close.
		status = http.StatusNotImplemented
	case req.contentLength > maxBody:
		// Refused before it is read: the chat would fail with
		// ErrMessageTooLarge on a length terminator above MaxMessage.
		status = http.StatusRequestEntityTooLarge
	}
	if status != 0 {
		// After a framing error, what follows on the connection cannot be
		// trusted to start a request: reply and close.
		req.keepAlive = false
		c.finish(&req, c.sendError(&req, status, ""))
		return
	}
	if req.contentLength == 0 {
		c.respond(&req, nil)
		return
	}
	c.req = req
	if req.expectContinue && req.minor == 1 {
		c.Push([]byte("HTTP/1.1 100 Continue\r\n\r\n")) // RFC 9110 §10.1.1
	}
	c.inBody = true
	c.SetTerminator(chat.Length(int(req.contentLength)))
}

// BeginShutdown is the connection's part of a graceful shutdown (the loop
// calls it on every channel). Replies already queued are written; a
// connection between requests then closes (CloseWhenDone), and one in the
// middle of a request — its head or its body partly received — reads the
// rest, answers it with "Connection: close" (RFC 9112 §9.6) and closes
// (finish). A request not begun when the shutdown came is not read: the
// client retries it on a new connection, as after any keep-alive close.
// The head timeout, and the shutdown's grace period, bound the wait for a
// request that never ends.
func (c *conn) BeginShutdown() {
	c.shutdown = true
	if c.inHead || c.inBody {
		return
	}
	c.AsyncChat.BeginShutdown()
}

// respond answers a complete request. body is the request body, valid only
// for this call.
func (c *conn) respond(req *request, body []byte) {
	if c.shutdown {
		req.keepAlive = false // "Connection: close", then finish closes
	}
	var status int
	switch {
	case string(req.path) == "/echo" && req.method == "POST":
		status = c.echo(req, body)
	case string(req.path) == "/echo":
		status = c.sendError(req, http.StatusMethodNotAllowed, "POST")
	case string(req.path) == statsPath && c.srv.stats && (req.method == "GET" || req.method == "HEAD"):
		status = c.stats(req)
	case req.method == "GET" || req.method == "HEAD":
		status = c.serveFile(req)
	default:
		status = c.sendError(req, http.StatusMethodNotAllowed, "GET, HEAD")
	}
	c.finish(req, status)
}

// finish logs a request and closes the connection, once its reply has been
// written, if the request did not keep it alive. CloseWhenDone also makes
// the chat discard whatever the client sends afterwards, so a request
// pipelined behind "Connection: close" is not answered.
func (c *conn) finish(req *request, status int) {
	// Checked first: the arguments of a call to slog.Debug are built, and
	// allocated, even when the level is off.
	if slog.Default().Enabled(context.Background(), slog.LevelDebug) {
		slog.Debug("request", "peer", c.Addr(), "method", req.method, "target", string(req.target), "status", status)
	}
	if !req.keepAlive {
		c.CloseWhenDone()
	}
}

// echo answers POST /echo with the request body.
func (c *conn) echo(req *request, body []byte) int {
	ctype := req.contentType
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h := c.startHead(http.StatusOK)
	h = header(h, "Content-Type", ctype)
	h = header(h, "Content-Length", strconv.Itoa(len(body)))
	c.pushHead(h, req)
	c.Push(body)
	return http.StatusOK
}

// statsPath serves the loop's counters; it shadows a file of that name in
// the document root.
const statsPath = "/_stats"

// statsReply is what GET /_stats answers: the loop's Stats and the map's
// connection counters, in one flat JSON object.
type statsReply struct {
	loop.Stats
	dispatcher.ConnStats
}

// stats answers GET /_stats with the loop's Stats and the map's connection
// counters (dispatcher.Stats) as a JSON object, for monitoring and for the
// soak test. It is not cached.
func (c *conn) stats(req *request) int {
	body, err := json.Marshal(statsReply{c.Map().Loop().Stats(), dispatcher.Stats(c.Map())})
	if err != nil {
		return c.sendError(req, http.StatusInternalServerError, "")
	}
	body = append(body, '\n')
	h := c.startHead(http.StatusOK)
	h = header(h, "Content-Type", "application/json")
	h = header(h, "Cache-Control", "no-store")
	h = header(h, "Content-Length", strconv.Itoa(len(body)))
	c.pushHead(h, req)
	if req.method == "GET" {
		c.Push(body)
	}
	return http.StatusOK
}

// serveFile answers GET and HEAD of a file under the root. A small file
// comes from the server's cache (see fileCache). Otherwise the head is
// pushed now, and the body is a producer queued behind it, which reads the
// file a buffer at a time as the socket drains (see fileBody).
func (c *conn) serveFile(req *request) int {
	if f := c.srv.fresh(req.path); f != nil {
		return c.serveCached(req, f)
	}
	urlPath := string(req.path) // from here on the file system is asked
	f, name, info, status := c.srv.resolve(urlPath)
	switch status {
	case 0:
	case http.StatusMovedPermanently:
		return c.redirectDir(req)
	default:
		c.srv.forget(urlPath)
		return c.sendError(req, status, "")
	}
	if e := c.srv.fill(urlPath, f, name, info); e != nil {
		_ = f.Close()
		return c.serveCached(req, e)
	}
	fh := newFileHead(name, info)
	status = c.pushFileHead(req, &fh)
	if status == http.StatusOK && req.method == "GET" && info.Size() > 0 {
		c.PushWithProducer(newFileBody(c, f, name, info))
	} else {
		_ = f.Close()
	}
	return status
}

// redirectDir answers a request for a directory named without its
// trailing slash with 301 to the name with it, as nginx does: the target's
// path (still percent-encoded, as sent) with "/" added, and its query.
func (c *conn) redirectDir(req *request) int {
	target := string(req.target)
	if i := strings.Index(target, "://"); i >= 0 && !strings.HasPrefix(target, "/") {
		// The absolute form: the Location is the path alone.
		target = target[i+3:]
		if j := strings.IndexByte(target, '/'); j >= 0 {
			target = target[j:]
		} else {
			target = "/"
		}
	}
	p, q, hasQuery := strings.Cut(target, "?")
	loc := p + "/"
	if hasQuery {
		loc += "?" + q
	}
	status := http.StatusMovedPermanently
	body := strconv.Itoa(status) + " " + http.StatusText(status) + "\n"
	h := c.startHead(status)
	h = header(h, "Location", loc)
	h = header(h, "Content-Type", "text/plain; charset=utf-8")
	h = header(h, "Content-Length", strconv.Itoa(len(body)))
	c.pushHead(h, req)
	if req.method != "HEAD" {
		c.PushString(body)
	}
	return status
}

// serveCached answers GET and HEAD of a file from its cache entry f. The
// common request — HTTP/1.1, kept alive, unconditional — gets the entry's
// prebuilt reply (cachedReply): one copy into the output queue, the head
// not formatted again. Any other goes the general way.
func (c *conn) serveCached(req *request, f *cachedFile) int {
	if req.minor == 1 && req.keepAlive && req.ifModifiedSince.IsZero() {
		reply, head := c.srv.cachedReply(f)
		switch {
		case req.method != "GET":
			c.Push(reply[:head]) // HEAD
		case head < len(reply):
			c.Push(reply) // the head and a small body, one buffer
		default:
			c.Push(reply)
			c.pushBody(f.body)
		}
		return http.StatusOK
	}
	status := c.pushFileHead(req, &f.fileHead)
	if status == http.StatusOK && req.method == "GET" {
		c.pushBody(f.body)
	}
	return status
}

// copyBelow is the size under which a cached body is copied into the
// output queue rather than queued by reference. Copied, it joins the reply
// heads around it in one buffer of the gathered write, which is what makes
// pipelined replies of small files cheap.
const copyBelow = 4 << 10

// pushBody queues a cached body, which is never modified (see fileCache).
// A large one is queued by reference (PushShared): a client pipelining
// hundreds of GETs of a 64 KiB file must not make the server hold hundreds
// of copies — 600 of them came to more than the chat's OutLimit, and the
// connection was closed with nothing sent. Shared bytes still count as
// queued output, so the chat stops framing requests above OutHighWater
// and the queue holds about that much plus one reply.
func (c *conn) pushBody(body []byte) {
	if len(body) < copyBelow {
		c.Push(body)
		return
	}
	c.PushShared(body)
}

// pushFileHead pushes the head of a reply to a GET or HEAD of a file
// described by fh: 304 Not Modified if the request's If-Modified-Since is
// not older than the file, else 200 OK. It returns the status; the caller
// pushes the body after a 200 to a GET.
func (c *conn) pushFileHead(req *request, fh *fileHead) int {
	if !req.ifModifiedSince.IsZero() && !fh.modified.After(req.ifModifiedSince) {
		h := c.startHead(http.StatusNotModified)
		h = header(h, "Last-Modified", fh.lastModified)
		c.pushHead(h, req)
		return http.StatusNotModified
	}
	c.pushHead(appendFileFields(c.startHead(http.StatusOK), fh), req)
	return http.StatusOK
}

// appendFileFields appends the header fields of a 200 reply that describe
// the file fh.
func appendFileFields(h []byte, fh *fileHead) []byte {
	h = header(h, "Content-Type", fh.contentType)
	h = header(h, "Content-Length", fh.length)
	return header(h, "Last-Modified", fh.lastModified)
}

// sendError replies with status and a one-line text body ("404 Not
// Found"), with an Allow header if allow is not empty, and returns status.
func (c *conn) sendError(req *request, status int, allow string) int {
	body := strconv.Itoa(status) + " " + http.StatusText(status) + "\n"
	h := c.startHead(status)
	if allow != "" {
		h = header(h, "Allow", allow)
	}
	h = header(h, "Content-Type", "text/plain; charset=utf-8")
	h = header(h, "Content-Length", strconv.Itoa(len(body)))
	c.pushHead(h, req)
	if req.method != "HEAD" {
		c.Push([]byte(body))
	}
	return status
}

// HandleError receives the chat's limit errors, and any other error the
// library met on the connection's behalf. A head too long for MaxLine gets a
// 431 reply; the chat then closes the connection once the reply is written
// (it frames no more input after a limit error). Anything else goes to the
// default, asyncore's handle_error, which logs and closes.
func (c *conn) HandleError(err error) {
	var status int
	switch {
	case errors.Is(err, chat.ErrLineTooLong):
		status = http.StatusRequestHeaderFieldsTooLarge
	case errors.Is(err, chat.ErrMessageTooLarge):
		status = http.StatusRequestEntityTooLarge // not reached: readHead checks first
	default:
		c.AsyncChat.HandleError(err)
		return
	}
	slog.Debug("request refused", "peer", c.Addr(), "err", err, "status", status)
	c.sendError(&request{}, status, "") // keepAlive false: "Connection: close"
}

// startHead begins a reply head in c's scratch buffer: the status line and
// the fields every reply carries.
func (c *conn) startHead(status int) []byte {
	return appendHeadStart(c.head[:0], status, c.srv.date())
}

// appendHeadStart appends to h the status line of a reply with status and
// the fields every reply carries, dated date.
func appendHeadStart(h []byte, status int, date string) []byte {
	h = append(h, "HTTP/1.1 "...)
	h = strconv.AppendInt(h, int64(status), 10)
	h = append(h, ' ')
	h = append(h, http.StatusText(status)...)
	h = append(h, "\r\n"...)
	h = header(h, "Server", "asyncore-go")
	return header(h, "Date", date)
}

// pushHead ends a reply head with the Connection field the request calls
// for and the empty line, and queues it.
func (c *conn) pushHead(h []byte, req *request) {
	switch {
	case !req.keepAlive:
		h = header(h, "Connection", "close")
	case req.minor == 0:
		// An HTTP/1.0 client asked for keep-alive and must be told it got
		// it, or it waits for the close that ends a 1.0 reply.
		h = header(h, "Connection", "keep-alive")
	}
	h = append(h, "\r\n"...)
	c.Push(h)
	c.head = h[:0]
}

// header appends one header field line to h.
func header(h []byte, name, value string) []byte {
	h = append(h, name...)
	h = append(h, ": "...)
	h = append(h, value...)
	return append(h, "\r\n"...)
}
