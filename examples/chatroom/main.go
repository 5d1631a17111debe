// Command chatroom is a multi-user chat server in the asynchat style: every
// connection is an AsyncChat that splits its input into lines, and a room
// relays each line to everyone else.
//
//	go run ./examples/chatroom                 # on 127.0.0.1:7008
//	nc 127.0.0.1 7008                          # or: telnet 127.0.0.1 7008
//	go run ./examples/chatroom -backend poll   # pick the poller
//	go run ./examples/chatroom -tls-cert cert.pem -tls-key key.pem
//	openssl s_client -quiet -connect 127.0.0.1:7008   # a TLS client
//
// A client first chooses a nickname; after that every line it sends reaches
// the others as "<nick> text", and lines starting with "/" are commands
// (/nick, /who, /me, /quit, /help). Lines may end in "\n" (nc) or "\r\n"
// (telnet, nc -C); replies end in "\r\n", which both display well.
//
// What a client sends is shown on the others' terminals, so control
// characters and invalid UTF-8 are shown as visible text before a line is
// relayed (see clean), and nicknames are compared without regard to case
// (see foldNick): nobody can pass for somebody else.
//
// The server protects itself from its clients with AsyncChat's limits: a
// line longer than maxLine gets an error and the connection is closed, and
// a client that stops reading is disconnected once outLimit bytes of chat
// are waiting for it, instead of making the server hold everyone else's
// messages for ever. Flood control paces each client (see floodBurst), and
// a connection has nickTimeout to choose a nickname.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/examples/internal/tlsflags"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
)

const (
	// maxLine is the longest line a client may send, "\r\n" excluded.
	maxLine = 4 << 10
	// outHighWater: above this much queued output the chat stops reading
	// the client's own input. That only slows down the client that is not
	// reading its replies — everyone else's messages still reach it,
	// because the room pushes them regardless.
	outHighWater = 64 << 10
	// outLimit: a client with this much output waiting is not reading at
	// all, and is disconnected. Without it a broadcast server holds every
	// message for its slowest client, without bound.
	outLimit = 256 << 10
	// maxNick is the longest nickname.
	maxNick = 16

	// Flood control, a token bucket per connection, as IRC servers have:
	// every line costs one unit, plus one per full KiB. floodBurst units
	// may be spent at once and floodRate come back each second. A sender
	// with none left is not read from until it has one again, which
	// paces it at floodRate without losing a line; lines it had already
	// sent are relayed on credit, and one that takes it more than
	// floodDebt units into debt disconnects it ("excess flood"). So one
	// client can put at most (floodBurst+floodDebt) KiB-ish in every other
	// member's queue at once, far below outLimit, and a flood cannot get
	// the others disconnected.
	floodBurst = 20
	floodRate  = 5 // units a second
	floodDebt  = 50

	// nickTimeout is how long a new connection has to choose a nickname.
	// People sit in a room without typing, so members have no idle
	// timeout; connections that never join would otherwise hold their
	// slots for ever.
	nickTimeout = 60 * time.Second
)

// config is what serve needs besides the address: the backend and the
// limits above, which tests change.
type config struct {
	backend     poller.Kind // 0: the best available
	floodBurst  int
	floodRate   float64 // 0: no flood control
	floodDebt   int
	nickTimeout time.Duration
	grace       time.Duration // on shutdown, how long clients may take to read what is queued (0: loop.DefaultGrace)
	tls         *tls.Config   // -tls-cert, -tls-key: clients speak TLS; nil: plain TCP
}

// defaultConfig is the configuration main uses, on the given backend.
func defaultConfig(kind poller.Kind) config {
	return config{backend: kind, floodBurst: floodBurst, floodRate: floodRate, floodDebt: floodDebt, nickTimeout: nickTimeout, grace: loop.DefaultGrace}
}

const help = `* Commands:
*   /nick NAME   change your nickname
*   /who         list who is here
*   /me ACTION   tell the room what you are doing
*   /quit        leave
*   /stats       the server's counters
*   /help        this text
* Anything else you type is sent to everyone else.`

// room is the chat room: the clients that have chosen a nickname. It lives
// in the loop's goroutine, like the clients, so it needs no locking.
type room struct {
	members map[string]*client // by foldNick(nickname)
	cfg     config

	// Messages waiting to be broadcast. Pushing to one client can close it
	// (ErrOutputLimit, or a broken connection), and its "has left" notice
	// is itself a broadcast: queueing it here delivers it after the
	// message being sent, instead of recursing into the middle of it.
	queue   []message
	sending bool
	closed  bool // the server is shutting down: no more notices
}

// message is one line to send to every member except from.
type message struct {
	from *client
	line []byte // with its "\r\n"
}

// broadcast sends line to every member except from (nil: to everyone).
func (r *room) broadcast(from *client, line string) {
	if r.closed {
		return
	}
	r.queue = append(r.queue, message{from, []byte(line + "\r\n")})
	if r.sending {
		return // the loop below is already running, further up the stack
	}
	r.sending = true
	for len(r.queue) > 0 {
		m := r.queue[0]
		r.queue = r.queue[1:]
		for _, c := range r.members { // a member that leaves meanwhile is skipped
			if c != m.from {
				c.Push(m.line) // copied or written at once: m.line is not kept
			}
		}
	}
	r.queue, r.sending = nil, false
}

// nicks returns the members' nicknames as they chose them, sorted without
// regard to case.
func (r *room) nicks() []string {
	keys := make([]string, 0, len(r.members))
	for key := range r.members {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	names := make([]string, len(keys))
	for i, key := range keys {
		names[i] = r.members[key].nick
	}
	return names
}

// checkNick returns why name cannot be c's nickname, or "" if it can. A
// nickname is taken if another member's differs from it only in case.
func (r *room) checkNick(c *client, name string) string {
	switch {
	case name == "":
		return "* a nickname is required"
	case !validNick(name):
		return fmt.Sprintf("* invalid nickname: use 1-%d letters, digits, '-' or '_'", maxNick)
	}
	if m := r.members[foldNick(name)]; m != nil && m != c {
		return "* nickname taken: " + name
	}
	return ""
}

// foldNick is the key nicknames are compared by: each character replaced by
// the smallest one it is equal to under Unicode simple case folding, so
// that two nicknames have the same key exactly when strings.EqualFold says
// they are equal — as IRC servers compare nicknames without regard to case.
// (Nicknames are ASCII today, where this is plain lower-casing up to the
// choice of case; the folding keeps the rule right if they grow.)
func foldNick(name string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, name)
}

// clean makes a line from a client safe to show on the others' terminals.
// Control characters are shown as visible text rather than acted on, so a
// client cannot start a line of its own that looks like someone else's
// (a CR followed by "<alice> …"), move the cursor, retitle a window, or
// recolour the screen: C0 controls and DEL in caret notation (CR is "^M",
// ESC "^["), the C1 controls, the line and paragraph separators and the
// bidirectional formatting characters (which can make text display in
// another order than it reads) as "<U+XXXX>". Bytes that are not UTF-8
// become U+FFFD. TAB and everything else pass unchanged.
func clean(line string) string {
	i := 0
	for i < len(line) && line[i] >= 0x20 && line[i] < 0x7f || i < len(line) && line[i] == '\t' {
		i++
	}
	if i == len(line) {
		return line // printable ASCII: the common case costs nothing
	}
	var b strings.Builder
	b.Grow(len(line) + 16)
	b.WriteString(line[:i])
	for i < len(line) {
		r, size := utf8.DecodeRuneInString(line[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case r == '\t':
			b.WriteByte('\t')
		case r < 0x20:
			b.WriteByte('^')
			b.WriteByte(byte(r) + '@')
		case r == 0x7f:
			b.WriteString("^?")
		case r >= 0x80 && r < 0xa0, r == 0x2028, r == 0x2029, bidiControl(r):
			fmt.Fprintf(&b, "<U+%04X>", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// bidiControl reports the characters that change the display order of
// text: the Arabic letter mark, the left-to-right and right-to-left marks,
// embeddings, overrides and isolates.
func bidiControl(r rune) bool {
	return r == 0x061c || r == 0x200e || r == 0x200f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

// validNick reports whether name is 1 to maxNick ASCII letters, digits,
// '-' or '_': nothing that could pass for another user's message or a
// terminal escape.
func validNick(name string) bool {
	if len(name) == 0 || len(name) > maxNick {
		return false
	}
	for _, b := range []byte(name) {
		ok := b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_'
		if !ok {
			return false
		}
	}
	return true
}

// join makes c a member under its nickname and tells everyone.
func (r *room) join(c *client) {
	r.members[foldNick(c.nick)] = c
	c.member = true
	slog.Debug("joined", "nick", c.nick, "peer", c.Addr())
	c.say(fmt.Sprintf("* Hello %s! Here now: %s. Type /help for commands.", c.nick, strings.Join(r.nicks(), ", ")))
	r.broadcast(c, "* "+c.nick+" has joined")
}

// leave removes c from the room, if it is a member, and tells the others.
// It is called on every way out — /quit, an error, the connection closing —
// and does something only the first time.
func (r *room) leave(c *client) {
	if !c.member {
		return
	}
	c.member = false
	delete(r.members, foldNick(c.nick))
	slog.Debug("left", "nick", c.nick, "peer", c.Addr())
	r.broadcast(c, "* "+c.nick+" has left")
}

// client is one connection. Embedding AsyncChat gives it asynchat's
// model: the default collector gathers a line, FoundTerminator acts on it,
// and Push queues replies that are written when the socket can take them.
type client struct {
	chat.AsyncChat
	room   *room
	nick   string // "" until the client has chosen one
	member bool   // in room.members

	// Flood control (see floodBurst): the units the client may spend,
	// negative when in debt, as of allowanceAt (loop.Loop.Now).
	allowance   float64
	allowanceAt time.Duration
	throttled   bool        // not read from until the allowance is back
	unthrottle  *loop.Timer // ends throttled
	nickTimer   *loop.Timer // closes the connection if no nickname comes
}

// newClient prepares a chat for a connection in map m; the caller adopts
// the socket.
func newClient(r *room, m *loop.Map) *client {
	c := &client{room: r}
	c.Init(c, m)
	c.SetTerminator(chat.DelimiterString("\n"))
	c.MaxLine = maxLine + 1 // the "\r" of a "\r\n" line is part of the frame
	c.OutHighWater = outHighWater
	c.OutLimit = outLimit
	// People sit in a chat room without typing: no idle timeout. A line
	// begun and never finished is still bounded by the chat's FrameTimeout.
	c.IdleTimeout = -1
	c.allowance = float64(r.cfg.floodBurst)
	return c
}

// start begins the client's clocks once its socket is adopted: the flood
// allowance, and the time it has to choose a nickname.
func (c *client) start() {
	l := c.Map().Loop()
	if l == nil {
		return
	}
	c.allowanceAt = l.Now()
	if to := c.room.cfg.nickTimeout; to > 0 {
		c.nickTimer = l.AfterFunc(to, func() {
			c.nickTimer = nil
			if !c.member && c.Fd() >= 0 {
				c.say("* no nickname chosen in time; bye")
				c.CloseWhenDone()
			}
		})
	}
}

// spend charges the allowance for one line of n bytes and reports whether
// the line may be acted on. When the allowance runs out the client is not
// read from until one unit has come back; a line that goes more than
// floodDebt units into debt disconnects it.
func (c *client) spend(n int) bool {
	cfg := &c.room.cfg
	l := c.Map().Loop()
	if cfg.floodRate <= 0 || l == nil {
		return true
	}
	c.refill()
	c.allowance -= float64(1 + n/1024)
	if c.allowance < -float64(cfg.floodDebt) {
		c.logPeer("excess flood; closing")
		c.Hooks().CountLimitClose()
		c.say("* excess flood")
		c.room.leave(c)
		c.CloseWhenDone()
		return false
	}
	if c.allowance < 1 && !c.throttled {
		c.throttled = true
		c.UpdateInterest()
		c.waitForAllowance()
	}
	return true
}

// refill adds what the allowance has earned since it was last brought up to
// date, up to floodBurst.
func (c *client) refill() {
	cfg := &c.room.cfg
	now := c.Map().Loop().Now()
	c.allowance = min(float64(cfg.floodBurst), c.allowance+(now-c.allowanceAt).Seconds()*cfg.floodRate)
	c.allowanceAt = now
}

// waitForAllowance sets a timer for when the allowance is back to one unit,
// as far as is known now; lines already read may spend more meanwhile, so
// the timer looks again before it lets the client be read.
func (c *client) waitForAllowance() {
	wait := max(time.Millisecond, time.Duration((1-c.allowance)/c.room.cfg.floodRate*float64(time.Second)))
	c.unthrottle = c.Map().Loop().AfterFunc(wait, func() {
		c.unthrottle = nil
		if c.Fd() < 0 {
			return
		}
		if c.refill(); c.allowance < 1 {
			c.waitForAllowance()
			return
		}
		c.throttled = false
		c.UpdateInterest()
	})
}

// Readable is false while flood control holds the client back, on top of
// AsyncChat's own reasons.
func (c *client) Readable() bool { return !c.throttled && c.AsyncChat.Readable() }

// say sends one line to this client.
func (c *client) say(line string) { c.Push([]byte(line + "\r\n")) }

// FoundTerminator is called for each line: asynchat's found_terminator.
// TakeData returns the line without its "\n"; a "\r" before it (telnet,
// nc -C) is dropped too.
func (c *client) FoundTerminator() {
	line := strings.TrimSuffix(string(c.TakeData()), "\r")
	if !c.spend(len(line)) {
		return
	}
	switch {
	case !c.member:
		c.chooseNick(strings.TrimSpace(line))
	case strings.HasPrefix(line, "/"):
		c.command(line)
	case strings.TrimSpace(line) != "":
		c.room.broadcast(c, "<"+c.nick+"> "+clean(line))
	}
}

// chooseNick handles the first line(s): the nickname, asked again until it
// is one the room accepts.
func (c *client) chooseNick(name string) {
	if why := c.room.checkNick(c, name); why != "" {
		c.say(why)
		c.say("Your nickname?")
		return
	}
	c.nick = name
	if c.nickTimer != nil {
		c.nickTimer.Stop()
		c.nickTimer = nil
	}
	c.room.join(c)
}

// command carries out a line that starts with "/".
func (c *client) command(line string) {
	cmd, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimSpace(arg)
	switch strings.ToLower(cmd) {
	case "/nick":
		switch why := c.room.checkNick(c, arg); {
		case arg == c.nick:
			c.say("* you are already " + arg)
		case why != "":
			c.say(why)
		default: // a new nickname, or the same one in other case
			old := c.nick
			delete(c.room.members, foldNick(old))
			c.nick = arg
			c.room.members[foldNick(arg)] = c
			c.say("* you are now " + arg)
			c.room.broadcast(c, "* "+old+" is now known as "+arg)
		}
	case "/who":
		c.say("* here now: " + strings.Join(c.room.nicks(), ", "))
	case "/me":
		if arg == "" {
			c.say("* usage: /me ACTION")
			return
		}
		c.room.broadcast(c, "* "+c.nick+" "+clean(arg))
	case "/quit":
		c.say("* Bye, " + c.nick + "!")
		c.room.leave(c)
		c.CloseWhenDone() // the goodbye is written, then the socket closed
	case "/stats":
		c.say(stats(c))
	case "/help":
		c.say(strings.ReplaceAll(help, "\n", "\r\n"))
	default:
		c.say("* unknown command " + clean(cmd) + "; /help lists the commands")
	}
}

// stats is the /stats reply: the loop's Stats, the map's connection
// counters (dispatcher.Stats) and this connection's ChannelStats, one
// "* name value" line each.
func stats(c *client) string {
	st := c.Map().Loop().Stats()
	cs := dispatcher.Stats(c.Map())
	me := c.ChannelStats()
	lines := []string{
		fmt.Sprintf("* members %d, connections %d (max %d)", len(c.room.members), cs.Conns, dispatcher.MaxConns(c.Map())),
		fmt.Sprintf("* accepted %d, rejected %d, shed %d", cs.Accepted, cs.Rejected, cs.Shed),
		fmt.Sprintf("* bytes in %d, out %d; buffered in %d, out %d", st.BytesIn, st.BytesOut, st.InBuffered, st.OutBuffered),
		fmt.Sprintf("* timeouts %d, limit disconnections %d, panics recovered %d", cs.Timeouts, cs.LimitCloses, st.Panics),
		fmt.Sprintf("* loop iterations %d, wakeups %d, events %d", st.Iterations, st.Wakeups, st.Events),
		fmt.Sprintf("* you: bytes in %d, out %d", me.BytesIn, me.BytesOut),
	}
	return strings.Join(lines, "\r\n")
}

// HandleError is asyncore's handle_error. Two errors are the chat's limits
// at work and get their own treatment; anything else takes the default,
// which logs it and closes the connection.
func (c *client) HandleError(err error) {
	switch {
	case errors.Is(err, chat.ErrLineTooLong):
		// Keeping the channel open lets the chat write this line before it
		// closes (it calls CloseWhenDone after HandleError returns).
		c.logPeer("line too long; closing")
		c.say("* line too long")
		c.room.leave(c)
	case errors.Is(err, chat.ErrOutputLimit):
		// The client is not reading. Its queue has been dropped and the
		// chat closes the socket when HandleError returns; Close tells the
		// room.
		c.logPeer("client not reading; disconnected")
	default:
		c.AsyncChat.HandleError(err)
	}
}

// logPeer logs, at debug level, a limit the client ran into. A client can
// run into them on purpose, as often as it likes, so the lines go through
// the loop's LogGate: at most a few a second, and the next one says how
// many were held back.
func (c *client) logPeer(msg string) {
	l := c.Map().Loop()
	if l == nil || !slog.Default().Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	if ok, held := l.PeerLog().Allow(l.Now()); ok {
		slog.Debug(msg, "nick", c.nick, "peer", c.Addr(), "suppressed", held)
	}
}

// Close closes the connection and takes the client out of the room, however
// the connection ends: EOF and errors reach it through HandleClose, the
// output limit directly, and shutdown through CloseWhenDone (or, at the
// grace period's end, the loop's forced close).
func (c *client) Close() error {
	c.room.leave(c)
	for _, t := range []**loop.Timer{&c.nickTimer, &c.unthrottle} {
		if *t != nil {
			(*t).Stop()
			*t = nil
		}
	}
	return c.AsyncChat.Close()
}

// HandleShutdown is the client's goodbye when the server shuts down
// gracefully (dispatcher.ShutdownHandler): every connection, member or
// not, is told, after the lines already queued for it. The room sends no
// notices from then on: the departures that follow are the shutdown's.
// Dispatcher.BeginShutdown, which calls it, then closes the connection
// once everything queued has been written (CloseWhenDone).
func (c *client) HandleShutdown() {
	c.room.closed = true
	c.say("* the server is shutting down")
}

// server is the listening socket.
type server struct {
	dispatcher.Dispatcher
	room *room
}

// HandleAccepted wraps each new connection in a client in the listener's
// map and asks for a nickname.
func (s *server) HandleAccepted(fd int, addr net.Addr) {
	c := newClient(s.room, s.Map())
	if err := c.Adopt(fd); err != nil {
		_ = syscall.Close(fd) // on failure the descriptor is still ours
		slog.Warn("cannot serve connection", "peer", addr, "err", err)
		return
	}
	// With a certificate the connection speaks TLS from its first byte;
	// the welcome below waits, encrypted, for the handshake to finish.
	if cfg := s.room.cfg.tls; cfg != nil {
		if !tlsflags.Start(c.Socket(), cfg, c.Close, addr) {
			return
		}
	}
	// Chat lines are small and go out one write each. With Nagle's
	// algorithm a second line waits for the peer to acknowledge the first,
	// which a delayed ACK holds back for up to 40 ms (RFC 1122 §4.2.3.2):
	// an interactive server turns it off, as Go's net package does.
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	slog.Debug("connection opened", "peer", addr)
	c.start()
	c.say("Welcome! Your nickname?")
}

// listen creates the listening socket on addr and returns its bound address
// (with the real port if addr asked for port 0).
func listen(m *loop.Map, r *room, addr string) (net.Addr, error) {
	s := &server{room: r}
	s.Init(s, m)
	// Under TLS the client's first bytes are its handshake, so a refusal
	// in the clear would reach it as a garbled handshake: it is closed
	// without one.
	if r.cfg.tls == nil {
		s.RejectMessage = []byte("* the room is full, try again later\r\n")
	}
	if err := s.ListenTCP(addr); err != nil {
		return nil, err
	}
	return s.Addr(), nil
}

// serve runs the chat server on addr until ctx is cancelled, then closes
// every socket and the loop. ready, if not nil, receives the bound address
// once the server accepts clients. kind 0 picks the best backend.
func serve(ctx context.Context, addr string, cfg config, ready func(net.Addr)) error {
	m := loop.NewMap()
	l, err := loop.New(loop.Options{Map: m, Backend: cfg.backend, Timeout: -1})
	if err != nil {
		return err
	}
	r := &room{members: map[string]*client{}, cfg: cfg}
	defer func() {
		// After RunGraceful the map is empty; if the loop stopped another
		// way, close what is left, without notices.
		r.closed = true
		_ = dispatcher.CloseAll(m, true) // the listener and every client
		_ = l.Close()
	}()

	bound, err := listen(m, r, addr)
	if err != nil {
		return err
	}
	slog.Info("chat server listening", "addr", bound, "backend", l.Kind(), "tls", cfg.tls != nil)
	if ready != nil {
		ready(bound)
	}

	// When ctx ends, RunGraceful shuts down: the listener closes, and every
	// client gets what is queued for it, then the goodbye (HandleShutdown),
	// then EOF.
	return l.RunGraceful(ctx, cfg.grace)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7008", "address to listen on")
	var kind poller.Kind // the best available unless -backend names one
	flag.Var(&kind, "backend", "poller: epoll, kqueue, poll, select or best")
	verbose := flag.Bool("v", false, "log connections, joins and departures")
	cfg := defaultConfig(0)
	flag.DurationVar(&cfg.grace, "grace", loop.DefaultGrace, "on SIGINT or SIGTERM, how long clients may take to read what is queued for them, the goodbye included, before they are closed")
	tlsFlags := tlsflags.Register(nil)
	flag.Parse()
	cfg.backend = kind

	if *verbose {
		slog.SetLogLoggerLevel(slog.LevelDebug)
	}
	var err error
	if cfg.tls, err = tlsFlags.Config(); err != nil {
		slog.Error("chat server failed", "err", err)
		os.Exit(2)
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := serve(ctx, *addr, cfg, nil); err != nil {
		slog.Error("chat server failed", "err", err)
		os.Exit(1)
	}
	slog.Info("bye")
}
