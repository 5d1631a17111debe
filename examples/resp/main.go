// Command resp is an in-memory key-value server that speaks the Redis
// protocol (RESP2), so redis-cli, redis-benchmark and Redis client libraries
// can talk to it. It is built on chat.AsyncChat, the way asynchat servers
// are: the terminator follows the protocol — a line for the first line of a
// request, then byte counts for the rest of it.
//
//	go run ./examples/resp                  # on 127.0.0.1:6380
//	redis-cli -p 6380 set greeting hello
//	redis-cli -p 6380 get greeting
//	go run ./examples/resp -backend poll    # pick the poller
//	go run ./examples/resp -tls-cert cert.pem -tls-key key.pem
//	redis-cli -p 6380 --tls --cacert ca.pem ping
//
// It knows the string commands (GET, SET with EX/PX/NX/XX/KEEPTTL, INCR,
// MGET, MSET, DEL, EXISTS, TTL, ...) and what redis-cli and redis-benchmark
// send when they start; see commands.go.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/examples/internal/cpuprofile"
	"github.com/asyncore-go/asyncore/examples/internal/tlsflags"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
)

// Limits on what a client may send.
const (
	// maxArgs is the largest argument count a request may announce
	// (*N); more is a protocol error.
	maxArgs = 1024 * 1024
	// maxBulk is the largest argument length the protocol allows ($N):
	// Redis's proto-max-bulk-len.
	maxBulk = 512 << 20
	// maxLine is the longest line: the chat's MaxLine for the first line
	// of a request, and the parser's limit for "$N" lines. It is Redis's
	// limit for an inline command.
	maxLine = 64 << 10
	// maxMessage is the largest argument this server will hold: the
	// chat's MaxMessage. A longer announced length fails in the chat,
	// before anything is read or allocated for it (see HandleError).
	maxMessage = 8 << 20
	// keepBuffer is the capacity above which a connection's request
	// buffer, inline line or reply scratch is released after the request,
	// so one large SET does not pin its memory for the life of the
	// connection.
	keepBuffer = 64 << 10
	// keepArgs is the argument count above which a connection's argument
	// offsets and slices are released after the request, for the same
	// reason: 1024 of each, 40 KiB in all.
	keepArgs = 1024
)

// lineTerm ends the first line of a request: "*N" or an inline command.
// Redis accepts a bare LF at the end of an inline command ("PING\n" from
// nc), so the terminator is LF and a CR before it is dropped. It is made
// once: chat.Delimiter copies its argument.
var lineTerm = chat.DelimiterString("\n")

// minArg is the fewest bytes a bulk argument takes: "$0\n", then the CRLF
// after its empty data.
const minArg = 5

// span locates one argument in a client's request buffer. Offsets rather
// than slices, because the buffer may move as it grows.
type span struct{ start, end int }

// parseState is where a client is in a request.
type parseState uint8

const (
	stateCommand    parseState = iota // a line: "*N" or an inline command
	stateBulkHeader                   // a "$N" line
	stateBulkBody                     // N bytes and CRLF
	stateRefused                      // over a limit: the chat is refusing the request (see refuse)
)

// client serves one connection. Its methods run on the loop's goroutine, as
// does everything in the server, so the store needs no lock.
//
// The first line of a request comes under lineTerm. The rest of a "*N"
// request comes under a chat.Length of need() bytes — as many as the rest
// of the request takes at the least, judging by what has been parsed, since
// an argument still to come is at least minArg bytes — and is parsed as it
// arrives, "$N" lines and data alike, by CollectIncomingData. When the
// length fires, FoundTerminator sets the next one, or runs the command: a
// request is never shorter than need says, so a length never reaches into
// the next request and fires exactly at the end of this one.
// redis-benchmark's MSET of 21 arguments is nine frames this way, not 43
// (one per line and one per argument). Parsing as the bytes arrive, with
// the limits a "$N" line would have under lineTerm, answers a malformed
// request at the same byte, with the same error, as framing line by line
// does.
type client struct {
	chat.AsyncChat
	srv  *server
	id   int64
	name string

	state   parseState
	want    int      // bulk arguments still to come in this request, the current one included
	body    int      // stateBulkBody: bytes of the argument and its CRLF still to come
	buf     []byte   // this request's arguments, then the part of a line or argument received
	mark    int      // where that part starts in buf
	spans   []span   // the arguments received so far, in buf
	argv    [][]byte // the arguments as slices, rebuilt for each request
	line    []byte   // an inline command being split
	out     []byte   // the reply being built
	lname   [32]byte // scratch for lower-casing command and option names
	refusal string   // stateRefused: the protocol error to answer
	broken  bool     // a protocol error was answered: the rest is ignored
}

// CollectIncomingData is asynchat's collect_incoming_data. A first line is
// appended to the request buffer; the rest of a request is parsed. data
// points into the chat's read buffer and is only valid during the call, so
// what is kept is copied — once, into a buffer the connection keeps from
// request to request.
func (c *client) CollectIncomingData(data []byte) {
	if c.broken {
		return
	}
	switch c.state {
	case stateCommand:
		c.collect(data)
	case stateBulkHeader, stateBulkBody:
		c.parse(data)
	}
}

// argCost is what the server keeps for each argument besides its bytes:
// its offsets while the request arrives, its slice when it runs.
const argCost = int(unsafe.Sizeof(span{}) + unsafe.Sizeof([]byte(nil)))

// tooLarge reports whether a request that holds n more bytes would go past
// -client-query-buffer-limit. The bookkeeping of each argument counts too,
// so that a request of a million empty arguments is bounded as well.
func (c *client) tooLarge(n int) bool {
	return len(c.buf)+n+len(c.spans)*argCost > c.srv.maxRequest
}

// collect appends data to the request buffer, or answers a protocol error
// and reports false if the request would grow too large (see tooLarge).
func (c *client) collect(data []byte) bool {
	if c.tooLarge(len(data)) {
		c.protocolError("request too large")
		return false
	}
	c.buf = append(c.buf, data...)
	return true
}

// parse reads "$N" lines and arguments from data, which the length
// terminator keeps within this request.
func (c *client) parse(data []byte) {
	for len(data) > 0 && c.want > 0 && !c.broken && c.state != stateRefused {
		if c.state == stateBulkBody {
			n := min(c.body, len(data))
			if !c.collect(data[:n]) {
				return
			}
			data = data[n:]
			if c.body -= n; c.body == 0 {
				c.endArg()
			}
			continue
		}
		line, rest := data, data[len(data):]
		found := false
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, rest, found = data[:i], data[i+1:], true
		}
		// The limits of a line under lineTerm: the chat's MaxLine, the
		// request's size.
		if len(c.buf)-c.mark+len(line) > maxLine {
			c.refuse("too big bulk count string")
			return
		}
		if c.tooLarge(len(line)) {
			c.protocolError("request too large")
			return
		}
		if !found {
			c.buf = append(c.buf, line...) // the line goes on in the next frame
			return
		}
		if c.mark < len(c.buf) {
			// The line began in an earlier frame.
			c.buf = append(c.buf, line...)
			line = c.buf[c.mark:]
			c.buf = c.buf[:c.mark]
		}
		c.header(trimCR(line))
		data = rest
	}
}

// header reads a "$N" line: the length of the next argument.
func (c *client) header(line []byte) {
	if len(line) == 0 || line[0] != '$' {
		got := byte('\r')
		if len(line) > 0 {
			got = line[0]
		}
		c.protocolError("expected '$', got '" + printable(got) + "'")
		return
	}
	n, ok := parseInt(line[1:])
	switch {
	case !ok || n < 0 || n > maxBulk:
		c.protocolError("invalid bulk length")
	case n+2 > maxMessage:
		c.refuse("invalid bulk length")
	default:
		c.state, c.body = stateBulkBody, int(n)+2 // the argument and its CRLF
	}
}

// endArg checks the CRLF after an argument's data and records the argument.
func (c *client) endArg() {
	end := len(c.buf) - 2
	if !bytes.Equal(c.buf[end:], crlf) {
		c.protocolError("expected '\\r\\n' after bulk data")
		return
	}
	c.buf = c.buf[:end]
	c.spans = append(c.spans, span{c.mark, end})
	c.mark = end
	c.state = stateBulkHeader
	c.want--
}

// need is the length of the next frame of a "*N" request: the fewest bytes
// the rest of the request can take, given what has been parsed.
func (c *client) need() int {
	n := minArg * (c.want - 1) // the arguments after the current one
	if c.state == stateBulkBody {
		n += c.body
	} else {
		// The rest of the "$N" line — at least its LF, and three bytes
		// in all — then the CRLF after the data.
		n += max(1, 3-(len(c.buf)-c.mark)) + 2
	}
	return min(n, maxMessage)
}

// refuse ends a request that goes past MaxLine with a "$N" line, or past
// MaxMessage with the N, the way the chat ends one that goes past its
// limits: by setting a length above MaxMessage, which the chat refuses
// before it frames another byte. So the connection is counted in
// limit_disconnections, HandleError answers msg, and the close lingers so
// that the rest of what the client sends does not reset the answer.
func (c *client) refuse(msg string) {
	c.state, c.refusal = stateRefused, msg
	c.SetTerminator(chat.Length(maxMessage + 1))
}

// FoundTerminator is asynchat's found_terminator: the first line of a
// request, or a frame of the rest, is complete. It sets the terminator for
// what comes next and runs the command once its last argument is in.
func (c *client) FoundTerminator() {
	if c.broken {
		return
	}
	switch c.state {
	case stateCommand:
		line := trimCR(c.buf[c.mark:])
		if len(line) == 0 {
			c.buf = c.buf[:c.mark] // an empty line is ignored, as by Redis
			return
		}
		if line[0] != '*' {
			c.inline(line)
			return
		}
		n, ok := parseInt(line[1:])
		c.buf = c.buf[:c.mark]
		switch {
		case !ok || n > maxArgs:
			c.protocolError("invalid multibulk length")
		case n > 0:
			c.want, c.state = int(n), stateBulkHeader
			c.SetTerminator(chat.Length(c.need()))
		} // *0 and *-1 are empty requests: ignored
	case stateBulkHeader, stateBulkBody:
		if c.want > 0 {
			c.SetTerminator(chat.Length(c.need()))
			return
		}
		c.SetTerminator(lineTerm)
		c.execute()
	} // stateRefused: the chat is refusing the request
}

// trimCR drops the CR of a CRLF line ending.
func trimCR(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		return line[:n-1]
	}
	return line
}

// inline runs a command sent as a line of words, the way people type them
// into telnet or nc. The line is in buf; it is moved aside so the arguments
// can be unquoted into buf.
func (c *client) inline(line []byte) {
	c.line = append(c.line[:0], line...)
	c.buf = c.buf[:c.mark]
	var ok bool
	c.buf, c.spans, ok = splitInline(c.line, c.buf, c.spans)
	if !ok {
		c.protocolError("unbalanced quotes in request")
		return
	}
	if len(c.spans) == 0 {
		return // only spaces
	}
	c.execute()
}

// execute runs the request in buf, queues its reply, and makes ready for the
// next request.
func (c *client) execute() {
	c.argv = c.argv[:0]
	for _, s := range c.spans {
		c.argv = append(c.argv, c.buf[s.start:s.end])
	}
	c.dispatch(c.argv)
	c.flush()

	c.state, c.want, c.mark = stateCommand, 0, 0
	c.spans = c.spans[:0]
	c.buf = c.buf[:0]
	c.release()
}

// release gives back each request buffer that a large request grew past
// its bound, as Redis frees a command's argument vector and shrinks its
// query buffer: so that one request of a million arguments or of a large
// value does not pin its memory for the life of the connection. Each
// buffer is judged on its own — a million empty arguments grow the
// offsets and slices, not the bytes. What is kept is at most keepBuffer
// bytes for each byte buffer and keepArgs arguments.
func (c *client) release() {
	before := c.argvMem()
	if cap(c.buf) > keepBuffer {
		c.buf = nil
		clear(c.argv[:cap(c.argv)]) // they point into the old buffer
	}
	if cap(c.line) > keepBuffer {
		c.line = nil
	}
	if cap(c.spans) > keepArgs {
		c.spans = nil
	}
	if cap(c.argv) > keepArgs {
		c.argv = nil
	}
	c.srv.released(before - c.argvMem())
}

// argvMem is the memory the connection's request buffers hold, by their
// capacity: the arguments, their offsets and slices, an inline line.
func (c *client) argvMem() int {
	return cap(c.buf) + cap(c.line) +
		cap(c.spans)*int(unsafe.Sizeof(span{})) + cap(c.argv)*int(unsafe.Sizeof([]byte(nil)))
}

// flush queues the reply built so far. Push copies it into the chat's
// output queue, so the buffer is reused at once; the replies to the
// requests of one read leave together in one write.
func (c *client) flush() {
	c.Push(c.out)
	c.out = c.out[:0]
	if n := cap(c.out); n > keepBuffer {
		c.out = nil
		c.srv.released(n)
	}
}

// protocolError answers a request that breaks the protocol and closes the
// connection once the answer is written, as Redis does: after a framing
// error there is no telling where the next request starts.
func (c *client) protocolError(msg string) {
	if c.broken {
		return
	}
	c.broken = true
	c.out = appendError(c.out[:0], "ERR Protocol error: "+msg)
	c.flush()
	c.CloseWhenDone()
}

// HandleError is asyncore's handle_error. The chat reports a client that
// went past one of its input limits here, the parser's among them (see
// refuse); such a client gets the protocol error Redis would send before
// the chat closes the connection. Anything else gets the default: log it
// and close.
func (c *client) HandleError(err error) {
	switch {
	case errors.Is(err, chat.ErrMessageTooLarge):
		c.protocolError(c.refusal) // only refuse sets such a length
	case errors.Is(err, chat.ErrLineTooLong):
		c.protocolError("too big inline request")
	default:
		c.AsyncChat.HandleError(err)
	}
}

// Close closes the connection and counts it out of INFO's
// connected_clients. Every path to closing — the peer hanging up, QUIT,
// CloseAll at shutdown — goes through it.
func (c *client) Close() error {
	if c.Fd() >= 0 {
		c.srv.clients--
		slog.Debug("connection closed", "id", c.id)
	}
	return c.AsyncChat.Close()
}

// server is the listening socket and what the connections share: the
// keyspace and a few counters for INFO.
type server struct {
	dispatcher.Dispatcher
	db       *store
	kind     poller.Kind
	port     int
	tls      *tls.Config // -tls-cert, -tls-key: clients speak TLS; nil: plain TCP
	started  time.Time
	clients  int
	lastID   int64
	commands uint64 // INFO's total_commands_processed

	// maxRequest bounds the memory one request takes: its arguments and
	// their bookkeeping (-client-query-buffer-limit).
	maxRequest int

	// freed counts the bytes connections have released since the last
	// time memory was given back to the system; freeing is set while
	// that is scheduled (see released).
	freed   int
	freeing *loop.Timer

	// Scratch for PeekInput (see prefetch.go), and the sum of what it
	// read, kept so that the reads are not optimised away.
	peeked      [][]byte
	prefetched  [prefetchMax]*entry
	prefetchSum uintptr
}

// Giving memory back to the system after large requests: see released.
const (
	// freeAfter is how many bytes connections must have released before
	// the memory is given back.
	freeAfter = 16 << 20
	// freeDelay is how long after the first such release it is given back,
	// so that a burst of large requests costs one collection, not one each.
	freeDelay = time.Second
)

// released notes n bytes of buffers a connection gave up after a large
// request. Go's collector frees them at its next cycle, but a server that
// goes idle after a burst of large requests allocates nothing that would
// start one — the runtime forces one only every two minutes — and returns
// freed memory to the system slowly after that: the process would keep the
// burst's size in RSS for minutes, which an operator takes for a leak. So,
// once freeAfter bytes have been released, the server collects and returns
// free memory to the system (debug.FreeOSMemory) freeDelay later, at most
// once per freeDelay, on a goroutine of its own so that the loop goes on
// serving while the collector works.
func (s *server) released(n int) {
	if n <= 0 {
		return
	}
	s.freed += n
	if s.freed < freeAfter || s.freeing != nil {
		return
	}
	l := s.Map().Loop()
	if l == nil {
		return
	}
	s.freeing = l.AfterFunc(freeDelay, func() {
		s.freed, s.freeing = 0, nil
		go debug.FreeOSMemory()
	})
}

// HandleAccepted wraps each new connection in a client in the listener's
// map, so the same loop serves it.
func (s *server) HandleAccepted(fd int, addr net.Addr) {
	// Replies are written whole; Nagle's algorithm would only hold back
	// a reply that follows one not yet acknowledged. Redis sets it too.
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	s.lastID++
	c := &client{srv: s, id: s.lastID}
	c.Init(c, s.Map())
	c.MaxLine = maxLine
	c.MaxMessage = maxMessage
	c.IdleTimeout = -1 // as Redis's "timeout 0": idle clients stay connected
	c.SetTerminator(lineTerm)
	if err := c.Adopt(fd); err != nil {
		_ = syscall.Close(fd) // on failure the descriptor is still ours
		slog.Warn("cannot serve connection", "peer", addr, "err", err)
		return
	}
	s.clients++ // from here on, Close counts it out
	if s.tls != nil {
		if !tlsflags.Start(c.Socket(), s.tls, c.Close, addr) {
			return
		}
	}
	slog.Debug("connection opened", "id", c.id, "peer", addr)
}

// listen creates the listening socket on addr; with tlsCfg not nil, its
// clients speak TLS.
func listen(m *loop.Map, addr string, tlsCfg *tls.Config) (*server, error) {
	s := &server{db: newStore(), started: time.Now(), maxRequest: *maxRequest, tls: tlsCfg}
	s.Init(s, m)
	// Over the map's MaxConns (-maxclients) a new connection is accepted,
	// told so in Redis's words, and closed.
	// Under TLS the client's first bytes are its handshake, so a refusal
	// in the clear would reach it as a garbled handshake: it is closed
	// without one.
	if tlsCfg == nil {
		s.RejectMessage = []byte("-ERR max number of clients reached\r\n")
	}
	if err := s.ListenTCP(addr); err != nil {
		return nil, err
	}
	if a, ok := s.Addr().(*net.TCPAddr); ok {
		s.port = a.Port
	}
	return s, nil
}

// serve runs the server on addr until ctx is cancelled, then closes every
// socket and the loop. ready, if not nil, receives the bound address once the
// server accepts clients. kind 0 picks the best backend; tlsCfg, if not
// nil, makes every client speak TLS.
func serve(ctx context.Context, addr string, kind poller.Kind, grace time.Duration, tlsCfg *tls.Config, ready func(net.Addr)) error {
	m := loop.NewMap()
	l, err := loop.New(loop.Options{Map: m, Backend: kind, Timeout: -1})
	if err != nil {
		return err
	}
	dispatcher.SetMaxConns(m, *maxClients)
	defer func() {
		_ = dispatcher.CloseAll(m, true) // the listener and every client
		_ = l.Close()
	}()

	s, err := listen(m, addr, tlsCfg)
	if err != nil {
		return err
	}
	s.kind = l.Kind()
	// Active expiry: a timer on the loop, so it never races a command.
	defer l.Every(sweepEvery, s.db.sweep).Stop()

	slog.Info("resp server listening", "addr", s.Addr(), "backend", l.Kind(), "tls", tlsCfg != nil)
	if ready != nil {
		ready(s.Addr())
	}
	// When ctx ends, RunGraceful shuts down: the listener closes, and each
	// client's CloseWhenDone writes the replies to the commands it has
	// read, drops what comes after and closes — Redis just closes; a
	// client here gets its replies first.
	return l.RunGraceful(ctx, grace)
}

// The flags that bound what clients may take, under Redis's names.
var (
	// maxClients is Redis's maxclients: 0 means dispatcher.DefaultMaxConns().
	maxClients = flag.Int("maxclients", 0, "most clients served at once; 0: min(10000, fd limit - 32)")
	// maxRequest is what Redis's client-query-buffer-limit is for: the
	// most memory one request may take, its arguments and 40 bytes of
	// bookkeeping for each. A longer request is a protocol error.
	maxRequest = flag.Int("client-query-buffer-limit", 64<<20, "most bytes one request may take, counting 40 bytes per argument")
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6380", "address to listen on")
	var kind poller.Kind // the best available unless -backend names one
	flag.Var(&kind, "backend", "poller: epoll, kqueue, poll, select or best")
	verbose := flag.Bool("v", false, "log every connection")
	profilePath := flag.String("cpuprofile", "", "write a CPU profile to this file until the server stops")
	grace := flag.Duration("grace", loop.DefaultGrace, "on SIGINT or SIGTERM, how long clients may take to read the replies to the commands already read before they are closed")
	tlsFlags := tlsflags.Register(nil)
	flag.Parse()

	if *verbose {
		slog.SetLogLoggerLevel(slog.LevelDebug)
	}
	tlsCfg, err := tlsFlags.Config()
	if err != nil {
		slog.Error("resp server failed", "err", err)
		os.Exit(2)
	}

	if *profilePath != "" {
		stop, err := cpuprofile.Start(*profilePath)
		if err != nil {
			slog.Error("cannot profile", "err", err)
			os.Exit(1)
		}
		defer stop()
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := serve(ctx, *addr, kind, *grace, tlsCfg, nil); err != nil {
		slog.Error("resp server failed", "err", err)
		os.Exit(1)
	}
	slog.Info("bye")
}
