package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asyncore-go/asyncore/internal/testutil"

	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
)

// testServer is a chat server running in the background for one test.
type testServer struct {
	addr string
	stop func()      // stops the server before the test ends; see testutil.Serve
	tls  *tls.Config // the clients' TLS configuration when the server speaks TLS
}

// onLoopback is serve on 127.0.0.1:0, for testutil.Serve.
func onLoopback(cfg config) testutil.ServeFunc {
	return func(ctx context.Context, ready func(net.Addr)) error {
		return serve(ctx, "127.0.0.1:0", cfg, ready)
	}
}

// start runs the server with cfg, waits until it listens, and stops it when
// the test ends.
func start(t *testing.T, cfg config) *testServer {
	t.Helper()
	addr, stop := testutil.Serve(t, onLoopback(cfg))
	return &testServer{addr: addr.String(), stop: stop}
}

// startTLS is start with a test certificate: the server speaks TLS, and so
// do the clients dialled with s.dial.
func startTLS(t *testing.T, cfg config) *testServer {
	t.Helper()
	var client *tls.Config
	cfg.tls, client = testutil.TLSCert(t)
	s := start(t, cfg)
	s.tls = client
	return s
}

// conn is a test client: a raw TCP connection, or a TLS one, that sends
// lines ending in eol ("\n" like nc, or "\r\n" like telnet).
type conn struct {
	t   *testing.T
	c   halfCloser
	r   *bufio.Reader
	eol string
}

// dial connects to the server; the connection is closed when the test ends.
func dial(t *testing.T, addr, eol string) *conn {
	t.Helper()
	return dialWith(t, &net.Dialer{}, addr, eol)
}

func dialWith(t *testing.T, d *net.Dialer, addr, eol string) *conn {
	t.Helper()
	c, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(testutil.HangGuard)))
	return &conn{t: t, c: c.(*net.TCPConn), r: bufio.NewReader(c), eol: eol}
}

// halfCloser is what both *net.TCPConn and *tls.Conn offer.
type halfCloser interface {
	net.Conn
	CloseWrite() error
}

// dial connects to the server, over TLS if it speaks TLS; the connection is
// closed when the test ends.
func (s *testServer) dial(t *testing.T, eol string) *conn {
	t.Helper()
	if s.tls == nil {
		return dial(t, s.addr, eol)
	}
	c, err := tls.Dial("tcp", s.addr, s.tls)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(testutil.HangGuard)))
	return &conn{t: t, c: c, r: bufio.NewReader(c), eol: eol}
}

// login connects and joins as nick, checking the greeting.
func (s *testServer) login(t *testing.T, nick, eol string) *conn {
	t.Helper()
	c := s.dial(t, eol)
	c.expect("Welcome! Your nickname?")
	c.send(nick)
	line := c.line()
	require.True(t, strings.HasPrefix(line, "* Hello "+nick+"! Here now: "), "greeting for %s: %q", nick, line)
	return c
}

// send writes one line.
func (c *conn) send(line string) {
	c.t.Helper()
	_, err := c.c.Write([]byte(line + c.eol))
	require.NoError(c.t, err)
}

// line reads the next line, which the server must end with "\r\n", and
// returns it without the "\r\n".
func (c *conn) line() string {
	c.t.Helper()
	s, err := c.r.ReadString('\n')
	require.NoError(c.t, err, "reading a line (got %q)", s)
	require.True(c.t, strings.HasSuffix(s, "\r\n"), "line does not end in CRLF: %q", s)
	return strings.TrimSuffix(s, "\r\n")
}

// expect reads the next line and checks it.
func (c *conn) expect(want string) {
	c.t.Helper()
	assert.Equal(c.t, want, c.line())
}

// expectEOF checks that the server closed the connection after what was
// read so far.
func (c *conn) expectEOF() {
	c.t.Helper()
	rest, err := c.r.ReadString('\n')
	assert.Equal(c.t, "", rest)
	assert.ErrorIs(c.t, err, io.EOF)
}

func TestChat(t *testing.T) {
	tests := []struct {
		name string
		f    func(t *testing.T, s *testServer)
		tune func(cfg *config) // changes to the defaults, if any
	}{
		{"Nickname", testNickname, nil},
		{"Broadcast", testBroadcast, nil},
		{"Commands", testCommands, nil},
		{"LineEndings", testLineEndings, nil},
		{"LongLine", testLongLine, nil},
		// One writer stands for the many it would take to fill a queue
		// with flood control on.
		{"SlowClient", testSlowClient, func(cfg *config) { cfg.floodRate = 0 }},
		{"Shutdown", testShutdown, nil},
		// The grace period outlasts the hang guard: only the connections
		// closing can end the shutdown.
		{"GracefulShutdown", testGracefulShutdown, func(cfg *config) { cfg.floodRate, cfg.grace = 0, 2*testutil.HangGuard }},
		{"ControlCharacters", testControlCharacters, nil},
		{"NickCase", testNickCase, nil},
		{"Flood", testFlood, nil},
		{"FloodPaced", testFloodPaced, func(cfg *config) { cfg.floodBurst, cfg.floodRate = 3, 20 }},
		{"NickTimeout", testNickTimeout, func(cfg *config) { cfg.nickTimeout = nickTimeoutForTest }},
	}
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				testutil.WarmUp(t)
				testutil.CheckFDLeaks(t) // registered first: checks after the cleanups below
				cfg := defaultConfig(kind)
				if tt.tune != nil {
					tt.tune(&cfg)
				}
				tt.f(t, start(t, cfg))
			})
		}
	})
}

// TestChatTLS runs the conversations of TestChat over TLS (-tls-cert and
// -tls-key): the room's code is the same, and so must be what clients see,
// half-close and shutdown included.
func TestChatTLS(t *testing.T) {
	tests := []struct {
		name string
		f    func(t *testing.T, s *testServer)
	}{
		{"Nickname", testNickname},
		{"Broadcast", testBroadcast},
		{"Commands", testCommands},
		{"LineEndings", testLineEndings},
		{"LongLine", testLongLine},
		{"Shutdown", testShutdown},
		{"ControlCharacters", testControlCharacters},
	}
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				testutil.WarmUp(t)
				testutil.CheckFDLeaks(t)
				tt.f(t, startTLS(t, defaultConfig(kind)))
			})
		}
	})
}

// testNickname: empty, taken and invalid nicknames are refused and asked
// for again; a client without a nickname hears nothing from the room.
func testNickname(t *testing.T, s *testServer) {
	alice := s.login(t, "alice", "\n")

	bob := s.dial(t, "\n")
	bob.expect("Welcome! Your nickname?")
	for _, tc := range []struct{ nick, why string }{
		{"", "* a nickname is required"},
		{"   ", "* a nickname is required"},
		{"alice", "* nickname taken: alice"},
		{"bad nick", "* invalid nickname: use 1-16 letters, digits, '-' or '_'"},
		{"<alice>", "* invalid nickname: use 1-16 letters, digits, '-' or '_'"},
		{strings.Repeat("b", 17), "* invalid nickname: use 1-16 letters, digits, '-' or '_'"},
	} {
		bob.send(tc.nick)
		bob.expect(tc.why)
		bob.expect("Your nickname?")
	}

	carol := s.dial(t, "\n") // connected, no nickname yet
	carol.expect("Welcome! Your nickname?")

	bob.send(" bob ") // surrounding blanks are ignored
	bob.expect("* Hello bob! Here now: alice, bob. Type /help for commands.")
	alice.expect("* bob has joined")

	alice.send("hi bob")
	bob.expect("<alice> hi bob")

	carol.send("carol")
	carol.expect("* Hello carol! Here now: alice, bob, carol. Type /help for commands.")
	alice.expect("* carol has joined")
	bob.expect("* carol has joined")
}

// testBroadcast: a line goes to everyone else and not back to its sender;
// joins and departures — by /quit, by closing, by half-closing — are
// announced.
func testBroadcast(t *testing.T, s *testServer) {
	alice := s.login(t, "alice", "\n")
	bob := s.login(t, "bob", "\n")
	alice.expect("* bob has joined")
	carol := s.login(t, "carol", "\n")
	alice.expect("* carol has joined")
	bob.expect("* carol has joined")

	alice.send("hello, all")
	bob.expect("<alice> hello, all")
	carol.expect("<alice> hello, all")
	alice.send("/who") // the next thing alice reads is the reply, not her own line
	alice.expect("* here now: alice, bob, carol")

	alice.send("") // blank lines are not broadcast
	bob.send("hi")
	alice.expect("<bob> hi")
	carol.expect("<bob> hi")

	require.NoError(t, bob.c.Close()) // gone without a word
	alice.expect("* bob has left")
	carol.expect("* bob has left")

	// nc -N: a last line, then EOF. The line is delivered, then the client
	// leaves, and it sees the server close.
	carol.send("bye all")
	require.NoError(t, carol.c.CloseWrite())
	alice.expect("<carol> bye all")
	alice.expect("* carol has left")
	carol.expectEOF()
}

// testCommands: /who, /me, /nick, /help, an unknown command, /quit.
func testCommands(t *testing.T, s *testServer) {
	alice := s.login(t, "alice", "\n")
	bob := s.login(t, "bob", "\n")
	alice.expect("* bob has joined")

	alice.send("/who")
	alice.expect("* here now: alice, bob")

	alice.send("/me waves")
	bob.expect("* alice waves")
	alice.send("/me")
	alice.expect("* usage: /me ACTION")

	alice.send("/nick bob")
	alice.expect("* nickname taken: bob")
	alice.send("/nick no way")
	alice.expect("* invalid nickname: use 1-16 letters, digits, '-' or '_'")
	alice.send("/nick alice")
	alice.expect("* you are already alice")
	alice.send("/NICK alicia") // commands are case-insensitive
	alice.expect("* you are now alicia")
	bob.expect("* alice is now known as alicia")
	bob.send("/who")
	bob.expect("* here now: alicia, bob")
	bob.send("the name alice is free again")
	alice.expect("<bob> the name alice is free again")

	bob.send("/help")
	bob.expect("* Commands:")
	for _, cmd := range []string{"/nick", "/who", "/me", "/quit", "/stats", "/help"} {
		assert.True(t, strings.HasPrefix(bob.line(), "*   "+cmd+" "), "help line for %s", cmd)
	}
	bob.expect("* Anything else you type is sent to everyone else.")

	bob.send("/stats")
	assert.Regexp(t, `^\* members 2, connections 2 \(max \d+\)$`, bob.line())
	assert.Regexp(t, `^\* accepted \d+, rejected 0, shed 0$`, bob.line())
	assert.Regexp(t, `^\* bytes in [1-9]\d*, out [1-9]\d*; buffered in 0, out \d+$`, bob.line())
	assert.Regexp(t, `^\* timeouts 0, limit disconnections 0, panics recovered 0$`, bob.line())
	assert.Regexp(t, `^\* loop iterations [1-9]\d*, wakeups [1-9]\d*, events [1-9]\d*$`, bob.line())
	assert.Regexp(t, `^\* you: bytes in [1-9]\d*, out [1-9]\d*$`, bob.line())

	bob.send("/frob it")
	bob.expect("* unknown command /frob; /help lists the commands")

	alice.send("/quit")
	alice.expect("* Bye, alicia!")
	alice.expectEOF()
	bob.expect("* alicia has left")
	bob.send("/who")
	bob.expect("* here now: bob")
}

// testLineEndings: telnet's "\r\n" and nc's "\n" both work, and no "\r"
// reaches the other clients.
func testLineEndings(t *testing.T, s *testServer) {
	lf := s.login(t, "lf", "\n")
	telnet := s.login(t, "crlf", "\r\n") // "crlf\r" must become "crlf"
	lf.expect("* crlf has joined")

	telnet.send("from telnet")
	lf.expect("<crlf> from telnet") // line() fails on a stray "\r"
	lf.send("from nc")
	telnet.expect("<lf> from nc")
	telnet.send("/me types CRLF")
	lf.expect("* crlf types CRLF")
	telnet.send("/who")
	telnet.expect("* here now: crlf, lf")

	// Several lines in one write, in both styles at once.
	_, err := telnet.c.Write([]byte("one\r\ntwo\nthree\r\n"))
	require.NoError(t, err)
	lf.expect("<crlf> one")
	lf.expect("<crlf> two")
	lf.expect("<crlf> three")

	telnet.send("/quit")
	telnet.expect("* Bye, crlf!")
	telnet.expectEOF()
	lf.expect("* crlf has left")
}

// testLongLine: a line of maxLine bytes is fine; a longer one gets an error
// line and the connection is closed.
func testLongLine(t *testing.T, s *testServer) {
	watcher := s.login(t, "watcher", "\n")
	long := s.login(t, "long", "\r\n")
	watcher.expect("* long has joined")

	max := strings.Repeat("x", maxLine)
	long.send(max)
	watcher.expect("<long> " + max)

	long.send(max + "y")
	long.expect("* line too long")
	long.expectEOF()
	watcher.expect("* long has left")

	// A line that never ends is stopped as well, without waiting for "\n".
	endless := s.login(t, "endless", "\n")
	watcher.expect("* endless has joined")
	_, err := endless.c.Write([]byte(strings.Repeat("z", 3*maxLine)))
	require.NoError(t, err)
	endless.expect("* line too long")
	endless.expectEOF()
	watcher.expect("* endless has left")

	watcher.send("/who")
	watcher.expect("* here now: watcher")
}

// testSlowClient: a client that never reads is disconnected by the output
// limit once the broadcasts it does not read pile up, and the others are
// served throughout.
func testSlowClient(t *testing.T, s *testServer) {
	// A small receive buffer, set before connecting, keeps the kernel from
	// absorbing megabytes on the slow client's behalf.
	small := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	slow := dialWith(t, small, s.addr, "\n")
	slow.send("slow") // and never read anything
	reader := s.login(t, "reader", "\n")
	writer := s.login(t, "writer", "\n")
	reader.expect("* writer has joined")

	// The reader reads everything on its own goroutine and counts the
	// writer's lines; it stops at the line "<writer> done".
	payload := strings.Repeat("p", 4000)
	var received atomic.Int64
	var slowLeft atomic.Bool
	readerDone := make(chan error, 1)
	go func() {
		for {
			line, err := reader.r.ReadString('\n')
			switch {
			case err != nil:
				readerDone <- err
				return
			case line == "<writer> "+payload+"\r\n":
				received.Add(1)
			case line == "* slow has left\r\n":
				slowLeft.Store(true)
			case line == "<writer> done\r\n":
				readerDone <- nil
				return
			default:
				readerDone <- fmt.Errorf("unexpected line %q", line)
				return
			}
		}
	}()

	// Write in batches of 32 lines (128 KB) and let the reader catch up
	// after each, so that the reader, which does read, is never near the
	// output limit. The slow client gets every line too, and reads none.
	const batch, maxLines = 32, (64 << 20) / 4000
	sent := 0
	deadline := time.Now().Add(60 * time.Second)
	for !slowLeft.Load() && sent < maxLines && time.Now().Before(deadline) {
		var b strings.Builder
		for range batch {
			b.WriteString(payload + "\n")
		}
		_, err := writer.c.Write([]byte(b.String()))
		require.NoError(t, err)
		sent += batch
		for received.Load() < int64(sent) && time.Now().Before(deadline) {
			select {
			case err := <-readerDone:
				require.NoError(t, err, "reader")
				require.Fail(t, "reader stopped early")
			case <-time.After(time.Millisecond):
			}
		}
	}
	require.True(t, slowLeft.Load(), "the slow client was not disconnected after %d lines (%d MB)", sent, sent*4000>>20)
	t.Logf("slow client disconnected after %d lines (%.1f MB)", sent, float64(sent*4000)/(1<<20))

	// The others are still served.
	writer.send("done")
	select {
	case err := <-readerDone:
		require.NoError(t, err, "reader")
	case <-time.After(testutil.HangGuard):
		require.Fail(t, "reader did not get the last line")
	}
	assert.Equal(t, int64(sent), received.Load(), "lines the reader received")
	writer.expect("* slow has left")
	writer.send("/who")
	writer.expect("* here now: reader, writer")

	// The slow client, reading at last, gets what the kernel held for it and
	// then the end of the connection.
	require.NoError(t, slow.c.SetReadDeadline(time.Now().Add(20*time.Second)))
	_, err := io.Copy(io.Discard, slow.r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the slow client's connection is still open: %v", err)
	}
	// err is nil at EOF, or a reset if unread input was left behind.
	if err != nil {
		assert.ErrorIs(t, err, syscall.ECONNRESET)
	}
}

// testShutdown: stopping the server tells connected clients and closes
// their connections.
func testShutdown(t *testing.T, s *testServer) {
	alice := s.login(t, "alice", "\r\n")
	pending := s.dial(t, "\n")
	pending.expect("Welcome! Your nickname?")
	alice.send("/who") // make sure the server has seen both
	alice.expect("* here now: alice")

	s.stop()
	alice.expect("* the server is shutting down")
	alice.expectEOF()
	pending.expect("* the server is shutting down")
	pending.expectEOF()
}

// testGracefulShutdown: a member that has not read a backlog of lines when
// the server shuts down gets all of them, then the goodbye, then EOF; so
// does everyone else; the listener refuses new connections; and serve
// returns once the clients have closed.
func testGracefulShutdown(t *testing.T, s *testServer) {
	small := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	slow := dialWith(t, small, s.addr, "\n")
	slow.expect("Welcome! Your nickname?")
	slow.send("slow")
	require.True(t, strings.HasPrefix(slow.line(), "* Hello slow!"))
	writer := s.login(t, "writer", "\n")

	// The writer talks until the slow member's socket is full and the
	// server holds lines for it, unsent. /stats tells: its reply comes
	// after the writer's lines have been pushed, and counts the bytes
	// queued in the server and those written — all but the writer's own
	// to the slow member. When a round adds nothing written while output
	// is queued, the socket could not take more.
	payload := strings.Repeat("p", 1000)
	sent, lastOut := 0, -1
	for full := false; !full; {
		for range 10 {
			writer.send(fmt.Sprintf("%d %s", sent, payload))
			sent++
		}
		// The kernel's buffers take a few MiB at most (tcp_wmem's largest).
		require.Less(t, sent, (16<<20)/len(payload), "the slow member's socket never filled up")
		writer.send("/stats")
		var out, queued, mine int
		for {
			line := writer.line()
			if _, err := fmt.Sscanf(line, "* bytes in %d, out %d; buffered in %d, out %d", new(int), &out, new(int), &queued); err == nil {
				continue
			}
			if _, err := fmt.Sscanf(line, "* you: bytes in %d, out %d", new(int), &mine); err == nil {
				break
			}
		}
		full = queued > 0 && out-mine == lastOut
		lastOut = out - mine
	}

	stopped := make(chan struct{})
	go func() { defer close(stopped); s.stop() }()
	// The writer has nothing queued: its goodbye says the shutdown has
	// begun, before the slow member reads anything.
	writer.expect("* the server is shutting down")
	writer.expectEOF()
	slow.expect("* writer has joined")
	for i := range sent {
		slow.expect(fmt.Sprintf("<writer> %d %s", i, payload))
	}
	slow.expect("* the server is shutting down")
	slow.expectEOF()
	if c, err := net.Dial("tcp", s.addr); err == nil {
		_ = c.Close()
		t.Fatal("a connection was accepted after the shutdown began")
	}
	require.NoError(t, slow.c.Close())
	require.NoError(t, writer.c.Close())
	<-stopped // testutil.Serve's stop fails the test if serve hangs
}

// TestServeErrors checks that a context cancelled before the loop starts
// still stops it, and that set-up errors are returned.
func TestServeErrors(t *testing.T) {
	testutil.ServeCancelled(t, onLoopback(defaultConfig(0)))
	assert.Error(t, serve(context.Background(), "127.0.0.1:notaport", defaultConfig(0), nil))
	assert.Error(t, serve(context.Background(), testutil.BusyAddr(t), defaultConfig(0), nil), "port in use")
}

// TestValidNick is a table test of the nickname rule.
func TestValidNick(t *testing.T) {
	for _, tc := range []struct {
		nick string
		ok   bool
	}{
		{"a", true}, {"Alice_99", true}, {"x-y", true}, {strings.Repeat("n", maxNick), true},
		{"", false}, {strings.Repeat("n", maxNick+1), false}, {"a b", false}, {"a\tb", false},
		{"<a>", false}, {"*", false}, {"é", false}, {"a\x1b[31m", false},
	} {
		assert.Equal(t, tc.ok, validNick(tc.nick), "%q", tc.nick)
	}
}

// TestFoldNick: nicknames that differ only in case fold to the same key.
func TestFoldNick(t *testing.T) {
	assert.Equal(t, foldNick("alice"), foldNick("ALICE"))
	assert.Equal(t, foldNick("alice"), foldNick("aLiCe"))
	assert.Equal(t, foldNick("K"), foldNick("\u212a"), "Kelvin sign and K: Unicode case folding")
	assert.NotEqual(t, foldNick("alice"), foldNick("alicia"))
}

// TestClean is a table test of what clean makes of a line.
func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"plain text":       "plain text",
		"\t":               "\t",
		"a\rb\nc":          "a^Mb^Jc",
		"\x00\x1f\x7f":     "^@^_^?",
		"\xff":             "\ufffd",
		"\ufffd":           "\ufffd",
		"\u0080\u009f":     "<U+0080><U+009F>",
		"\u200f\u2066":     "<U+200F><U+2066>",
		"\u00e9\U0001F389": "\u00e9\U0001F389",
	} {
		assert.Equal(t, want, clean(in), "%q", in)
	}
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = clean("nothing to do here") }))
}

// testControlCharacters: what one client sends cannot pass for another
// client's line or drive the others' terminals. A CR cannot start a fake
// "<alice>" line; escape sequences, NUL, DEL and C1 controls are shown as
// visible text; invalid UTF-8 becomes U+FFFD. Tabs and ordinary Unicode
// text pass unchanged. The same holds for /me.
func testControlCharacters(t *testing.T, s *testServer) {
	alice := s.login(t, "alice", "\n")
	mallory := s.login(t, "mallory", "\n")
	alice.expect("* mallory has joined")

	for _, tc := range []struct{ send, want string }{
		{"x\r<alice> send me your password", "<mallory> x^M<alice> send me your password"},
		{"\x1b]0;pwned\x07\x1b[31mred\x1b[0m", "<mallory> ^[]0;pwned^G^[[31mred^[[0m"},
		{"nul\x00here, del\x7f", "<mallory> nul^@here, del^?"},
		{"bad utf-8: \xff\xfe\xc3", "<mallory> bad utf-8: \ufffd\ufffd\ufffd"},
		{"c1 \u009b31m, nel \u0085", "<mallory> c1 <U+009B>31m, nel <U+0085>"},
		{"bidi \u202eevil\u202c, sep \u2028", "<mallory> bidi <U+202E>evil<U+202C>, sep <U+2028>"},
		{"tab\there, h\u00e9llo \u65e5\u672c \U0001F389", "<mallory> tab\there, h\u00e9llo \u65e5\u672c \U0001F389"},
		{"/me \x1b[2Jwipes the screen", "* mallory ^[[2Jwipes the screen"},
	} {
		mallory.send(tc.send)
		alice.expect(tc.want)
	}
	mallory.send("/x\x1b[5m")
	mallory.expect("* unknown command /x^[[5m; /help lists the commands")
}

// testNickCase: nicknames are compared without regard to case, as IRC
// servers compare them, and shown as their owner wrote them.
func testNickCase(t *testing.T, s *testServer) {
	alice := s.login(t, "alice", "\n")
	impostor := s.dial(t, "\n")
	impostor.expect("Welcome! Your nickname?")
	for _, nick := range []string{"Alice", "ALICE", "aLiCe"} {
		impostor.send(nick)
		impostor.expect("* nickname taken: " + nick)
		impostor.expect("Your nickname?")
	}
	impostor.send("Bob")
	impostor.expect("* Hello Bob! Here now: alice, Bob. Type /help for commands.")
	alice.expect("* Bob has joined")

	alice.send("/nick BOB")
	alice.expect("* nickname taken: BOB")
	alice.send("/nick Alice") // the same nickname, written another way
	alice.expect("* you are now Alice")
	impostor.expect("* alice is now known as Alice")
	impostor.send("/who")
	impostor.expect("* here now: Alice, Bob")
	impostor.send("/nick alice")
	impostor.expect("* nickname taken: alice")
}

// testFlood: a member who sends lines faster than flood control allows has
// them relayed up to floodBurst plus floodDebt lines' worth, and is then
// disconnected ("excess flood", as IRC servers say), instead of filling
// everyone else's queue; the room goes on.
func testFlood(t *testing.T, s *testServer) {
	watcher := s.login(t, "watcher", "\n")
	flooder := s.login(t, "flooder", "\n")
	watcher.expect("* flooder has joined")

	const lines = 10000
	var b strings.Builder
	for i := range lines {
		fmt.Fprintf(&b, "spam %d\n", i)
	}
	go func() { _, _ = flooder.c.Write([]byte(b.String())) }() // the server may stop reading
	flooder.expect("* excess flood")
	flooder.expectEOF()

	got := 0
	for {
		line := watcher.line()
		if line == "* flooder has left" {
			break
		}
		require.Equal(t, fmt.Sprintf("<flooder> spam %d", got), line, "relayed in order")
		got++
	}
	t.Logf("%d of %d lines relayed", got, lines)
	assert.LessOrEqual(t, got, floodBurst+floodDebt+1)
	assert.GreaterOrEqual(t, got, floodBurst, "the burst is relayed")

	other := s.login(t, "other", "\n")
	watcher.expect("* other has joined")
	other.send("still here?")
	watcher.expect("<other> still here?")
	other.send("/stats")
	other.line()
	other.line()
	other.line()
	assert.Regexp(t, `^\* timeouts 0, limit disconnections 1, `, other.line())
}

// testFloodPaced: lines beyond the burst but within the debt are relayed,
// in order, and the server stops reading from their sender until its
// allowance is back: the next line waits (floodBurst 3, floodRate 20/s).
func testFloodPaced(t *testing.T, s *testServer) {
	watcher := s.login(t, "watcher", "\n")
	paster := s.login(t, "paster", "\n")
	watcher.expect("* paster has joined")

	const paste = 10
	var b strings.Builder
	for i := range paste {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	start := time.Now()
	_, err := paster.c.Write([]byte(b.String()))
	require.NoError(t, err)
	for i := range paste {
		watcher.expect(fmt.Sprintf("<paster> line %d", i))
	}
	paster.send("after the paste")
	watcher.expect("<paster> after the paste")
	// 3 lines of allowance, 10 spent: reading waits until the allowance is
	// back to one line, (10-3+1)/20 s after the paste.
	assert.GreaterOrEqual(t, time.Since(start), 350*time.Millisecond, "the sender was paced")
	paster.send("/who")
	paster.expect("* here now: paster, watcher")
}

// nickTimeoutForTest is the nickname timeout testNickTimeout runs with.
const nickTimeoutForTest = 300 * time.Millisecond

// testNickTimeout: a connection that does not choose a nickname in time is
// closed, so idle connections cannot hold the server's slots for ever; one
// that has joined is not.
func testNickTimeout(t *testing.T, s *testServer) {
	start := time.Now()
	silent := s.dial(t, "\n")
	silent.expect("Welcome! Your nickname?")
	alice := s.login(t, "alice", "\n")
	guesser := s.dial(t, "\n") // keeps trying names that are refused
	guesser.expect("Welcome! Your nickname?")
	guesser.send("no way")
	guesser.expect("* invalid nickname: use 1-16 letters, digits, '-' or '_'")
	guesser.expect("Your nickname?")

	silent.expect("* no nickname chosen in time; bye")
	silent.expectEOF()
	assert.GreaterOrEqual(t, time.Since(start), nickTimeoutForTest, "not before the timeout")
	guesser.expect("* no nickname chosen in time; bye")
	guesser.expectEOF()

	alice.send("/who") // long past the timeout: members stay
	alice.expect("* here now: alice")
}
