package tlsio_test

// The assumption the engine rests on, checked against crypto/tls itself:
// after the handshake, a read that finds the socket empty — also in the
// middle of a record — returns a temporary error that crypto/tls neither
// keeps nor lets lose the partial record.

import (
	"bytes"
	"crypto/tls"
	"net"
	"sync"
	"testing"

	"github.com/asyncore-go/asyncore/internal/sock"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/tlsio"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// captureConn passes writes to the socket, or keeps them while capturing.
type captureConn struct {
	net.Conn
	mu      sync.Mutex
	capture bool
	kept    bytes.Buffer
}

func (c *captureConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.capture {
		return c.kept.Write(p)
	}
	return c.Conn.Write(p)
}

// directPair runs a handshake between our server engine on fd and a
// crypto/tls client over cli, the loop's part done here, and returns both
// once the engine reads the socket itself.
func directPair(t *testing.T, fd int, cli net.Conn, v uint16) (*tlsio.Conn, *tls.Conn, *captureConn) {
	t.Helper()
	srvCfg, cliCfg := testutil.TLSCert(t)
	cliCfg.MaxVersion = v
	var mu sync.Mutex
	var posted []func()
	post := func(f func()) error { mu.Lock(); posted = append(posted, f); mu.Unlock(); return nil }
	c := tlsio.New(fd, srvCfg, true, post, func() {})
	t.Cleanup(c.Close)
	c.Start()
	cc := &captureConn{Conn: cli}
	client := tls.Client(cc, cliCfg)
	hs := make(chan error, 1)
	go func() { hs <- client.Handshake() }()

	// The loop's part of the handshake: feed, flush, run what was
	// posted, until the handshake goroutine is done.
	buf := make([]byte, 4096)
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		if done, err := c.Finished(); done {
			require.NoError(t, err)
			break
		}
		_, _ = unix.Poll(pfd, 1)
		if n, err := sock.Read(fd, buf); err == nil && n > 0 {
			c.Feed(buf[:n])
		}
		_, err := c.Flush()
		require.NoError(t, err)
		mu.Lock()
		fs := posted
		posted = nil
		mu.Unlock()
		for _, f := range fs {
			f()
		}
	}
	c.GoDirect()
	_, err := c.Flush()
	require.NoError(t, err)
	require.NoError(t, <-hs)
	return c, client, cc
}

func TestReadResumesAcrossEAGAINInARecord(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		fd, cli := testutil.TCPPair(t)
		defer unix.Close(fd)
		c, client, cc := directPair(t, fd, cli, v)
		buf := make([]byte, 4096)
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}

		// An empty socket: a temporary error, not a sticky one.
		c.ReadEvent()
		_, err := c.Read(buf)
		require.True(t, tlsio.WouldBlock(err), "%v", err)

		// One record, delivered a byte at a time.
		cc.mu.Lock()
		cc.capture = true
		cc.mu.Unlock()
		msg := []byte("one record, one byte at a time")
		_, err = client.Write(msg)
		require.NoError(t, err)
		record := cc.kept.Bytes()
		require.Greater(t, len(record), len(msg))
		for i, b := range record {
			_, err := cli.Write([]byte{b})
			require.NoError(t, err)
			n, err := unix.Poll(pfd, 10_000) // the byte's arrival
			require.NoError(t, err)
			require.Equal(t, 1, n, "byte %d never arrived", i)
			c.ReadEvent() // as the dispatcher says at each read event
			n, err = c.Read(buf)
			if i < len(record)-1 {
				require.Zero(t, n, "byte %d", i)
				require.True(t, tlsio.WouldBlock(err), "byte %d: %v", i, err)
				continue
			}
			// The record is whole and the socket empty: the data, and
			// possibly the news that nothing more waits.
			require.True(t, err == nil || tlsio.WouldBlock(err), "%v", err)
			assert.Equal(t, msg, buf[:n], tls.VersionName(v))
		}
	}
}

// TestReadTwoRecordsInOneSocketRead: when one socket read brings two
// records, the first Read returns the first record's data without saying
// "would block" (tls.Conn holds the second), and the second Read returns
// the rest. Reporting would-block after the first record would leave the
// second inside tls.Conn, where no poller sees it.
func TestReadTwoRecordsInOneSocketRead(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		fd, cli := testutil.TCPPair(t)
		defer unix.Close(fd)
		c, client, cc := directPair(t, fd, cli, v)
		buf := make([]byte, 4096)
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		c.ReadEvent()
		_, err := c.Read(buf)
		require.True(t, tlsio.WouldBlock(err), "%v", err)

		cc.mu.Lock()
		cc.capture = true
		cc.mu.Unlock()
		_, err = client.Write([]byte("first"))
		require.NoError(t, err)
		_, err = client.Write([]byte("second"))
		require.NoError(t, err)
		_, err = cli.Write(cc.kept.Bytes()) // both records, one segment
		require.NoError(t, err)
		n, err := unix.Poll(pfd, 10_000)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		for sock.Pending(fd) < cc.kept.Len() {
			_, _ = unix.Poll(pfd, 10) // the rest of the segment
		}

		c.ReadEvent()
		n, err = c.Read(buf)
		require.NoError(t, err, tls.VersionName(v))
		assert.Equal(t, "first", string(buf[:n]))
		n, err = c.Read(buf)
		require.True(t, err == nil || tlsio.WouldBlock(err), "%v", err)
		assert.Equal(t, "second", string(buf[:n]))
		if err == nil {
			_, err = c.Read(buf)
			require.True(t, tlsio.WouldBlock(err), "%v", err)
		}
	}
}
