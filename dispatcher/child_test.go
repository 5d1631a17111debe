//go:build linux

package dispatcher_test

// F1 (accept-emfile, docs/failure-modes.md) with a real descriptor limit: a
// child process (the test binary run again, see testutil.StartChild) lowers
// RLIMIT_NOFILE to 64 and runs an echo server; the parent fills its descriptor
// table with working clients and then opens more connections than it can take.

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// childFDLimit is the child's RLIMIT_NOFILE, soft and hard.
const childFDLimit = 64

// quietLog swallows the child's log lines (the listener warns each time it
// pauses).
var quietLog = slog.New(slog.DiscardHandler)

// childBackendEnv passes the backend the child's loop uses.
const childBackendEnv = "ASYNCORE_TEST_CHILD_BACKEND"

// Roles of the child server.
const (
	roleEcho = "echo" // a DispatcherWithSend echoing bytes (F1 accept-emfile)
	roleLine = "line" // an AsyncChat echoing lines; "QUIT" closes (F3 fd-leak)
)

// childEcho echoes whatever it reads.
type childEcho struct {
	dispatcher.DispatcherWithSend
}

func (e *childEcho) HandleRead() {
	var buf [4096]byte
	if n, _ := e.Recv(buf[:]); n > 0 {
		e.Send(buf[:n])
	}
}

// childLine echoes each line; "QUIT" is answered with "BYE" and closes
// the connection from the server's side.
type childLine struct {
	chat.AsyncChat
}

func (c *childLine) FoundTerminator() {
	line := c.TakeData()
	if string(line) == "QUIT" {
		c.Push([]byte("BYE\n"))
		c.CloseWhenDone()
		return
	}
	c.Push(line)
	c.Push([]byte("\n"))
}

// childListener serves each accepted connection in the role's type.
type childListener struct {
	dispatcher.Dispatcher
	role string
}

func (s *childListener) HandleAccepted(fd int, _ net.Addr) {
	var ch interface{ Adopt(int) error }
	switch s.role {
	case roleLine:
		c := &childLine{}
		c.Init(c, s.Map())
		c.Logger = s.Logger
		c.SetTerminator(chat.DelimiterString("\n"))
		ch = c
	default:
		e := &childEcho{}
		e.Init(e, s.Map())
		e.Logger = s.Logger
		ch = e
	}
	if err := ch.Adopt(fd); err != nil {
		_ = unix.Close(fd)
	}
}

// TestChildEchoServer is the child's side of TestAcceptEMFILE and
// TestNoFDLeak; in an ordinary run it does nothing. It limits itself to 64
// descriptors, serves 127.0.0.1:0 with no connection cap (so that accept,
// not the cap, meets the limit), says its port, and answers the parent's
// commands until its input is closed:
//
//	goroutines  runtime.NumGoroutine()
//	conns       connections in the map (dispatcher.Stats)
//	accepting   1 if the listener is still accepting, else 0
//	shed        connections the listener shed for lack of descriptors
func TestChildEchoServer(t *testing.T) {
	role := testutil.ChildRole()
	if role == "" {
		return
	}
	require.NoError(t, testutil.LimitFDs(childFDLimit))
	// The Go runtime opens its own poller's descriptors on first use of a
	// timer or of the net package (see testutil.WarmUp), which could
	// happen at any time; open them now, before the parent counts.
	testutil.WarmUp(t)
	var kind poller.Kind
	if name := os.Getenv(childBackendEnv); name != "" {
		var err error
		kind, err = poller.ParseKind(name)
		require.NoError(t, err)
	}
	l, err := loop.New(loop.Options{Map: loop.NewMap(), Backend: kind, Timeout: -1})
	require.NoError(t, err)
	dispatcher.SetMaxConns(l.Map(), -1)
	s := &childListener{role: role}
	s.Init(s, l.Map())
	s.Logger = quietLog
	require.NoError(t, s.ListenTCP("127.0.0.1:0"))
	testutil.ChildSay("port %d", s.Socket().LocalAddr().(*net.TCPAddr).Port)

	// The answers that need the loop's state are given on the loop.
	answer := func(cmd string, f func() int) {
		if err := l.Post(func() { testutil.ChildSay("%s %d", cmd, f()) }); err != nil {
			testutil.ChildSay("%s error", cmd)
		}
	}
	testutil.ChildCommands(func(cmd string) {
		switch cmd {
		case "goroutines":
			testutil.ChildSay("%s %d", cmd, runtime.NumGoroutine())
		case "conns":
			answer(cmd, func() int { return dispatcher.Stats(l.Map()).Conns })
		case "accepting":
			answer(cmd, func() int {
				if s.Accepting() && l.Map().Get(s.Fd()) == s {
					return 1
				}
				return 0
			})
		case "shed":
			answer(cmd, func() int { return int(s.AcceptStats().Shed) })
		default:
			testutil.ChildSay("unknown %q", cmd)
		}
	}, l.Stop)
	require.NoError(t, l.Run())
	require.NoError(t, dispatcher.CloseAll(l.Map(), false))
	require.NoError(t, l.Close())
}

// childServer starts the child in role on the first backend under test and
// returns it with the address it serves.
func childServer(t *testing.T, role string) (*testutil.Child, string) {
	t.Helper()
	if testutil.ProcFDs(os.Getpid()) < 0 {
		t.Skip("needs /proc")
	}
	kinds := looptest.Backends()
	require.NotEmpty(t, kinds)
	c := testutil.StartChild(t, "TestChildEchoServer", role, childBackendEnv+"="+kinds[0].String())
	port := c.Expect("port")
	return c, "127.0.0.1:" + port
}

// echoClient is one connection to the child's echo server.
type echoClient struct {
	net.Conn
	r *bufio.Reader
}

// echo sends a line and reads it back, within limit.
func (c *echoClient) echo(line string, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	if err := c.SetDeadline(start.Add(limit)); err != nil {
		return 0, err
	}
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return 0, err
	}
	got, err := c.r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	if got != line+"\n" {
		return 0, errors.New("echoed " + strconv.Quote(got))
	}
	return time.Since(start), nil
}

// dialEcho connects to addr and checks one echo.
func dialEcho(addr string, limit time.Duration) (*echoClient, error) {
	conn, err := net.DialTimeout("tcp4", addr, limit)
	if err != nil {
		return nil, err
	}
	c := &echoClient{Conn: conn, r: bufio.NewReader(conn)}
	if _, err := c.echo("hello", limit); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return c, nil
}

// TestAcceptEMFILE is F1 (accept-emfile, docs/failure-modes.md), all of its
// checks, against a child limited to 64 descriptors: with its table full, a
// storm of connections neither spins the child's CPU nor closes its listener;
// the extra connections are shed (they see EOF or a reset at once instead of
// rotting in the backlog), the existing clients are served throughout, and once
// clients leave new ones are accepted within the backoff plus slack. At the end
// the child holds exactly the descriptors it started with, its spare one
// included. The in-process variant (libuv's test-emfile.c) is
// TestAcceptEMFILEBacksOff.
func TestAcceptEMFILE(t *testing.T) {
	const (
		extras = 50              // step 2
		window = 2 * time.Second // step 3
		// A child that spins while out of descriptors burns most of the
		// window; one that waits uses a few tens of milliseconds.
		maxCPU     = window / 4                // step 3
		shedWithin = time.Second               // step 4
		maxP99     = 3 * 50 * time.Millisecond // step 5: 50ms, with the 3x margin of docs/failure-modes.md#test-harness-notes
		reaccept   = 1500 * time.Millisecond
	)
	// The wall-clock bounds (shedWithin, maxP99, reaccept) are asserted
	// only with testutil.Timing, on a machine with nothing else to do;
	// otherwise they are logged, and ioLimit, the time a connection may
	// take to be shed or served, is a hang guard.
	timed := testutil.Timing()
	ioLimit := testutil.HangGuard / 2
	if timed {
		ioLimit = 5 * time.Second
	}
	child, addr := childServer(t, roleEcho)
	base := testutil.ProcFDs(child.Pid)
	require.Positive(t, base)
	// Descriptors the child inherited above its limit take no slot.
	full := childFDLimit + testutil.ProcFDsFrom(child.Pid, childFDLimit)

	var clients []*echoClient
	t.Cleanup(func() {
		for _, c := range clients {
			_ = c.Close()
		}
	})

	// Step 1: echo clients until every descriptor the child may have is
	// in use. Each has echoed, so the child has accepted it.
	for testutil.ProcFDs(child.Pid) < full {
		require.Less(t, len(clients), childFDLimit, "the child's descriptor count does not grow")
		c, err := dialEcho(addr, ioLimit)
		require.NoError(t, err, "client %d", len(clients))
		clients = append(clients, c)
	}
	t.Logf("child: %d descriptors at start, %d clients fill its %d slots", base, len(clients), childFDLimit)
	require.Equal(t, len(clients), child.Ask("conns"))

	// Steps 2 and 4: connections the child cannot take. The kernel
	// completes their handshakes into the backlog; each must then see EOF
	// or a reset soon, not wait there. More keep coming during the window.
	type shedResult struct {
		took time.Duration
		err  error
	}
	results := make(chan shedResult, 4*extras)
	var readers sync.WaitGroup // one per extra connection, reading it
	var extraMu sync.Mutex
	var extraConns []net.Conn
	stormDone := make(chan struct{})
	t.Cleanup(func() {
		<-stormDone
		extraMu.Lock()
		for _, c := range extraConns {
			_ = c.Close()
		}
		extraMu.Unlock()
		readers.Wait()
	})
	extra := func() {
		start := time.Now()
		conn, err := net.DialTimeout("tcp4", addr, ioLimit)
		if err != nil {
			results <- shedResult{err: err}
			return
		}
		extraMu.Lock()
		extraConns = append(extraConns, conn)
		extraMu.Unlock()
		readers.Add(1)
		go func() {
			defer readers.Done()
			_ = conn.SetReadDeadline(start.Add(ioLimit))
			n, err := conn.Read(make([]byte, 1))
			switch {
			case n > 0:
				err = errors.New("an extra connection was served")
			case errors.Is(err, os.ErrDeadlineExceeded):
			default:
				err = nil // EOF or a reset: shed
			}
			results <- shedResult{time.Since(start), err}
		}()
	}
	for range extras {
		extra()
	}

	// Steps 3 and 5: over the window, the child's CPU time, while the
	// storm goes on and the clients keep echoing.
	go func() {
		defer close(stormDone)
		for range extras {
			time.Sleep(window / extras) // pacing the storm
			extra()
		}
	}()
	cpu0, err := testutil.ProcCPU(child.Pid)
	require.NoError(t, err)
	start := time.Now()
	var lat []time.Duration
	for i := 0; time.Since(start) < window; i++ {
		d, err := clients[i%len(clients)].echo("storm "+strconv.Itoa(i), ioLimit)
		require.NoError(t, err, "client %d during the storm", i%len(clients))
		lat = append(lat, d)
		time.Sleep(10 * time.Millisecond) // pacing the echoes
	}
	cpu1, err := testutil.ProcCPU(child.Pid)
	require.NoError(t, err)
	elapsed := time.Since(start)
	<-stormDone
	cpu := cpu1 - cpu0
	t.Logf("child CPU %v over %v of storm; %d echoes, p50 %v p99 %v max %v",
		cpu, elapsed.Round(time.Millisecond), len(lat), testutil.Percentile(lat, 0.5), testutil.Percentile(lat, 0.99), testutil.Percentile(lat, 1))
	assert.Less(t, cpu, maxCPU, "the child spins while out of descriptors")
	if timed {
		assert.Less(t, testutil.Percentile(lat, 0.99), maxP99, "echo p99 during the storm")
	}

	// Step 4's verdicts: every extra connection was shed in time.
	var shedTimes []time.Duration
	for len(shedTimes) < 2*extras {
		r := <-results
		require.NoError(t, r.err, "extra connection %d", len(shedTimes))
		shedTimes = append(shedTimes, r.took)
	}
	t.Logf("%d extra connections shed: p50 %v max %v", len(shedTimes), testutil.Percentile(shedTimes, 0.5), testutil.Percentile(shedTimes, 1))
	if timed {
		assert.Less(t, testutil.Percentile(shedTimes, 1), shedWithin, "an extra connection waited in the backlog")
	}

	// Step 6: one more extra is shed, which pauses the listener; then
	// twenty clients leave, and new ones are accepted and echo within the
	// backoff plus slack. One that comes before the child has seen the
	// departures is shed; it tries again.
	extra()
	r := <-results
	require.NoError(t, r.err, "the last extra connection")
	left := time.Now()
	for _, c := range clients[:20] {
		require.NoError(t, c.Close())
	}
	clients = clients[20:]
	retries := 0
	for range 10 {
		for {
			c, err := dialEcho(addr, ioLimit)
			if err == nil {
				clients = append(clients, c)
				break
			}
			retries++
			// ioLimit is a hang guard (HangGuard/2) unless timed.
			require.Less(t, time.Since(left), ioLimit, "no new connection served: %v", err)
		}
	}
	took := time.Since(left)
	t.Logf("10 new clients served %v after 20 left (%d shed and retried)", took.Round(time.Millisecond), retries)
	if timed {
		assert.Less(t, took, reaccept)
	}
	assert.Positive(t, child.Ask("shed"))

	// Step 7: the listener is open, and with every client gone the child
	// holds the descriptors it started with.
	assert.Equal(t, 1, child.Ask("accepting"), "the listener was closed")
	for _, c := range clients {
		require.NoError(t, c.Close())
	}
	clients = nil
	awaitChildFDs(t, child, base)
	assert.Zero(t, child.Ask("conns"))
	child.Stop()
}

// awaitChildFDs waits up to 5s for the child to hold base descriptors.
func awaitChildFDs(t *testing.T, child *testutil.Child, base int) {
	t.Helper()
	deadline := time.Now().Add(testutil.HangGuard)
	for n := testutil.ProcFDs(child.Pid); n != base; n = testutil.ProcFDs(child.Pid) {
		if time.Now().After(deadline) {
			t.Fatalf("child holds %d descriptors, %d at the start", n, base)
		}
		time.Sleep(5 * time.Millisecond) // polling the count
	}
}
