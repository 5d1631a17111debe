package dispatcher_test

// Property tests over random fault scripts
// (docs/failure-modes.md#test-harness-notes, F1 accept-emfile): accept and
// connect fail through internal/sock's fault-injection seam with the errnos the
// kernel rarely produces on demand. The seed is logged, and -fault.seed replays
// a failing run.

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/sock"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

var faultQuiet = slog.New(slog.DiscardHandler)

// faultListener is a listener that checks, around every HandleAccept, that
// it backs off after running out of descriptors. HandleAccepted greets each
// connection with one byte and closes it, so a client can tell an accepted
// connection from a shed one.
type faultListener struct {
	dispatcher.Dispatcher
	accepted   int
	closes     int
	errs       []error
	exhausted  bool      // EMFILE, ENFILE or ENOBUFS was injected in this HandleAccept
	pausedAt   time.Time // when the last HandleAccept that paused began
	pauses     int
	violations []string
}

func (s *faultListener) HandleAccept() {
	start := time.Now()
	if !s.pausedAt.IsZero() && start.Sub(s.pausedAt) < s.AcceptBackoff {
		s.violations = append(s.violations, fmt.Sprintf("HandleAccept %v after a pause of %v", start.Sub(s.pausedAt), s.AcceptBackoff))
	}
	s.exhausted = false
	s.Dispatcher.HandleAccept()
	if s.exhausted {
		if s.Interest() != 0 {
			s.violations = append(s.violations, "out of descriptors, but the listener is still watched")
		}
		s.pausedAt = start
		s.pauses++
	}
}

func (s *faultListener) HandleAccepted(fd int, _ net.Addr) {
	s.accepted++
	_, _ = unix.Write(fd, []byte{'A'})
	_ = unix.Close(fd)
}

func (s *faultListener) HandleClose()          { s.closes++; _ = s.Close() }
func (s *faultListener) HandleError(err error) { s.errs = append(s.errs, err) }

// TestFaultListener scripts accept failures — EMFILE, ENFILE, ENOBUFS,
// ECONNABORTED, EAGAIN, EINTR — while clients connect. Properties: the
// listener is never closed and nothing reaches HandleError or HandleClose;
// after running out of descriptors it is not watched again for
// AcceptBackoff; every client is either accepted (it gets the greeting) or
// shed (it gets EOF or a reset at once); and with the faults gone a new
// client is accepted.
func TestFaultListener(t *testing.T) {
	const backoff = 2 * time.Millisecond
	seed := testutil.FaultSeed(t)
	scripts := looptest.FaultScripts(600, 90)
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		l := looptest.NewLoop(t, kind)
		s := &faultListener{}
		s.Init(s, l.Map())
		s.Logger = faultQuiet
		s.AcceptBackoff = backoff
		require.NoError(t, s.CreateSocket(dispatcher.AFInet, dispatcher.SockStream))
		require.NoError(t, s.Bind("127.0.0.1:0"))
		require.NoError(t, s.Listen(128))
		fd, addr := s.Fd(), s.Socket().LocalAddr().String()

		start := time.Now()
		for i := range scripts {
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			where := fmt.Sprintf("seed %d script %d", seed, i)
			rate := rng.Float64() * 0.8
			var log []string
			restore := sock.SetInjector(func(op sock.Op, f int) sock.Fault {
				if op != sock.OpAccept || f != fd || rng.Float64() >= rate {
					return sock.Fault{}
				}
				errno := []unix.Errno{unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ECONNABORTED, unix.EAGAIN, unix.EINTR}[rng.IntN(6)]
				if errno == unix.EMFILE || errno == unix.ENFILE || errno == unix.ENOBUFS {
					s.exhausted = true
				}
				if len(log) < 64 {
					log = append(log, unix.ErrnoName(errno))
				}
				return sock.Fault{Err: errno}
			})

			accepted, shed := s.accepted, s.AcceptStats().Shed
			clients := make([]net.Conn, 1+rng.IntN(5))
			for j := range clients {
				c, err := net.Dial("tcp4", addr)
				if err != nil {
					restore()
					t.Fatalf("%s: dial: %v", where, err)
				}
				clients[j] = c
			}
			n := 0
			for s.accepted-accepted+int(s.AcceptStats().Shed-shed) < len(clients) {
				if time.Since(start) > time.Minute || n > 100000 {
					restore()
					t.Fatalf("%s: %d of %d clients accepted or shed (faults %v)", where, s.accepted-accepted+int(s.AcceptStats().Shed-shed), len(clients), log)
				}
				require.NoError(t, l.RunOnce(10*time.Millisecond))
				n++
			}
			restore()

			greeted := 0
			for _, c := range clients {
				require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
				b, err := io.ReadAll(c)
				if len(b) == 1 && b[0] == 'A' {
					greeted++
				} else if len(b) > 0 || (err != nil && !errors.Is(err, unix.ECONNRESET)) {
					t.Errorf("%s: a client read %q, %v", where, b, err)
				}
				_ = c.Close()
			}
			switch {
			case greeted != s.accepted-accepted:
				t.Fatalf("%s: %d clients greeted, %d accepted", where, greeted, s.accepted-accepted)
			case !s.Accepting() || s.Fd() != fd || l.Map().Get(fd) != loop.Channel(s) || s.closes > 0:
				t.Fatalf("%s: the listener was closed (faults %v)", where, log)
			case len(s.errs) > 0:
				t.Fatalf("%s: HandleError %v (faults %v)", where, s.errs, log)
			case len(s.violations) > 0:
				t.Fatalf("%s: %s (faults %v)", where, strings.Join(s.violations, "; "), log)
			}
		}
		t.Logf("%d scripts, %d clients accepted and %d shed, %d pauses, in %v", scripts, s.accepted, s.AcceptStats().Shed, s.pauses, time.Since(start).Round(time.Millisecond))

		// With no faults a new client is accepted, once any pause is over.
		c, err := net.Dial("tcp4", addr)
		require.NoError(t, err)
		defer c.Close()
		accepted := s.accepted
		testutil.RunUntil(t, l, 5*time.Second, func() bool { return s.accepted > accepted })
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		b, err := io.ReadAll(c)
		require.NoError(t, err)
		assert.Equal(t, "A", string(b))
		assert.True(t, s.Accepting())
		assert.Empty(t, s.errs)
	})
}

// faultConn is a client whose connect the fault script fails. It counts
// its handlers and notices any that runs after the close.
type faultConn struct {
	dispatcher.Dispatcher
	connects, handleCloses, closes int
	errs                           []error
	late                           int
}

func (c *faultConn) seen() {
	if c.closes > 0 {
		c.late++
	}
}

func (c *faultConn) HandleConnect() { c.seen(); c.connects++ }
func (c *faultConn) HandleRead()    { c.seen() }
func (c *faultConn) HandleWrite()   { c.seen() }
func (c *faultConn) HandleClose()   { c.seen(); c.handleCloses++; c.Dispatcher.HandleClose() }

func (c *faultConn) HandleError(err error) {
	c.seen()
	c.errs = append(c.errs, err)
	c.Dispatcher.HandleError(err) // logs, then HandleClose
}

func (c *faultConn) Close() error {
	if c.Fd() >= 0 {
		c.closes++
	}
	return c.Dispatcher.Close()
}

// closeAccepted is a listener that closes what it accepts.
type closeAccepted struct {
	dispatcher.Dispatcher
	accepted int
}

func (s *closeAccepted) HandleAccepted(fd int, _ net.Addr) {
	s.accepted++
	_ = unix.Close(fd)
}

// TestFaultConnect scripts connect failures. A failure that connect(2)
// reports at once is returned by Connect, as asyncore raises it, and
// reaches no handler; one that the socket reports later (SO_ERROR, after
// the connect went on in the background) reaches HandleError exactly once,
// with its errno, and the default handling closes the dispatcher. Either
// way HandleConnect never runs, Connecting ends false, nothing runs after
// the close, and the descriptor is released.
func TestFaultConnect(t *testing.T) {
	seed := testutil.FaultSeed(t)
	scripts := looptest.FaultScripts(300, 60)
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		l := looptest.NewLoop(t, kind)
		ln := &closeAccepted{}
		ln.Init(ln, l.Map())
		ln.Logger = faultQuiet
		require.NoError(t, ln.CreateSocket(dispatcher.AFInet, dispatcher.SockStream))
		require.NoError(t, ln.Bind("127.0.0.1:0"))
		require.NoError(t, ln.Listen(128))
		addr := ln.Socket().LocalAddr().String()

		for i := range scripts {
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			errno := []unix.Errno{unix.ECONNREFUSED, unix.ETIMEDOUT, unix.ENETUNREACH, unix.EHOSTUNREACH}[rng.IntN(4)]
			now := rng.IntN(2) == 0 // connect(2) fails at once, or the socket reports it later
			where := fmt.Sprintf("seed %d script %d (%s, at once %v)", seed, i, unix.ErrnoName(errno), now)
			before := testutil.OpenFDs()

			c := &faultConn{}
			c.Init(c, l.Map())
			c.Logger = faultQuiet
			require.NoError(t, c.CreateSocket(dispatcher.AFInet, dispatcher.SockStream))
			fd := c.Fd()
			restore := sock.SetInjector(func(op sock.Op, f int) sock.Fault {
				switch {
				case f != fd:
				case op == sock.OpConnect && now, op == sock.OpSoError && !now:
					return sock.Fault{Err: errno}
				}
				return sock.Fault{}
			})
			accepted := ln.accepted
			err := c.Connect(addr)
			if now {
				require.ErrorIs(t, err, errno, where)
				assert.False(t, c.Connecting(), where)
				require.NoError(t, c.Close(), where)
			} else {
				require.NoError(t, err, where)
				testutil.RunUntil(t, l, 5*time.Second, func() bool { return c.closes > 0 && ln.accepted > accepted })
				require.Len(t, c.errs, 1, where)
				assert.ErrorIs(t, c.errs[0], errno, where)
				assert.Equal(t, 1, c.handleCloses, where)
			}
			restore()
			require.NoError(t, l.RunOnce(0)) // a late event would reach a handler now
			switch {
			case c.connects != 0:
				t.Fatalf("%s: HandleConnect ran", where)
			case c.Connecting() || c.Connected():
				t.Fatalf("%s: connecting %v, connected %v after the failure", where, c.Connecting(), c.Connected())
			case c.closes != 1 || c.late != 0:
				t.Fatalf("%s: closed %d times, %d handler calls after the close", where, c.closes, c.late)
			case now && (len(c.errs) != 0 || c.handleCloses != 0):
				t.Fatalf("%s: an immediate failure reached HandleError %v, HandleClose %d times", where, c.errs, c.handleCloses)
			case c.Fd() != -1 || l.Map().Get(fd) != nil:
				t.Fatalf("%s: the dispatcher kept its descriptor", where)
			}
			if after := testutil.OpenFDs(); after != before {
				t.Fatalf("%s: descriptors open: %d before the script, %d after", where, before, after)
			}
		}
	})
}
