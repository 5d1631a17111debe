//go:build linux

package dispatcher_test

// F3 (fd-leak, docs/failure-modes.md), after libevent's test-fdleak.c:
// thousands of connect/echo/close cycles against a server limited to 64
// descriptors, so that a descriptor leaked by any way a connection can end soon
// makes accept fail.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// leakEndings are the ways a cycle of TestNoFDLeak ends, in turn. Each
// gets a connection that has echoed one line.
var leakEndings = []struct {
	name string
	end  func(c *net.TCPConn, r *bufio.Reader) error
}{
	{"client closes first", func(c *net.TCPConn, _ *bufio.Reader) error {
		return c.Close()
	}},
	{"server closes first", func(c *net.TCPConn, r *bufio.Reader) error {
		if _, err := io.WriteString(c, "QUIT\n"); err != nil {
			return err
		}
		rest, err := io.ReadAll(r) // to the server's EOF
		if err != nil {
			return err
		}
		if string(rest) != "BYE\n" {
			return fmt.Errorf("got %q before EOF, want BYE", rest)
		}
		return c.Close()
	}},
	{"client reset", func(c *net.TCPConn, _ *bufio.Reader) error {
		if err := c.SetLinger(0); err != nil {
			return err
		}
		return c.Close()
	}},
	{"client half-close", func(c *net.TCPConn, r *bufio.Reader) error {
		if _, err := io.WriteString(c, "last\n"); err != nil {
			return err
		}
		if err := c.CloseWrite(); err != nil {
			return err
		}
		rest, err := io.ReadAll(r) // the reply, then the server's EOF
		if err != nil {
			return err
		}
		if string(rest) != "last\n" {
			return fmt.Errorf("got %q after the half-close, want the echo of the last line", rest)
		}
		return c.Close()
	}},
	{"client closes mid-frame", func(c *net.TCPConn, _ *bufio.Reader) error {
		if _, err := io.WriteString(c, "a line that never ends"); err != nil {
			return err
		}
		return c.Close()
	}},
}

// leakCycle connects to addr, echoes one line and ends the connection the
// way number i says.
func leakCycle(addr string, i int) error {
	conn, err := net.DialTimeout("tcp4", addr, testutil.HangGuard)
	if err != nil {
		return err
	}
	c := conn.(*net.TCPConn)
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(testutil.HangGuard)); err != nil {
		return err
	}
	line := fmt.Sprintf("cycle %d", i)
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return err
	}
	r := bufio.NewReader(c)
	got, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if got != line+"\n" {
		return fmt.Errorf("echoed %q", got)
	}
	return leakEndings[i%len(leakEndings)].end(c, r)
}

// TestNoFDLeak is F3 (fd-leak, docs/failure-modes.md): 500 sequential
// connect/echo/close cycles (4000 in the long runs, testutil.Long) against a
// line-echo AsyncChat server in a child limited to 64 descriptors, rotating
// through five endings: the client closes first, the server closes first
// ("QUIT"), the client resets, the client half-closes and reads to EOF, the
// client closes in the middle of a line. Every cycle must succeed; afterwards
// the child holds the descriptors and goroutines it started with and no
// connection.
func TestNoFDLeak(t *testing.T) {
	cycles := testutil.Rounds(500, 4000)
	child, addr := childServer(t, roleLine)
	baseFDs := testutil.ProcFDs(child.Pid)
	require.Positive(t, baseFDs)
	baseGoroutines := child.Ask("goroutines")

	start := time.Now()
	for i := range cycles {
		if err := leakCycle(addr, i); err != nil {
			t.Fatalf("cycle %d (%s): %v", i, leakEndings[i%len(leakEndings)].name, err)
		}
	}
	t.Logf("%d cycles in %v", cycles, time.Since(start).Round(time.Millisecond))

	awaitChildFDs(t, child, baseFDs)
	assert.Zero(t, child.Ask("conns"), "connections left in the child's map")
	assert.Equal(t, baseGoroutines, child.Ask("goroutines"), "goroutines in the child")
	child.Stop()
}
