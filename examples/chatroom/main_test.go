package main

import (
	"bufio"
	"context"
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
	"github.com/asyncore-go/asyncore/poller"
)

// testServer is a chat server running in the background for one test.
type testServer struct {
	addr string
	stop func() // stops the server before the test ends; see testutil.Serve
}

// onLoopback is serve on 127.0.0.1:0, for testutil.Serve.
func onLoopback(kind poller.Kind) testutil.ServeFunc {
	return func(ctx context.Context, ready func(net.Addr)) error {
		return serve(ctx, "127.0.0.1:0", kind, ready)
	}
}

// start runs the server, waits until it listens, and stops it when the test
// ends.
func start(t *testing.T, kind poller.Kind) *testServer {
	t.Helper()
	addr, stop := testutil.Serve(t, onLoopback(kind))
	return &testServer{addr: addr.String(), stop: stop}
}

// conn is a test client: a raw TCP connection that sends lines ending in
// eol ("\n" like nc, or "\r\n" like telnet).
type conn struct {
	t   *testing.T
	c   *net.TCPConn
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

// login connects and joins as nick, checking the greeting.
func login(t *testing.T, addr, nick, eol string) *conn {
	t.Helper()
	c := dial(t, addr, eol)
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
	}{
		{"Nickname", testNickname},
		{"Broadcast", testBroadcast},
		{"Commands", testCommands},
		{"LineEndings", testLineEndings},
		{"LongLine", testLongLine},
		{"SlowClient", testSlowClient},
		{"Shutdown", testShutdown},
	}
	testutil.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				testutil.WarmUp(t)
				testutil.CheckFDLeaks(t) // registered first: checks after the cleanups below
				tt.f(t, start(t, kind))
			})
		}
	})
}

// testNickname: empty, taken and invalid nicknames are refused and asked
// for again; a client without a nickname hears nothing from the room.
func testNickname(t *testing.T, s *testServer) {
	alice := login(t, s.addr, "alice", "\n")

	bob := dial(t, s.addr, "\n")
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

	carol := dial(t, s.addr, "\n") // connected, no nickname yet
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
	alice := login(t, s.addr, "alice", "\n")
	bob := login(t, s.addr, "bob", "\n")
	alice.expect("* bob has joined")
	carol := login(t, s.addr, "carol", "\n")
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
	alice := login(t, s.addr, "alice", "\n")
	bob := login(t, s.addr, "bob", "\n")
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
	lf := login(t, s.addr, "lf", "\n")
	telnet := login(t, s.addr, "crlf", "\r\n") // "crlf\r" must become "crlf"
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
	watcher := login(t, s.addr, "watcher", "\n")
	long := login(t, s.addr, "long", "\r\n")
	watcher.expect("* long has joined")

	max := strings.Repeat("x", maxLine)
	long.send(max)
	watcher.expect("<long> " + max)

	long.send(max + "y")
	long.expect("* line too long")
	long.expectEOF()
	watcher.expect("* long has left")

	// A line that never ends is stopped as well, without waiting for "\n".
	endless := login(t, s.addr, "endless", "\n")
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
	reader := login(t, s.addr, "reader", "\n")
	writer := login(t, s.addr, "writer", "\n")
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
	alice := login(t, s.addr, "alice", "\r\n")
	pending := dial(t, s.addr, "\n")
	pending.expect("Welcome! Your nickname?")
	alice.send("/who") // make sure the server has seen both
	alice.expect("* here now: alice")

	s.stop()
	alice.expect("* the server is shutting down")
	alice.expectEOF()
	pending.expectEOF()
}

// TestServeErrors checks that a context cancelled before the loop starts
// still stops it, and that set-up errors are returned.
func TestServeErrors(t *testing.T) {
	testutil.ServeCancelled(t, onLoopback(0))
	assert.Error(t, serve(context.Background(), "127.0.0.1:notaport", 0, nil))
	assert.Error(t, serve(context.Background(), testutil.BusyAddr(t), 0, nil), "port in use")
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
