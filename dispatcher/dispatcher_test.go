package dispatcher_test

// CPython's DispatcherTests and HelperFunctionTests
// (docs/asyncore-compat.md#ported-test-suites), and the behaviour our
// deliberate differences promise (doc.go): adopting sockets, connect failures,
// EOF and broken pipes, I/O after Close, no handler after Close in the same
// event (F6(a) double-close, docs/failure-modes.md), datagrams.

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// recorder is CPython's testobj: it records which handlers ran, and does
// nothing else unless asked to (onRead).
type recorder struct {
	dispatcher.Dispatcher
	calls    []string
	errs     []error
	events   []poller.Events // what HandleEvents was given
	writable bool
	onRead   func()
	onClose  func()
}

func (r *recorder) HandleEvents(ev poller.Events) {
	r.events = append(r.events, ev)
	r.Dispatcher.HandleEvents(ev)
}

func (r *recorder) HandleRead() {
	r.calls = append(r.calls, "read")
	if r.onRead != nil {
		r.onRead()
	}
}
func (r *recorder) HandleWrite()   { r.calls = append(r.calls, "write") }
func (r *recorder) HandleExpt()    { r.calls = append(r.calls, "expt") }
func (r *recorder) HandleConnect() { r.calls = append(r.calls, "connect") }
func (r *recorder) HandleAccept()  { r.calls = append(r.calls, "accept") }
func (r *recorder) HandleClose() {
	r.calls = append(r.calls, "close")
	if r.onClose != nil {
		r.onClose()
	}
}
func (r *recorder) HandleError(err error) {
	r.calls = append(r.calls, "error")
	r.errs = append(r.errs, err)
}
func (r *recorder) Writable() bool { return r.writable }

// count reports how often the named handler ran.
func (r *recorder) count(name string) int {
	n := 0
	for _, c := range r.calls {
		if c == name {
			n++
		}
	}
	return n
}

// adoptDup makes d serve a duplicate of fd, which d then owns, so that the
// socketpair's own cleanup never closes a number d has already closed.
func adoptDup(t testing.TB, d interface{ Adopt(int) error }, fd int) {
	t.Helper()
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	require.NoError(t, err)
	if err := d.Adopt(dup); err != nil {
		_ = unix.Close(dup)
		require.NoError(t, err)
	}
}

// newRecorder returns a recorder in m serving one end of a fresh
// socketpair, and the other end. The recorder is closed when the test ends.
func newRecorder(t *testing.T, m *loop.Map) (*recorder, int) {
	t.Helper()
	a, b := testutil.Socketpair(t)
	r := &recorder{}
	r.Init(r, m)
	adoptDup(t, r, a)
	t.Cleanup(func() { _ = r.Close() })
	return r, b
}

// --- DispatcherTests ---

// TestBasic is test_basic. Readable is true, as in asyncore; Writable is
// false on an idle dispatcher — a deliberate difference (asyncore's is
// always true, which makes every idle connection spin the loop) — and true
// while a connect is in progress. DispatcherWithSend's Writable is
// asyncore's: true until connected.
func TestBasic(t *testing.T) {
	testutil.CheckFDLeaks(t)
	m := loop.NewMap()
	d := dispatcher.New(m)
	assert.True(t, d.Readable())
	assert.False(t, d.Writable())
	assert.False(t, d.Connected())
	assert.False(t, d.Accepting())
	assert.False(t, d.Connecting())
	assert.Nil(t, d.Addr())
	assert.Equal(t, -1, d.Fd())
	assert.Zero(t, m.Len(), "no socket, not in the map")

	require.NoError(t, d.CreateSocket(dispatcher.AFInet, dispatcher.SockStream))
	t.Cleanup(func() { _ = d.Close() })
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	require.NoError(t, d.Connect(ln.Addr().String()))
	if d.Connecting() {
		assert.True(t, d.Writable(), "Writable while connecting")
	}

	w := &dispatcher.DispatcherWithSend{}
	w.Init(w, m)
	assert.True(t, w.Readable())
	assert.True(t, w.Writable(), "dispatcher_with_send is writable until connected")
}

type reprType struct{ dispatcher.Dispatcher }

// TestRepr is test_repr, with the states docs/asyncore-compat.md#repr lists:
// the plain form, an embedding type's name, "listening" with the bound address
// (the real port: our Bind records it), "connected" with the peer's address.
func TestRepr(t *testing.T) {
	testutil.CheckFDLeaks(t)
	m := loop.NewMap()
	d := dispatcher.New(m)
	assert.Equal(t, fmt.Sprintf("<dispatcher.Dispatcher at %p>", d), d.String())
	assert.Regexp(t, regexp.MustCompile(`^<dispatcher\.Dispatcher at 0x[0-9a-f]+>$`), d.String())
	assert.Equal(t, d.String(), fmt.Sprint(d), "fmt uses String")

	r := &reprType{}
	r.Init(r, m)
	assert.Equal(t, fmt.Sprintf("<dispatcher_test.reprType at %p>", r), r.String())

	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			fam.skipUnavailable(t)
			s := dispatcher.New(m)
			require.NoError(t, s.CreateSocket(fam.af, dispatcher.SockStream))
			t.Cleanup(func() { _ = s.Close() })
			require.NoError(t, s.Bind(fam.addr(t)))
			require.NoError(t, s.Listen(5))
			local := s.Socket().LocalAddr().String()
			assert.Equal(t, fmt.Sprintf("<dispatcher.Dispatcher listening %s at %p>", local, s), s.String())
			if fam.af == dispatcher.AFInet {
				assert.Regexp(t, `^<dispatcher\.Dispatcher listening 127\.0\.0\.1:[1-9][0-9]* at 0x[0-9a-f]+>$`, s.String())
			}

			conn, err := net.Dial(fam.network(), local)
			require.NoError(t, err)
			c := dispatcher.New(m)
			require.NoError(t, c.AdoptConn(conn.(adoptable)))
			t.Cleanup(func() { _ = c.Close() })
			assert.Equal(t, fmt.Sprintf("<dispatcher.Dispatcher connected %s at %p>", local, c), c.String())

			require.NoError(t, s.Close())
			assert.Equal(t, fmt.Sprintf("<dispatcher.Dispatcher %s at %p>", local, s), s.String(),
				"as in asyncore, Close keeps the address")
		})
	}
}

// captureLog points d's Logger at a buffer, without timestamps.
func captureLog(d *dispatcher.Dispatcher) *bytes.Buffer {
	buf := &bytes.Buffer{}
	d.Logger = slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	}))
	return buf
}

func logLines(buf *bytes.Buffer) []string {
	s := strings.TrimRight(buf.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// TestLog is test_log: Log writes every message, at info level.
func TestLog(t *testing.T) {
	d := dispatcher.New(loop.NewMap())
	buf := captureLog(d)
	l1 := "Lovely spam! Wonderful spam!"
	l2 := "I don't like spam!"
	d.Log(l1)
	d.Log(l2)
	channel := " channel=" + strconv.Quote(d.String())
	assert.Equal(t, []string{
		"level=INFO msg=" + strconv.Quote(l1) + channel,
		"level=INFO msg=" + strconv.Quote(l2) + channel,
	}, logLines(buf))

	d.IgnoreLogTypes = []string{"info", "warning", "error"}
	d.Log("always")
	assert.Len(t, logLines(buf), 3, "Log ignores IgnoreLogTypes")
}

// TestLogInfo is test_log_info: LogInfo records the type; "error" and
// "warning" map to their slog levels, any other word to info.
func TestLogInfo(t *testing.T) {
	d := dispatcher.New(loop.NewMap())
	buf := captureLog(d)
	l1 := "Have you got anything without spam?"
	l2 := "Why can't she have egg bacon spam and sausage?"
	l3 := "THAT'S got spam in it!"
	d.LogInfo(l1, "EGGS")
	d.LogInfo(l2, "info")
	d.LogInfo(l3, "SPAM")
	d.LogInfo("bad", "error")
	d.LogInfo("silenced by default", "warning")
	assert.Equal(t, []string{
		"level=INFO msg=" + strconv.Quote(l1) + " type=EGGS",
		"level=INFO msg=" + strconv.Quote(l2) + " type=info",
		"level=INFO msg=" + strconv.Quote(l3) + " type=SPAM",
		"level=ERROR msg=bad type=error",
	}, logLines(buf))

	buf.Reset()
	d.IgnoreLogTypes = []string{"EGGS"}
	d.LogInfo(l1, "EGGS")
	d.LogInfo("now shown", "warning")
	assert.Equal(t, []string{`level=WARN msg="now shown" type=warning`}, logLines(buf))
}

// TestUnhandled is test_unhandled: the default handlers log "unhandled …"
// warnings, which the default IgnoreLogTypes silences and an empty one
// shows. HandleAccepted also closes the descriptor; HandleClose closes the
// dispatcher.
func TestUnhandled(t *testing.T) {
	testutil.CheckFDLeaks(t)
	d := dispatcher.New(loop.NewMap())
	buf := captureLog(d)
	d.HandleExpt()
	d.HandleRead()
	d.HandleWrite()
	d.HandleConnect()
	assert.Empty(t, buf.String(), "warnings are ignored by default")

	d.IgnoreLogTypes = []string{}
	d.HandleExpt()
	d.HandleRead()
	d.HandleWrite()
	d.HandleConnect()
	assert.Equal(t, []string{
		`level=WARN msg="unhandled incoming priority event" type=warning`,
		`level=WARN msg="unhandled read event" type=warning`,
		`level=WARN msg="unhandled write event" type=warning`,
		`level=WARN msg="unhandled connect event" type=warning`,
	}, logLines(buf))

	buf.Reset()
	a, _ := testutil.Socketpair(t)
	fd, err := unix.FcntlInt(uintptr(a), unix.F_DUPFD_CLOEXEC, 0)
	require.NoError(t, err)
	d.HandleAccepted(fd, nil)
	_, err = unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	assert.ErrorIs(t, err, unix.EBADF, "the default HandleAccepted closes the connection")

	require.NoError(t, d.CreateSocket(dispatcher.AFInet, dispatcher.SockStream))
	d.HandleClose()
	assert.Equal(t, -1, d.Fd(), "the default HandleClose closes")
	assert.Equal(t, []string{
		`level=WARN msg="unhandled accepted event" type=warning`,
		`level=WARN msg="unhandled close event" type=warning`,
	}, logLines(buf))
}

// --- HelperFunctionTests, through HandleEvents (asyncore's readwrite) ---

// TestReadwrite is test_readwrite: each readiness bit reaches exactly the
// expected handler — Read→HandleRead, Priority→HandleExpt,
// Write→HandleWrite, and Err, Hangup alone and Invalid → HandleClose — and
// with every bit set the order is read, write, expt, close (spec A9).
func TestReadwrite(t *testing.T) {
	testutil.CheckFDLeaks(t)
	tests := []struct {
		name string
		ev   poller.Events
		want []string
	}{
		{"Read", poller.Read, []string{"read"}},
		{"Priority", poller.Priority, []string{"expt"}},
		{"Write", poller.Write, []string{"write"}},
		{"Err", poller.Err, []string{"close"}},
		{"Hangup", poller.Hangup, []string{"close"}},
		{"Invalid", poller.Invalid, []string{"close"}},
		{"all", poller.Read | poller.Write | poller.Priority | poller.Err, []string{"read", "write", "expt", "close"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newRecorder(t, loop.NewMap())
			require.True(t, r.Connected())
			r.HandleEvents(tt.ev)
			assert.Equal(t, tt.want, r.calls)
			assert.Empty(t, r.errs)
		})
	}
}

// panicker panics in the handler named by in.
type panicker struct {
	dispatcher.Dispatcher
	in       string
	writable bool
	errs     []error
}

func (p *panicker) maybePanic(name string) {
	if p.in == name {
		panic("boom in " + name)
	}
}

func (p *panicker) HandleRead() {
	p.maybePanic("HandleRead")
	var buf [64]byte
	_, _ = p.Recv(buf[:])
}
func (p *panicker) HandleWrite()   { p.maybePanic("HandleWrite") }
func (p *panicker) Writable() bool { return p.writable }
func (p *panicker) HandleClose() {
	p.maybePanic("HandleClose")
	_ = p.Close()
}
func (p *panicker) HandleError(err error) {
	p.errs = append(p.errs, err)
	_ = p.Close()
}

// byteCounter reads whatever arrives.
type byteCounter struct {
	dispatcher.Dispatcher
	n    int
	errs []error
}

func (c *byteCounter) HandleRead() {
	var buf [64]byte
	n, _ := c.Recv(buf[:])
	c.n += n
}
func (c *byteCounter) HandleError(err error) { c.errs = append(c.errs, err) }

// TestReadwritePanics is the crashingdummy half of test_readwriteexc and
// test_readwrite, plus test_compact_traceback: HandleEvents does not recover
// a panicking handler — the loop does, and hands it to that channel's
// HandleError as a *loop.PanicError with the stack, then goes on serving
// the other channels.
func TestReadwritePanics(t *testing.T) {
	t.Run("HandleEvents", func(t *testing.T) {
		testutil.CheckFDLeaks(t)
		p := &panicker{in: "HandleRead"}
		p.Init(p, loop.NewMap())
		a, _ := testutil.Socketpair(t)
		adoptDup(t, p, a)
		t.Cleanup(func() { _ = p.Close() })
		assert.PanicsWithValue(t, "boom in HandleRead", func() { p.HandleEvents(poller.Read) })
	})
	for _, in := range []string{"HandleRead", "HandleWrite", "HandleClose"} {
		t.Run(in, func(t *testing.T) {
			looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
				testutil.CheckFDLeaks(t)
				l := looptest.NewLoop(t, kind)
				m := l.Map()

				by := &byteCounter{}
				by.Init(by, m)
				ba, bb := testutil.Socketpair(t)
				adoptDup(t, by, ba)

				p := &panicker{in: in, writable: in == "HandleWrite"}
				p.Init(p, m)
				pa, pb := testutil.Socketpair(t)
				adoptDup(t, p, pa)
				switch in {
				case "HandleRead":
					testutil.Write(t, pb, "x")
				case "HandleClose":
					require.NoError(t, unix.Shutdown(pb, unix.SHUT_RDWR))
				}

				testutil.Write(t, bb, "a")
				testutil.RunUntil(t, l, waitFor, func() bool { return len(p.errs) > 0 && by.n >= 1 })
				testutil.Write(t, bb, "b")
				testutil.RunUntil(t, l, waitFor, func() bool { return by.n >= 2 })

				require.Len(t, p.errs, 1)
				var pe *loop.PanicError
				require.ErrorAs(t, p.errs[0], &pe)
				assert.Equal(t, "boom in "+in, pe.Value)
				assert.Contains(t, string(pe.Stack), "(*panicker)."+in, "the stack shows where it panicked")
				assert.Equal(t, -1, p.Fd())
				assert.Empty(t, by.errs)
				assert.Equal(t, m.Get(by.Fd()), by, "the other channel is still served")
			})
		})
	}
}

type readPanicker struct{ dispatcher.Dispatcher }

func (p *readPanicker) HandleRead() { panic("boom") }

// TestHandleErrorDefault is docs/asyncore-compat.md#handle-error: the default
// HandleError logs "uncaptured error, closing channel …" at error level, with
// the stack of a recovered panic, and closes the channel through HandleClose.
func TestHandleErrorDefault(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		l := looptest.NewLoop(t, kind)
		p := &readPanicker{}
		p.Init(p, l.Map())
		buf := captureLog(&p.Dispatcher)
		a, b := testutil.Socketpair(t)
		adoptDup(t, p, a)
		repr := p.String()
		testutil.Write(t, b, "x")
		testutil.RunUntil(t, l, waitFor, func() bool { return p.Fd() < 0 })
		lines := logLines(buf)
		require.Len(t, lines, 1, "one error line; the close warning is ignored")
		want := "level=ERROR msg=" + strconv.Quote("uncaptured error, closing channel "+repr+" (loop: handler panicked: boom)") + " type=error stack="
		assert.True(t, strings.HasPrefix(lines[0], want), "got %s", lines[0])
		assert.Contains(t, lines[0], "readPanicker).HandleRead")
		assert.Zero(t, l.Map().Len(), "closed and removed from the map")
	})
}

// --- Adopting sockets ---

// adoptable is what AdoptConn takes.
type adoptable interface {
	syscall.Conn
	Close() error
}

type acceptCounter struct {
	dispatcher.Dispatcher
	accepted int
	peers    []net.Addr
	errs     []error
}

func (a *acceptCounter) HandleAccepted(fd int, addr net.Addr) {
	a.accepted++
	a.peers = append(a.peers, addr)
	_ = unix.Close(fd)
}
func (a *acceptCounter) HandleError(err error) { a.errs = append(a.errs, err) }

type connReader struct {
	dispatcher.Dispatcher
	got  []byte
	errs []error
}

func (c *connReader) HandleRead() {
	var buf [64]byte
	n, _ := c.Recv(buf[:])
	c.got = append(c.got, buf[:n]...)
}
func (c *connReader) HandleError(err error) { c.errs = append(c.errs, err) }

// TestAdoptConn adopts the socket of a net.Listener, which becomes
// Accepting with Addr its address and accepts through the loop, and of a
// net.Conn, which becomes Connected with Addr the peer and carries data
// both ways. The net value is closed by AdoptConn.
func TestAdoptConn(t *testing.T) {
	forEachAPI(t, func(t *testing.T, e *env) {
		t.Run("listener", func(t *testing.T) {
			ln, err := net.Listen(e.fam.network(), e.fam.addr(t))
			require.NoError(t, err)
			want := ln.Addr().String()
			d := &acceptCounter{}
			d.Init(d, e.m)
			require.NoError(t, d.AdoptConn(ln.(adoptable)))
			_, err = ln.Accept()
			assert.ErrorIs(t, err, net.ErrClosed, "AdoptConn closes the listener it was given")
			assert.True(t, d.Accepting())
			assert.False(t, d.Connected())
			require.NotNil(t, d.Addr())
			assert.Equal(t, want, d.Addr().String())
			assert.Equal(t, e.fam.af, d.Socket().Family())

			c, err := net.Dial(e.fam.network(), want)
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
			testutil.RunUntil(t, e.l, waitFor, func() bool { return d.accepted == 1 })
			assert.Empty(t, d.errs)
			if e.fam.af != dispatcher.AFUnix {
				assert.Equal(t, c.LocalAddr().String(), d.peers[0].String())
			}
			require.NoError(t, d.Close())
		})
		t.Run("conn", func(t *testing.T) {
			ln, err := net.Listen(e.fam.network(), e.fam.addr(t))
			require.NoError(t, err)
			t.Cleanup(func() { _ = ln.Close() })
			accepted := make(chan net.Conn, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					close(accepted)
					return
				}
				accepted <- c
			}()
			c, err := net.Dial(e.fam.network(), ln.Addr().String())
			require.NoError(t, err)
			peer, ok := <-accepted
			require.True(t, ok, "accept")
			t.Cleanup(func() { _ = peer.Close() })

			d := &connReader{}
			d.Init(d, e.m)
			require.NoError(t, d.AdoptConn(c.(adoptable)))
			_, err = c.Write([]byte("x"))
			assert.ErrorIs(t, err, net.ErrClosed, "AdoptConn closes the conn it was given")
			assert.True(t, d.Connected())
			assert.False(t, d.Accepting())
			require.NotNil(t, d.Addr())
			assert.Equal(t, c.RemoteAddr().String(), d.Addr().String(), "Addr is the peer")

			_, err = peer.Write([]byte("hello"))
			require.NoError(t, err)
			testutil.RunUntil(t, e.l, waitFor, func() bool { return len(d.got) >= 5 })
			assert.Equal(t, "hello", string(d.got))

			n, err := d.Send([]byte("back"))
			require.NoError(t, err)
			require.Equal(t, 4, n)
			require.NoError(t, peer.SetReadDeadline(time.Now().Add(waitFor)))
			got := make([]byte, 4)
			_, err = io.ReadFull(peer, got)
			require.NoError(t, err)
			assert.Equal(t, "back", string(got))
			assert.Empty(t, d.errs)
			require.NoError(t, d.Close())
		})
	})
}

// --- Connect failures ---

// TestConnectRefused is F16(a) (connect-failure, docs/failure-modes.md): a
// connect to a port (or path) nobody listens on reaches HandleError with
// ECONNREFUSED — from SO_ERROR, on every backend — and never HandleConnect.
// AF_UNIX refuses at once, so Connect itself returns the error.
func TestConnectRefused(t *testing.T) {
	forEachAPI(t, func(t *testing.T, e *env) {
		ln, err := net.Listen(e.fam.network(), e.fam.addr(t))
		require.NoError(t, err)
		if ul, ok := ln.(*net.UnixListener); ok {
			ul.SetUnlinkOnClose(false) // keep the path: connect(2) then says ECONNREFUSED
		}
		address := ln.Addr().String()
		require.NoError(t, ln.Close())

		r := &recorder{}
		r.Init(r, e.m)
		r.onClose = func() { _ = r.Close() }
		require.NoError(t, r.CreateSocket(e.fam.af, dispatcher.SockStream))
		err = r.Connect(address)
		if err != nil {
			t.Logf("Connect returned %v at once", err)
			assert.ErrorIs(t, err, syscall.ECONNREFUSED)
		} else {
			e.runUntil(func() bool { return len(r.errs) > 0 })
			require.Len(t, r.errs, 1)
			assert.ErrorIs(t, r.errs[0], syscall.ECONNREFUSED)
			e.runFor(3)
		}
		assert.Zero(t, r.count("connect"), "HandleConnect must not run")
		assert.LessOrEqual(t, r.count("error"), 1)
		assert.False(t, r.Connecting())
		assert.False(t, r.Connected())
	})
}

// TestConnectMissingPath: a connect to an AF_UNIX path that does not exist
// fails in Connect with ENOENT and, unlike asyncore
// (docs/asyncore-compat.md#small-differences), leaves Connecting false. The
// socket stays the dispatcher's.
func TestConnectMissingPath(t *testing.T) {
	testutil.CheckFDLeaks(t)
	r := &recorder{}
	r.Init(r, loop.NewMap())
	require.NoError(t, r.CreateSocket(dispatcher.AFUnix, dispatcher.SockStream))
	t.Cleanup(func() { _ = r.Close() })
	err := r.Connect(t.TempDir() + "/missing.sock")
	require.Error(t, err)
	assert.ErrorIs(t, err, syscall.ENOENT)
	assert.False(t, r.Connecting())
	assert.False(t, r.Connected())
	assert.Nil(t, r.Addr())
	assert.GreaterOrEqual(t, r.Fd(), 0)
	assert.Empty(t, r.calls)
}

// --- EOF, broken pipes, closed dispatchers ---

// TestRecvEOF is docs/asyncore-compat.md#send-and-recv: nothing to read is 0
// and no error; data is returned; EOF calls HandleClose and returns io.EOF.
func TestRecvEOF(t *testing.T) {
	testutil.CheckFDLeaks(t)
	r, peer := newRecorder(t, loop.NewMap())
	buf := make([]byte, 16)
	n, err := r.Recv(buf)
	assert.NoError(t, err, "EAGAIN is not an error")
	assert.Zero(t, n)

	testutil.Write(t, peer, "abc")
	require.NoError(t, unix.Shutdown(peer, unix.SHUT_WR))
	n, err = r.Recv(buf)
	require.NoError(t, err)
	assert.Equal(t, "abc", string(buf[:n]))
	assert.Empty(t, r.calls)

	n, err = r.Recv(buf)
	assert.ErrorIs(t, err, io.EOF)
	assert.Zero(t, n)
	assert.Equal(t, []string{"close"}, r.calls, "EOF calls HandleClose, not HandleError")
}

// TestSendBrokenPipe is docs/asyncore-compat.md#send-and-recv and
// F14 (reset-mid-write, docs/failure-modes.md): a send to a peer that stopped
// reading fails with EPIPE, which calls HandleClose, not HandleError, and
// raises no SIGPIPE.
func TestSendBrokenPipe(t *testing.T) {
	testutil.CheckFDLeaks(t)
	r, peer := newRecorder(t, loop.NewMap())
	require.NoError(t, unix.Shutdown(peer, unix.SHUT_RD))
	n, err := r.Send([]byte("data"))
	assert.Zero(t, n)
	assert.ErrorIs(t, err, syscall.EPIPE)
	assert.Equal(t, []string{"close"}, r.calls)
}

// TestClosedDispatcherIO: every I/O and set-up call on a closed dispatcher —
// or one that never had a socket — returns ErrClosed (which is also
// net.ErrClosed) and calls no handler; Close is idempotent.
func TestClosedDispatcherIO(t *testing.T) {
	testutil.CheckFDLeaks(t)
	m := loop.NewMap()
	r, _ := newRecorder(t, m)
	require.NoError(t, r.Close())
	require.NoError(t, r.Close(), "closing twice is harmless")
	assert.Zero(t, m.Len())

	never := &recorder{}
	never.Init(never, m)
	require.NoError(t, never.Close(), "closing without a socket is harmless")

	for name, d := range map[string]*recorder{"closed": r, "never opened": never} {
		t.Run(name, func(t *testing.T) {
			buf := make([]byte, 8)
			_, recvErr := d.Recv(buf)
			_, sendErr := d.Send([]byte("x"))
			_, _, recvFromErr := d.Socket().RecvFrom(buf)
			_, sendToErr := d.Socket().SendTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9})
			fd, _, acceptErr := d.Accept()
			assert.Equal(t, -1, fd)
			for call, err := range map[string]error{
				"Recv":         recvErr,
				"Send":         sendErr,
				"RecvFrom":     recvFromErr,
				"SendTo":       sendToErr,
				"Accept":       acceptErr,
				"Bind":         d.Bind("127.0.0.1:0"),
				"Listen":       d.Listen(5),
				"Connect":      d.Connect("127.0.0.1:9"),
				"SetReuseAddr": d.SetReuseAddr(),
			} {
				assert.ErrorIs(t, err, dispatcher.ErrClosed, call)
				assert.ErrorIs(t, err, net.ErrClosed, call)
			}
			assert.Empty(t, d.calls, "no handler runs")
			assert.False(t, d.Connected())
			assert.False(t, d.Accepting())
			assert.False(t, d.Connecting())
		})
	}

	w := &dispatcher.DispatcherWithSend{}
	w.Init(w, m)
	w.Send([]byte("dropped"))
	assert.Zero(t, w.Pending(), "DispatcherWithSend queues nothing without a socket")
}

// TestNoHandlerAfterClose is F6(a) (double-close, docs/failure-modes.md): once
// a handler has closed the dispatcher, no other handler runs for the same event
// — neither the write handler for a socket both readable and writable, nor
// HandleClose for a hang-up reported alongside — and HandleClose runs at most
// once.
func TestNoHandlerAfterClose(t *testing.T) {
	tests := []struct {
		name  string
		peer  func(t *testing.T, fd int) // what the peer does first
		read  func(r *recorder)          // what HandleRead does
		calls []string
	}{
		{
			name:  "HandleRead calls Close",
			peer:  func(t *testing.T, fd int) { testutil.Write(t, fd, "x") },
			read:  func(r *recorder) { _ = r.Close() },
			calls: []string{"read"},
		},
		{
			name: "Recv sees EOF",
			peer: func(t *testing.T, fd int) {
				testutil.Write(t, fd, "x")
				require.NoError(t, unix.Shutdown(fd, unix.SHUT_RDWR))
			},
			read: func(r *recorder) {
				var buf [64]byte
				for {
					if _, err := r.Recv(buf[:]); err != nil {
						return
					}
				}
			},
			calls: []string{"read", "close"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Run("HandleEvents", func(t *testing.T) {
				testutil.CheckFDLeaks(t)
				r, peer := newRecorder(t, loop.NewMap())
				r.writable = true
				r.onRead = func() { tt.read(r) }
				r.onClose = func() { _ = r.Close() }
				tt.peer(t, peer)
				r.HandleEvents(poller.Read | poller.Write | poller.Priority | poller.Hangup)
				assert.Equal(t, tt.calls, r.calls)
				assert.Equal(t, -1, r.Fd())
			})
			looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
				testutil.CheckFDLeaks(t)
				l := looptest.NewLoop(t, kind)
				r, peer := newRecorder(t, l.Map())
				r.writable = true
				r.onRead = func() { tt.read(r) }
				r.onClose = func() { _ = r.Close() }
				tt.peer(t, peer)
				testutil.RunUntil(t, l, waitFor, func() bool { return r.Fd() < 0 })
				for range 3 {
					require.NoError(t, l.RunOnce(time.Millisecond))
				}
				require.Len(t, r.events, 1)
				require.NotZero(t, r.events[0]&poller.Write, "the event must carry Write too (got %v)", r.events[0])
				assert.Equal(t, tt.calls, r.calls)
			})
		})
	}
}

// --- Datagrams ---

type dgram struct {
	dispatcher.Dispatcher
	useRecv bool
	got     []string
	from    []net.Addr
	closes  int
	errs    []error
}

func (d *dgram) HandleRead() {
	var buf [256]byte
	if d.useRecv {
		n, err := d.Recv(buf[:])
		if err == nil {
			d.got = append(d.got, string(buf[:n]))
		}
		return
	}
	n, from, err := d.Socket().RecvFrom(buf[:])
	if err == nil && from != nil {
		d.got = append(d.got, string(buf[:n]))
		d.from = append(d.from, from)
	}
}
func (d *dgram) HandleClose()          { d.closes++; _ = d.Close() }
func (d *dgram) HandleError(err error) { d.errs = append(d.errs, err) }

// TestDatagram: SendTo and RecvFrom carry datagrams both ways between two
// datagram dispatchers, with the sender's address; a zero-length datagram
// is not EOF — Recv returns 0 and no error and HandleClose does not run.
func TestDatagram(t *testing.T) {
	forEachAPI(t, func(t *testing.T, e *env) {
		bind := func() *dgram {
			d := &dgram{}
			d.Init(d, e.m)
			require.NoError(t, d.CreateSocket(e.fam.af, dispatcher.SockDgram))
			require.NoError(t, d.Bind(e.fam.addr(t)))
			assert.Equal(t, dispatcher.SockDgram, d.Socket().Type())
			return d
		}
		a, b := bind(), bind()

		n, err := a.Socket().SendTo([]byte("hello"), b.Socket().LocalAddr())
		require.NoError(t, err)
		require.Equal(t, 5, n)
		e.runUntil(func() bool { return len(b.got) > 0 })
		assert.Equal(t, []string{"hello"}, b.got)
		assert.Equal(t, a.Socket().LocalAddr().String(), b.from[0].String())

		n, err = b.Socket().SendTo([]byte("world"), b.from[0])
		require.NoError(t, err)
		require.Equal(t, 5, n)
		e.runUntil(func() bool { return len(a.got) > 0 })
		assert.Equal(t, []string{"world"}, a.got)

		b.useRecv, b.got = true, nil
		_, err = a.Socket().SendTo(nil, b.Socket().LocalAddr())
		require.NoError(t, err)
		_, err = a.Socket().SendTo([]byte("next"), b.Socket().LocalAddr())
		require.NoError(t, err)
		e.runUntil(func() bool { return len(b.got) >= 2 })
		e.runFor(3)
		assert.Equal(t, []string{"", "next"}, b.got, "the empty datagram, then the next")
		assert.Zero(t, b.closes, "a zero-length datagram is not EOF")
		assert.GreaterOrEqual(t, b.Fd(), 0)
		assert.Empty(t, a.errs)
		assert.Empty(t, b.errs)
	})
}
