package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/loop"
)

// Limits on what one session holds.
const (
	// maxCommandLine is the longest command line, CRLF included
	// (RFC 5321 §4.5.3.1.4).
	maxCommandLine = 512
	// defaultMaxRecipients bounds the RCPT commands of one transaction
	// (-max-rcpt), as Postfix's smtpd_recipient_limit; RFC 5321
	// §4.5.3.1.8 asks servers to accept at least 100.
	defaultMaxRecipients = 1000
	// maxPath is the longest reverse- or forward-path, brackets included
	// (RFC 5321 §4.5.3.1.3). With the recipient limit it bounds what a
	// session's recipient list holds.
	maxPath = 256
)

// Replies used in more than one place.
const (
	helpCommands  = "Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP"
	needHelo      = "503 Error: send HELO first"
	needMail      = "503 Error: need MAIL command"
	syntaxMail    = "501 Syntax: MAIL FROM:<address>"
	syntaxRcpt    = "501 Syntax: RCPT TO:<address>"
	extendedParam = " [SP <mail-parameters>]"
	localError    = "451 Requested action aborted: local error in processing"
	pathTooLong   = "501 Error: path too long"              // RFC 5321 §4.5.3.1.10
	noStorage     = "452 4.3.1 Insufficient system storage" // RFC 3463: mail system full
)

// helpTopics answers "HELP command".
var helpTopics = map[string]string{
	"EHLO": "EHLO hostname",
	"HELO": "HELO hostname",
	"MAIL": "MAIL FROM:<address> [SIZE=n] [BODY=7BIT|8BITMIME]",
	"RCPT": "RCPT TO:<address>",
	"DATA": "DATA",
	"RSET": "RSET",
	"NOOP": "NOOP [string]",
	"QUIT": "QUIT",
	"VRFY": "VRFY <address>",
	"HELP": "HELP [command]",
}

var crlf = []byte("\r\n")

// session is one SMTP connection: Python's smtpd.SMTPChannel. Its
// terminator is always CRLF: in the command state each line is a command;
// after DATA each line is a line of the message, up to the line holding a
// single ".".
//
// Python's smtpd switched the terminator to "\r\n.\r\n" for DATA. That
// never matches a message that ends at once — "DATA\r\n.\r\n" — because
// the command terminator has already consumed the CRLF the "." line
// follows, and such a client waits for a reply forever. Reading lines is
// how RFC 5321 §4.5.2 describes the end of the data and its transparency,
// and it turns both into a test of the first byte of a line.
type session struct {
	chat.AsyncChat
	srv  *server
	peer net.Addr

	helo  string   // the HELO or EHLO argument; "" until the client sends one
	esmtp bool     // the client said EHLO
	tls   bool     // STARTTLS was accepted: the session speaks TLS
	from  string   // the reverse-path with its brackets; "" before MAIL, "<>" for the null sender
	rcpts []string // the forward-paths, with their brackets

	// The command state.
	line    []byte // the command line so far
	tooLong bool   // the line went over maxCommandLine: it is not stored

	// The DATA state.
	inData  bool
	msg     *message // the file the message is written to; nil once refused
	size    int      // bytes of the message so far, transparency dots removed
	lineLen int      // bytes received of the current line, without its CRLF
	dot     bool     // the current line began with "."
	tooBig  bool     // the message went over the size limit: it is not stored

	// A message being committed (see endData): its reply has not been
	// sent, so input is not read, and what the last read held after the
	// message waits in held until the reply has gone.
	commit *commitJob
	held   []byte // input framed during the commit, lines ending in CRLF
	quit   bool   // QUIT was answered: held input is dropped

	// The server began a graceful shutdown during a commit: the session
	// says goodbye once the commit's reply is queued (see BeginShutdown).
	shutdown bool
}

// reply queues one reply line; Push adds nothing, so the CRLF is ours.
// Replies pushed while the session handles input leave in one write.
func (s *session) reply(line string) {
	s.Push(append([]byte(line), crlf...))
}

// replyf is reply with a format.
func (s *session) replyf(format string, args ...any) {
	s.reply(fmt.Sprintf(format, args...))
}

// CollectIncomingData is asynchat's collect_incoming_data. It stores at
// most a command line's or a message's worth of input and, past that,
// discards the rest of the frame, so the reply can come when the frame
// ends and the session can go on — as Python's smtpd does. The chat's own
// MaxLine and MaxMessage limits would close the connection instead.
func (s *session) CollectIncomingData(data []byte) {
	if s.commit != nil {
		s.held = append(s.held, data...)
		return
	}
	if !s.inData {
		if s.tooLong || len(s.line)+len(data)+len(crlf) > maxCommandLine {
			s.tooLong = true
			return
		}
		s.line = append(s.line, data...)
		return
	}
	if s.lineLen == 0 && data[0] == '.' { // pieces are never empty
		// RFC 5321 §4.5.2: a leading "." is the end of the data if it is
		// alone on its line, and was added by the client otherwise.
		// Either way it is not part of the message.
		s.dot = true
		s.lineLen++
		data = data[1:]
	}
	s.lineLen += len(data)
	s.store(data)
}

// store appends b to the message, which goes to its file in tmp/ a chunk
// at a time, so a session holds little of it in memory. If b would make the
// message larger than the size limit, the message is dropped instead, its
// file removed at once: the rest of it is read and counted, and its end is
// answered with 552.
func (s *session) store(b []byte) {
	if s.tooBig || len(b) == 0 {
		return
	}
	if s.size+len(b) > s.srv.size {
		s.tooBig = true
		s.dropMessage()
		return
	}
	s.size += len(b)
	if s.msg != nil {
		s.msg.write(b)
	}
}

// dropMessage removes the file of the message under way, if any.
func (s *session) dropMessage() {
	if s.msg != nil {
		s.msg.abort()
		s.msg = nil
		s.srv.open--
	}
}

// HandleRead reads and frames input as the chat does, then writes what the
// message under way gathered from this read: between reads a session holds
// no part of a message in memory.
//
// While a message is being committed it does not read at all (Readable is
// false, but a hang-up still calls HandleRead): the client's next commands
// must not be answered before that message is.
func (s *session) HandleRead() {
	if s.commit != nil {
		return
	}
	s.AsyncChat.HandleRead()
	if s.msg != nil {
		s.msg.flush()
	}
}

// FoundTerminator is asynchat's found_terminator: a line has ended.
func (s *session) FoundTerminator() {
	if s.commit != nil {
		s.held = append(s.held, crlf...)
		return
	}
	if s.inData {
		end := s.dot && s.lineLen == 1
		s.lineLen, s.dot = 0, false
		if end {
			s.endData()
		} else {
			s.store(crlf)
		}
		return
	}
	line, tooLong := string(s.line), s.tooLong
	s.line, s.tooLong = s.line[:0], false
	if tooLong {
		s.reply("500 Error: line too long")
		return
	}
	s.command(line)
}

// command runs one command line.
func (s *session) command(line string) {
	// A bare CR or LF would let a HELO or an address break the header
	// lines written with the message.
	if line == "" || strings.ContainsAny(line, "\r\n\x00") {
		s.reply("500 Error: bad syntax")
		return
	}
	verb, arg, _ := strings.Cut(line, " ")
	verb, arg = strings.ToUpper(verb), strings.TrimSpace(arg)
	switch verb {
	case "HELO", "EHLO":
		s.hello(verb, arg)
	case "MAIL":
		s.mail(arg)
	case "RCPT":
		s.rcpt(arg)
	case "DATA":
		s.data(arg)
	case "RSET":
		if arg != "" {
			s.reply("501 Syntax: RSET")
			return
		}
		s.reset()
		s.reply("250 OK")
	case "NOOP": // RFC 5321 §4.1.1.9: an argument is allowed and ignored
		s.reply("250 OK")
	case "VRFY":
		if arg == "" {
			s.reply("501 Syntax: VRFY <address>")
			return
		}
		s.reply("252 Cannot VRFY user, but will accept message and attempt delivery")
	case "HELP":
		s.help(arg)
	case "QUIT":
		s.quit = true
		s.reply("221 Bye")
		s.CloseWhenDone() // input after QUIT is read and ignored
	case "STARTTLS":
		s.startTLS(arg)
	case "EXPN", "TURN", "ETRN", "AUTH":
		s.replyf("502 Error: %s not implemented", verb)
	default:
		s.replyf("500 Error: command %q not recognized", verb)
	}
}

// hello handles HELO and EHLO.
func (s *session) hello(verb, arg string) {
	if arg == "" {
		s.replyf("501 Syntax: %s hostname", verb)
		return
	}
	// A second HELO or EHLO resets the session as RSET does (RFC 5321
	// §4.1.4); Python's smtpd refused it with 503 (bpo-21783).
	s.reset()
	s.helo, s.esmtp = arg, verb == "EHLO"
	if !s.esmtp {
		s.replyf("250 %s", s.srv.hostname)
		return
	}
	s.replyf("250-%s", s.srv.hostname)
	s.replyf("250-SIZE %d", s.srv.size) // RFC 1870
	if s.srv.tls != nil && !s.tls {
		s.reply("250-STARTTLS") // RFC 3207: offered once, and only with a certificate
	}
	s.reply("250 8BITMIME") // RFC 6152: bytes are stored as they come
}

// mail handles MAIL FROM:<address> [SIZE=n] [BODY=7BIT|8BITMIME].
func (s *session) mail(arg string) {
	if s.helo == "" {
		s.reply(needHelo)
		return
	}
	syntax := syntaxMail
	if s.esmtp {
		syntax += extendedParam
	}
	path, params, ok := parsePath(arg, "FROM:")
	if !ok || (len(params) > 0 && !s.esmtp) {
		s.reply(syntax)
		return
	}
	if len(path) > maxPath {
		s.reply(pathTooLong)
		return
	}
	if s.from != "" {
		s.reply("503 Error: nested MAIL command")
		return
	}
	declared := int64(0)
	for _, p := range params {
		key, value, _ := strings.Cut(p, "=")
		switch strings.ToUpper(key) {
		case "SIZE": // RFC 1870: the client's estimate of the message size
			n, err := strconv.ParseUint(value, 10, 64)
			if err != nil && !errors.Is(err, strconv.ErrRange) {
				s.reply(syntax)
				return
			}
			if n > uint64(s.srv.size) { // ErrRange leaves n at its maximum
				s.reply("552 Error: message size exceeds fixed maximum message size")
				return
			}
			declared = int64(n)
		case "BODY": // RFC 6152
			if v := strings.ToUpper(value); v != "7BIT" && v != "8BITMIME" {
				s.reply("501 Error: BODY can only be one of 7BIT, 8BITMIME")
				return
			}
		default:
			s.reply("555 MAIL FROM parameters not recognized or not implemented")
			return
		}
	}
	if !s.srv.space.enough(declared) {
		s.reply(noStorage)
		return
	}
	s.from = path
	s.reply("250 OK")
}

// rcpt handles RCPT TO:<address>.
func (s *session) rcpt(arg string) {
	if s.helo == "" {
		s.reply(needHelo)
		return
	}
	if s.from == "" {
		s.reply(needMail)
		return
	}
	syntax := syntaxRcpt
	if s.esmtp {
		syntax += extendedParam
	}
	path, params, ok := parsePath(arg, "TO:")
	if !ok || path == "<>" || (len(params) > 0 && !s.esmtp) {
		s.reply(syntax)
		return
	}
	if len(params) > 0 {
		s.reply("555 RCPT TO parameters not recognized or not implemented")
		return
	}
	if len(path) > maxPath {
		s.reply(pathTooLong)
		return
	}
	most := s.srv.maxRcpt
	if most <= 0 {
		most = defaultMaxRecipients
	}
	if len(s.rcpts) >= most {
		s.reply("452 Error: too many recipients") // RFC 5321 §4.5.3.1.10
		return
	}
	s.rcpts = append(s.rcpts, path)
	s.reply("250 OK")
}

// data handles DATA: from the 354 reply on, lines are the message.
func (s *session) data(arg string) {
	switch {
	case s.helo == "":
		s.reply(needHelo)
	case s.from == "":
		s.reply(needMail)
	case len(s.rcpts) == 0:
		s.reply("503 Error: need RCPT command")
	case arg != "":
		s.reply("501 Syntax: DATA")
	case !s.srv.space.enough(0):
		s.reply(noStorage)
	case s.srv.maxOpen > 0 && s.srv.open >= s.srv.maxOpen:
		s.srv.warn("too many messages in progress, DATA refused", "peer", s.peer, "max", s.srv.maxOpen)
		s.reply("451 4.3.2 Too many messages in progress, try again later")
	default:
		name := s.srv.box.uniqueName()
		msg, err := s.srv.box.create(name)
		if err != nil {
			// Out of descriptors, say: not a bug of ours, and a
			// client can cause it, so not an error, and not a log
			// line per client.
			s.srv.warn("cannot create message file", "peer", s.peer, "err", err)
			s.reply(localError)
			return
		}
		s.srv.open++
		s.inData, s.msg, s.size = true, msg, 0
		msg.write(s.trace(name))
		s.reply("354 End data with <CR><LF>.<CR><LF>")
	}
}

// endData is called at the line holding a single ".". It refuses the
// message, or hands it to the commit workers, and ends the transaction
// either way.
//
// The 250 promises that the message is on disk, so it waits for the fsync,
// which is done off the loop (see committer). Until the reply is sent the
// session reads nothing and holds what it has framed already: a client
// that pipelines its next commands gets their replies after this one, in
// order. If the client goes away meanwhile the message is delivered all the
// same — it was complete, and a duplicate is the lesser harm than a loss
// (RFC 1047) — and the result is dropped.
//
// Python's smtpd also counted a message past its limit and answered 552 at
// its end, but then stayed in the DATA state, so the client's next
// commands became the start of another message.
func (s *session) endData() {
	defer s.reset()
	if s.tooBig {
		s.reply("552 Error: Too much mail data")
		return
	}
	msg := s.msg
	s.msg = nil
	msg.flush() // the last chunk is written here, on the loop, like the others
	job := &commitJob{msg: msg}
	from, rcpts, size := s.from, len(s.rcpts), s.size
	l := s.Map().Loop()
	done := func(err error) {
		if l == nil || l.Post(func() { s.srv.open--; s.committed(job, err, from, rcpts, size) }) != nil {
			return // the server is stopping: there is no one to tell
		}
	}
	s.commit = job
	s.UpdateInterest()
	if !s.srv.commits.submit(msg, done) {
		s.commit = nil
		s.UpdateInterest()
		msg.abort()
		s.srv.open--
		s.srv.warn("commit queue full, message refused", "peer", s.peer)
		s.reply("451 4.3.0 Too many messages being written, try again later")
	}
}

// committed runs on the loop goroutine when a commit worker is done with
// job: it sends the reply the client waits for, then goes on with the
// input held meanwhile.
func (s *session) committed(job *commitJob, err error, from string, rcpts, size int) {
	if s.commit != job || s.Fd() < 0 {
		return // the session was closed meanwhile
	}
	s.commit = nil
	if err != nil {
		slog.Error("cannot deliver message", "peer", s.peer, "err", err)
		s.reply(localError)
	} else {
		slog.Info("message received", "id", job.msg.name, "peer", s.peer, "from", from, "rcpts", rcpts, "bytes", size)
		s.replyf("250 OK: queued as %s", job.msg.name)
	}
	if s.shutdown {
		s.held = nil // commands pipelined after the message are not run
		s.AsyncChat.BeginShutdown()
		return
	}
	s.replay()
	s.UpdateInterest()
}

// replay frames the input held during a commit as the chat would have: each
// line to CollectIncomingData and FoundTerminator, and a last partial line
// to CollectIncomingData only, the chat bringing the rest of it. It stops
// if a held line ends another message, to go on when that one is
// committed.
func (s *session) replay() {
	for len(s.held) > 0 && s.commit == nil && !s.quit && s.Fd() >= 0 {
		line, rest, whole := bytes.Cut(s.held, crlf)
		s.held = rest
		if len(line) > 0 {
			s.CollectIncomingData(line)
		}
		if whole {
			s.FoundTerminator()
		}
	}
	if s.commit == nil {
		s.held = nil
	}
}

// trace returns the header lines written above the message: a Received
// line (RFC 5321 §4.4) and the envelope, which the message itself may not
// show.
func (s *session) trace(id string) []byte {
	proto := "SMTP"
	switch {
	case s.esmtp && s.tls:
		proto = "ESMTPS" // RFC 3848: ESMTP under STARTTLS
	case s.esmtp:
		proto = "ESMTP"
	}
	peer, ip := "unknown", "unknown"
	if s.peer != nil {
		peer = s.peer.String()
		ip = peer
		if host, _, err := net.SplitHostPort(peer); err == nil {
			ip = host
		}
	}
	return fmt.Appendf(nil, "Received: from %s ([%s]) by %s (asyncore-go smtpd) with %s id %s; %s\r\n"+
		"X-Peer: %s\r\nX-Mail-From: %s\r\nX-Rcpt-To: %s\r\n",
		s.helo, ip, s.srv.hostname, proto, id, time.Now().Format(time.RFC1123Z),
		peer, s.from, strings.Join(s.rcpts, ", "))
}

// reset ends the transaction: Python's _set_rset_state. The greeting is
// kept.
func (s *session) reset() {
	s.from, s.rcpts = "", nil
	s.dropMessage()
	s.inData, s.size, s.tooBig = false, 0, false
	s.lineLen, s.dot = 0, false
}

// help handles HELP [command].
func (s *session) help(arg string) {
	if arg == "" {
		s.reply("214 " + helpCommands)
		return
	}
	if topic, ok := helpTopics[strings.ToUpper(arg)]; ok {
		s.reply("214 Syntax: " + topic)
		return
	}
	s.reply("501 " + helpCommands)
}

// BeginShutdown is the session's part of a graceful shutdown (the loop
// calls it on every channel). A session waiting for a message's commit
// lets it finish: the client is owed its 250 (or 451), which committed
// sends, and only then the goodbye. Any other session says goodbye at once
// (HandleShutdown) and closes once it has been written (CloseWhenDone).
func (s *session) BeginShutdown() {
	if s.commit != nil {
		s.shutdown = true
		return
	}
	s.AsyncChat.BeginShutdown()
}

// HandleShutdown says goodbye: RFC 5321 §3.8 has a server that must shut
// down answer with 421 and close. A message whose end has not arrived is
// dropped, its file removed: it was never acknowledged, so the client
// still owns it and will send it again.
func (s *session) HandleShutdown() {
	s.reset()
	s.held = nil
	s.replyf("421 %s Service closing transmission channel", s.srv.hostname)
}

// Close logs the end of the session and closes it. The chat calls it after
// QUIT's reply is written, when the client goes away or a timeout fires,
// and after the 421 of a graceful shutdown; the loop calls it when the
// shutdown's grace period ends. A message whose end has not arrived was
// never acknowledged: its file is removed.
func (s *session) Close() error {
	slog.Debug("connection closed", "peer", s.peer)
	s.reset()
	s.commit, s.held = nil, nil // a commit under way finishes, unanswered
	return s.AsyncChat.Close()
}

// parsePath parses the argument of MAIL or RCPT: keyword ("FROM:" or "TO:",
// in any case), an address in angle brackets, and the ESMTP parameters
// after it. It returns the address with its brackets. Like Python's smtpd
// it also takes an address without brackets ("MAIL FROM: a@example.com"),
// which is what people type at nc.
func parsePath(arg, keyword string) (path string, params []string, ok bool) {
	if len(arg) < len(keyword) || !strings.EqualFold(arg[:len(keyword)], keyword) {
		return "", nil, false
	}
	rest := strings.TrimLeft(arg[len(keyword):], " ")
	var addr string
	if strings.HasPrefix(rest, "<") {
		end := strings.IndexByte(rest, '>')
		if end < 0 {
			return "", nil, false
		}
		addr, rest = rest[1:end], rest[end+1:]
		if rest != "" && rest[0] != ' ' {
			return "", nil, false
		}
	} else {
		addr, rest, _ = strings.Cut(rest, " ")
		if addr == "" {
			return "", nil, false
		}
	}
	if strings.ContainsAny(addr, "<> \t") {
		return "", nil, false
	}
	return "<" + addr + ">", strings.Fields(rest), true
}

// Readable is false while a message is being committed: the client's next
// commands wait in the socket until its reply has been sent.
func (s *session) Readable() bool { return s.commit == nil && s.AsyncChat.Readable() }

// ChannelStats adds what the session holds itself — the command line under
// way and the message not yet on disk — to the chat's buffered input.
func (s *session) ChannelStats() loop.ChannelStats {
	cs := s.AsyncChat.ChannelStats()
	cs.InBuffered += len(s.line) + len(s.held)
	if s.msg != nil {
		cs.InBuffered += s.msg.buffered()
	}
	return cs
}
