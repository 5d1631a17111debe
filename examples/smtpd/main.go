// Command smtpd is an SMTP sink in the asynchat style, the Go form of
// Python's smtpd module: it accepts mail for any address and writes each
// message, as one file, into a Maildir.
//
//	go run ./examples/smtpd                          # 127.0.0.1:8025, into ./maildir
//	go run ./examples/smtpd -maildir /tmp/mail -size 1048576
//	go run ./examples/smtpd -backend poll            # pick the poller
//	go run ./examples/smtpd -tls-cert cert.pem -tls-key key.pem   # offer STARTTLS
//
// A listener (server) wraps each accepted connection in a session, an
// AsyncChat that frames its input into CRLF-terminated lines: commands, and
// in DATA the lines of the message. See session.go for the protocol,
// maildir.go for the files messages are streamed to, commit.go for the
// goroutines that sync them to disk off the loop, and space.go for the
// free-space check.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/examples/internal/tlsflags"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
)

// config is what the flags set.
type config struct {
	addr     string      // address to listen on
	backend  poller.Kind // 0: the best available
	maildir  string      // where messages are delivered
	size     int         // the largest message accepted, in bytes
	hostname string      // the name in the greeting; "" asks os.Hostname
	// minFree is the free space, in bytes, below which messages are
	// refused with 452; 0 means one and a half times size, as Postfix
	// asks; negative turns the check off.
	minFree int64
	// maxRcpt bounds the recipients of one message; 0 means 1000.
	maxRcpt int
	// maxOpen bounds the messages under way at once (sessions in DATA,
	// each holding a file open); 0 means half the connection cap.
	maxOpen int
	// grace bounds a graceful shutdown: sessions still open after it are
	// closed; 0 means loop.DefaultGrace.
	grace time.Duration
	// tls, if not nil, is offered with STARTTLS (-tls-cert, -tls-key).
	tls *tls.Config

	// For tests.
	syncFile   func(*os.File) error   // replaces (*os.File).Sync when set
	freeSpace  func() (uint64, error) // replaces the statfs of the maildir when set
	spaceEvery time.Duration          // replaces spaceCheckEvery when not 0
	workers    int                    // commit goroutines: 0 the default, < 0 none
	queue      int                    // commit queue: 0 the default
}

// server is the listening socket: Python's smtpd.SMTPServer. It holds what
// every session shares.
type server struct {
	dispatcher.Dispatcher
	hostname string
	size     int
	box      *maildir
	commits  *committer  // syncs finished messages off the loop
	space    *space      // refuses messages when the disk is nearly full
	maxRcpt  int         // recipients per message; 0: defaultMaxRecipients
	maxOpen  int         // messages under way at once; 0: no cap
	tls      *tls.Config // offered with STARTTLS; nil: not offered
	open     int         // messages under way: files open in tmp/
	warnedAt time.Time   // the last warning logged (see warn)
	quiet    int         // warnings not logged since
}

// warn logs a condition clients can cause — too many messages at once, a
// full commit queue — at most once a second, so a flood of clients does not
// become a flood of log lines; the count of those left out goes with the
// next one.
func (srv *server) warn(msg string, args ...any) {
	now := time.Now()
	if now.Sub(srv.warnedAt) < time.Second {
		srv.quiet++
		return
	}
	if srv.quiet > 0 {
		args = append(args, "suppressed", srv.quiet)
	}
	srv.warnedAt, srv.quiet = now, 0
	slog.Warn(msg, args...)
}

// HandleAccepted starts a session on a new connection and greets the client.
func (srv *server) HandleAccepted(fd int, addr net.Addr) {
	s := &session{srv: srv, peer: addr}
	s.Init(s, srv.Map()) // Python: SMTPChannel(self, conn, addr, map=self._map)
	// The session bounds what it stores itself and answers an over-long
	// line with a reply, keeping the connection; the chat's MaxLine would
	// close it instead. See CollectIncomingData.
	s.MaxLine = -1
	s.SetTerminator(chat.DelimiterString("\r\n"))
	if err := s.Adopt(fd); err != nil {
		_ = syscall.Close(fd) // on failure the descriptor is still ours
		slog.Warn("cannot serve connection", "peer", addr, "err", err)
		return
	}
	slog.Debug("connection opened", "peer", addr)
	s.replyf("220 %s asyncore-go smtpd", srv.hostname)
}

// newSpace is the free-space check cfg asks for.
func newSpace(cfg config) *space {
	sp := &space{minFree: cfg.minFree, probe: cfg.freeSpace, every: cfg.spaceEvery}
	if sp.minFree == 0 {
		sp.minFree = int64(cfg.size) * 3 / 2
	}
	if sp.probe == nil {
		dir := cfg.maildir
		sp.probe = func() (uint64, error) { return freeSpace(dir) }
	}
	if sp.every == 0 {
		sp.every = spaceCheckEvery
	}
	return sp
}

// listen makes srv listen on addr in map m and returns its bound
// address (with the real port if addr asked for port 0).
func listen(m *loop.Map, srv *server, addr string) (net.Addr, error) {
	srv.Init(srv, m)
	// Over the map's MaxConns a client is greeted with RFC 5321's "421
	// service not available" instead of 220, and the connection closed.
	srv.RejectMessage = []byte("421 4.3.2 too many connections, try again later\r\n")
	if err := srv.ListenTCP(addr); err != nil {
		return nil, err
	}
	return srv.Addr(), nil
}

// serve runs the SMTP server described by cfg until ctx is cancelled, then
// closes every socket and the loop. ready, if not nil, receives the bound
// address once the server accepts clients.
func serve(ctx context.Context, cfg config, ready func(net.Addr)) error {
	if cfg.size <= 0 {
		return errors.New("smtpd: the size limit must be positive")
	}
	if cfg.hostname == "" {
		cfg.hostname, _ = os.Hostname()
		if cfg.hostname == "" {
			cfg.hostname = "localhost"
		}
	}
	box, err := openMaildir(cfg.maildir, cfg.hostname)
	if err != nil {
		return err
	}
	defer box.close()
	if cfg.syncFile != nil {
		box.sync = cfg.syncFile
	}

	m := loop.NewMap()
	l, err := loop.New(loop.Options{Map: m, Backend: cfg.backend, Timeout: -1})
	if err != nil {
		return err
	}
	defer func() {
		// asyncore's close_all: the listener and every open session. A
		// message whose end has not arrived is dropped; it was never
		// acknowledged, so the client still owns it.
		_ = dispatcher.CloseAll(m, true)
		_ = l.Close()
	}()

	srv := &server{hostname: cfg.hostname, size: cfg.size, box: box, space: newSpace(cfg),
		maxRcpt: cfg.maxRcpt, maxOpen: cfg.maxOpen, tls: cfg.tls}
	if srv.maxOpen == 0 {
		// A session in DATA holds two descriptors, its socket and its
		// file; half the connection cap keeps them within the
		// descriptors the cap was sized for.
		srv.maxOpen = max(1, dispatcher.MaxConns(m)/2)
	}
	// The workers finish the messages already handed to them before serve
	// returns, and before the maildir's directories are closed.
	srv.commits = newCommitter(cfg.workers, cfg.queue)
	defer srv.commits.close()
	bound, err := listen(m, srv, cfg.addr)
	if err != nil {
		return err
	}
	slog.Info("smtpd listening", "addr", bound, "backend", l.Kind(), "maildir", cfg.maildir, "size", cfg.size, "starttls", cfg.tls != nil)
	if ready != nil {
		ready(bound)
	}

	// When ctx ends, RunGraceful shuts down: the listener closes; each
	// session finishes the message it is committing, if any, sends 421
	// and closes (session.BeginShutdown).
	return l.RunGraceful(ctx, cfg.grace)
}

func main() {
	cfg := config{}
	flag.StringVar(&cfg.addr, "addr", "127.0.0.1:8025", "address to listen on")
	flag.StringVar(&cfg.maildir, "maildir", "./maildir", "Maildir to deliver into (tmp/, new/ and cur/ are created)")
	flag.IntVar(&cfg.size, "size", 10<<20, "largest message accepted, in bytes (advertised with SIZE)")
	flag.IntVar(&cfg.maxRcpt, "max-rcpt", defaultMaxRecipients, "most recipients of one message")
	flag.IntVar(&cfg.maxOpen, "max-data", 0, "most messages under way at once, each a session in DATA with a file open (0: half the connection cap; negative: no cap)")
	flag.Int64Var(&cfg.minFree, "minfree", 0, "refuse mail with 452 while the maildir's disk has less free `bytes` (0: 1.5 × -size; negative: never)")
	flag.Var(&cfg.backend, "backend", "poller: epoll, kqueue, poll, select or best")
	flag.DurationVar(&cfg.grace, "grace", loop.DefaultGrace, "on SIGINT or SIGTERM, how long sessions may take to finish the messages being committed and to read the 421 before they are closed")
	verbose := flag.Bool("v", false, "log every connection")
	tlsFlags := tlsflags.Register(nil)
	flag.Parse()

	if *verbose {
		slog.SetLogLoggerLevel(slog.LevelDebug)
	}
	var err error
	if cfg.tls, err = tlsFlags.Config(); err != nil {
		slog.Error("smtpd failed", "err", err)
		os.Exit(2)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := serve(ctx, cfg, nil); err != nil {
		slog.Error("smtpd failed", "err", err)
		os.Exit(1)
	}
	slog.Info("bye")
}
