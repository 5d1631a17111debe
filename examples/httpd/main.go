// Command httpd is a small HTTP/1.1 file server built on chat.AsyncChat, the
// way Python's asynchat was meant to be used: the request head is a frame
// ended by "\r\n\r\n", the body a frame of Content-Length bytes, and files
// go out through a producer that reads them one buffer at a time.
//
//	go run ./examples/httpd                          # serve . on 127.0.0.1:8080
//	go run ./examples/httpd -root /srv/www -addr 127.0.0.1:8000
//	go run ./examples/httpd -backend poll -v         # pick the poller; log requests
//	go run ./examples/httpd -cpuprofile cpu.out      # profile until SIGINT/SIGTERM
//	go run ./examples/httpd -tls-cert cert.pem -tls-key key.pem   # HTTPS
//
// It serves GET and HEAD of the files under -root (a directory means its
// index.html) and answers POST /echo with the request body. Connections are
// kept alive and requests may be pipelined. Small files are served from
// memory, checked against the disk once a second (-cache-ttl). The files:
//
//	main.go     flags, the listener, start-up and shutdown
//	conn.go     one connection: framing, dispatching, replies
//	request.go  the request head parser
//	files.go    mapping URL paths to files, and the file body producer
//	cache.go    the small-file cache
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/examples/internal/cpuprofile"
	"github.com/asyncore-go/asyncore/examples/internal/tlsflags"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
)

// server is the listening socket, and what every connection shares: the
// root directory, the small-file cache and the cached Date header.
type server struct {
	dispatcher.Dispatcher
	root   string      // absolute, with symbolic links resolved
	rootFD int         // root, open: files are opened relative to it
	cache  *fileCache  // nil: every request goes to the file system
	stats  bool        // GET /_stats serves the loop's counters (-stats)
	tls    *tls.Config // HTTPS (-tls-cert, -tls-key); nil: plain HTTP
	// headTimeout bounds a request head, from its first line to its end.
	headTimeout time.Duration

	// The server's wall clock (see now) and the Date header it formats
	// once a second — rather than once a reply, the trick every fast
	// server uses. One goroutine runs the loop, so no lock is needed.
	clockAt   time.Duration // the loop's clock when time.Now gave wallAt
	clockNext time.Duration // the loop's clock at the next second's turn
	wallAt    time.Time
	dateStr   string // wallAt as an HTTP date
	// dateGen counts the changes of dateStr: a reply built with one
	// dateStr is still current while dateGen has not moved (see
	// cachedReply).
	dateGen uint64
	// wall is the system clock, time.Now, unless a test sets another.
	wall func() time.Time
}

// wallNow reads the server's system clock.
func (s *server) wallNow() time.Time {
	if s.wall != nil {
		return s.wall()
	}
	return time.Now()
}

// HandleAccepted serves a new connection in the listener's map.
func (s *server) HandleAccepted(fd int, addr net.Addr) {
	// A reply goes out as soon as it is ready, and a file body follows its
	// head in writes of its own. With Nagle's algorithm a write waits for
	// the peer to acknowledge the one before, which a delayed ACK holds back
	// for up to 40 ms (RFC 1122 §4.2.3.2): pipelined replies would crawl.
	// Go's net package turns it off for every TCP connection; so do we.
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	c, err := newConn(s, fd)
	if err != nil {
		_ = unix.Close(fd) // on failure the descriptor is still ours
		slog.Warn("cannot serve connection", "peer", addr, "err", err)
		return
	}
	if s.tls != nil {
		// HTTPS: the connection speaks TLS from its first byte; the
		// requests and replies above it are the same.
		if !tlsflags.Start(c.Socket(), s.tls, c.Close, addr) {
			return
		}
	}
	slog.Debug("connection opened", "peer", addr)
}

// now returns the wall-clock time of the loop's current iteration, for the
// Date header and the cache's TTL. The loop reads its monotonic clock once
// an iteration (loop.Now); time.Now, a measurable cost per request on a
// virtual machine's clock, is asked once a second, when the loop's clock
// reaches the second's turn, and the time in between is the loop's clock
// added to that reading. A reply is dated at most one iteration before it
// is made, never before its request arrived.
func (s *server) now() time.Time {
	var l *loop.Loop
	if m := s.Map(); m != nil {
		l = m.Loop()
	}
	if l == nil { // in no loop's map: the system clock, every time
		w := s.wallNow()
		s.dateStr = w.UTC().Format(http.TimeFormat)
		s.dateGen++
		return w
	}
	t := l.Now()
	if t < s.clockAt || t >= s.clockNext || s.dateStr == "" {
		w := s.wallNow()
		s.clockAt, s.wallAt = t, w
		s.clockNext = t + time.Second - time.Duration(w.Nanosecond())
		s.dateStr = w.UTC().Format(http.TimeFormat)
		s.dateGen++
	}
	return s.wallAt.Add(t - s.clockAt)
}

// date returns the current time as an HTTP date, for the Date header.
func (s *server) date() string {
	s.now()
	return s.dateStr
}

// options are the server's settings that flags change.
type options struct {
	cache cacheOptions
	stats bool // serve GET /_stats
	// headTimeout bounds the reading of a request head; zero means
	// defaultHeadTimeout. No flag sets it: tests shorten it.
	headTimeout time.Duration
	// grace bounds a graceful shutdown: connections still open after it
	// are closed; zero means loop.DefaultGrace.
	grace time.Duration
	// tls, if not nil, makes the server speak HTTPS (-tls-cert, -tls-key).
	tls *tls.Config
}

// newServer returns a server for root (as resolveRoot returns it) with a
// cache configured by cache, holding root open: the files it serves are
// opened relative to that descriptor (see openBeneath), which the caller
// closes when done.
func newServer(root string, opt options) (*server, error) {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	s := &server{root: root, rootFD: fd, cache: newFileCache(opt.cache), stats: opt.stats, headTimeout: opt.headTimeout, tls: opt.tls}
	if s.headTimeout <= 0 {
		s.headTimeout = defaultHeadTimeout
	}
	if s.cache != nil {
		s.cache.now = s.now // the loop's clock: no time.Now per request
	}
	return s, nil
}

// listen creates the server's listening socket on addr in map m, serving
// root with the settings opt.
func listen(m *loop.Map, addr, root string, opt options) (*server, error) {
	s, err := newServer(root, opt)
	if err != nil {
		return nil, err
	}
	s.Init(s, m)
	// Over the map's MaxConns a new connection gets this and is closed.
	// Under TLS the client's first bytes are its handshake, so a refusal
	// in the clear would reach it as a garbled handshake: it is closed
	// without one.
	if s.tls == nil {
		s.RejectMessage = []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	}
	if err := s.ListenTCP(addr); err != nil {
		_ = unix.Close(s.rootFD)
		return nil, err
	}
	return s, nil
}

// resolveRoot returns root as an absolute path with its symbolic links
// resolved — the form resolve compares file names against — and checks
// that it is a directory.
func resolveRoot(root string) (string, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", err
	}
	info, err := os.Stat(real)
	if err != nil {
		return "", err
	}
	if !info.IsDir() {
		return "", fmt.Errorf("root %s is not a directory", root)
	}
	return real, nil
}

// serve runs the HTTP server on addr, serving the files under root, until
// ctx is cancelled; then it closes every socket and the loop. ready, if not
// nil, receives the bound address once the server accepts clients. kind 0
// picks the best backend.
func serve(ctx context.Context, addr, root string, kind poller.Kind, opt options, ready func(net.Addr)) error {
	root, err := resolveRoot(root)
	if err != nil {
		return err
	}
	m := loop.NewMap()
	l, err := loop.New(loop.Options{Map: m, Backend: kind, Timeout: -1})
	if err != nil {
		return err
	}
	defer func() {
		// asyncore's close_all: the listener and every open connection,
		// with the files their queued replies hold.
		_ = dispatcher.CloseAll(m, true)
		_ = l.Close()
	}()

	s, err := listen(m, addr, root, opt)
	if err != nil {
		return err
	}
	defer unix.Close(s.rootFD)
	slog.Info("httpd listening", "addr", s.Addr(), "root", root, "backend", l.Kind(), "tls", opt.tls != nil)
	if ready != nil {
		ready(s.Addr())
	}

	// When ctx ends, RunGraceful shuts down: the listener closes, each
	// connection writes the replies queued, answers the request it is
	// reading with "Connection: close", and closes (conn.BeginShutdown).
	return l.RunGraceful(ctx, opt.grace)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	root := flag.String("root", ".", "directory to serve")
	var kind poller.Kind // the best available unless -backend names one
	flag.Var(&kind, "backend", "poller: epoll, kqueue, poll, select or best")
	verbose := flag.Bool("v", false, "log every connection and request")
	opt := options{cache: defaultCacheOptions}
	cache := &opt.cache
	flag.BoolVar(&opt.stats, "stats", false, "serve the loop's counters as JSON at /_stats")
	flag.DurationVar(&opt.grace, "grace", loop.DefaultGrace, "on SIGINT or SIGTERM, how long connections may take to get the replies to the requests already received before they are closed")
	flag.DurationVar(&cache.TTL, "cache-ttl", cache.TTL, "serve a cached file this long before checking it again (0: check every request; <0: no cache)")
	flag.Int64Var(&cache.MaxFile, "cache-max-file", cache.MaxFile, "largest file kept in memory, in bytes")
	flag.Int64Var(&cache.Size, "cache-size", cache.Size, "bytes of file content the cache may hold")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file (read it with go tool pprof)")
	tlsFlags := tlsflags.Register(nil)
	flag.Parse()

	if *verbose {
		slog.SetLogLoggerLevel(slog.LevelDebug)
	}
	var err error
	if opt.tls, err = tlsFlags.Config("http/1.1"); err != nil { // ALPN: HTTP/1.1 only
		slog.Error("httpd failed", "err", err)
		os.Exit(2)
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	stopProfile, err := cpuprofile.Start(*cpuProfile)
	if err != nil {
		slog.Error("httpd failed", "err", err)
		os.Exit(1)
	}
	err = serve(ctx, *addr, *root, kind, opt, nil)
	stopProfile()
	if err != nil {
		slog.Error("httpd failed", "err", err)
		os.Exit(1)
	}
	slog.Info("bye")
}
