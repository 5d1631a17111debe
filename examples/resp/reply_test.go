package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
)

// TestHugeReplyBounded asks for one reply far larger than the chat's
// OutLimit — an MGET that names a 1 MiB value 300 times, 300 MiB of reply
// for 3 KiB of request — and checks that the server does not build it:
// the connection is closed once what is queued goes past OutLimit, as the
// chat closes any client over it, and the server has allocated far less
// than the reply's size. Another client is served meanwhile and after.
func TestHugeReplyBounded(t *testing.T) {
	const (
		times    = 300
		maxAlloc = 3 * chat.DefaultOutLimit
	)
	val := strings.Repeat("m", 1<<20)
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		addr := start(t, kind)
		other := dial(t, addr)
		send(t, other, encode("SET", "m", val))
		require.Equal(t, status("OK"), other.read())

		args := append([]string{"MGET"}, strings.Split(strings.Repeat("m ", times), " ")[:times]...)
		before := testutil.Allocated()
		rc := dial(t, addr)
		rc.write(encode(args...))
		got, err := io.Copy(io.Discard, rc.r)
		grew := testutil.Allocated() - before
		t.Logf("%d bytes received before the close, %d bytes allocated", got, grew)
		assert.NoError(t, err, "the server should close the connection")
		assert.Less(t, got, int64(times<<20), "the whole reply was sent")
		assert.Less(t, grew, uint64(maxAlloc), "bytes allocated for one oversized reply")
		info, _ := other.do("INFO", "stats").(string)
		assert.Contains(t, info, "\r\nlimit_disconnections:1\r\n")
		assert.Equal(t, status("PONG"), other.do("PING"))
	})
}

// TestLargeGetsShareTheValue sends GETs of an 8 MiB value and checks that
// the server does not copy the value for each reply: the process allocates
// less than one value's size for five replies, which are queued by
// reference to the stored value (chat.PushShared).
func TestLargeGetsShareTheValue(t *testing.T) {
	const gets = 5
	val := strings.Repeat("s", maxMessage-3) + "!"
	forFirstBackend(t, func(t *testing.T, kind poller.Kind) {
		addr := start(t, kind)
		rc := dial(t, addr)
		send(t, rc, encode("SET", "big", val))
		require.Equal(t, status("OK"), rc.read())
		req := []byte(strings.Repeat(string(encode("GET", "big")), gets))
		reply := []byte("$" + strconv.Itoa(len(val)) + "\r\n" + val + "\r\n")
		buf := make([]byte, len(reply))

		before := testutil.Allocated()
		rc.write(req)
		for i := range gets {
			_, err := io.ReadFull(rc.r, buf)
			require.NoError(t, err)
			require.True(t, bytes.Equal(buf, reply), "reply %d", i)
		}
		grew := testutil.Allocated() - before
		t.Logf("%d bytes allocated for %d replies of %d bytes", grew, gets, len(val))
		assert.Less(t, grew, uint64(len(val)), "bytes allocated for %d GETs", gets)
	})
}

// TestOverwriteWhileQueued overwrites a value while GETs' replies, queued
// by reference to it, are still waiting to be written: they must carry the
// old value to its last byte, although the server reuses a value's memory
// for a new value that fits in it. The client has a small receive buffer
// and sends four GETs of a 200 KiB value (less than the chat's high-water
// mark in all, so the server goes on reading), a SET of the key to another
// value of the same length and a GET; it reads nothing until another client
// sees the new value.
func TestOverwriteWhileQueued(t *testing.T) {
	const size = 200 << 10
	old := strings.Repeat("o", size-1) + "!"
	new := strings.Repeat("n", size-1) + "?"
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		addr := start(t, kind)
		observer := dial(t, addr)
		require.Equal(t, status("OK"), observer.do("SET", "k", old))

		d := net.Dialer{Control: func(_, _ string, raw syscall.RawConn) error {
			return raw.Control(func(fd uintptr) {
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096)
			})
		}}
		conn, err := d.Dial("tcp", addr.String())
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })
		require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
		victim := &respClient{t: t, conn: conn, r: bufio.NewReader(conn)}

		req := bytes.Repeat(encode("GET", "k"), 4)
		req = append(req, encode("SET", "k", new)...)
		req = append(req, encode("GET", "k")...)
		send(t, victim, req)
		for polls := 0; observer.do("GET", "k") != new; polls++ {
			require.Less(t, polls, 10_000, "the SET was never run")
		}
		for i := range 4 {
			got := victim.read()
			require.True(t, got == old, "GET %d, queued before the SET: %.40v", i, got)
		}
		assert.Equal(t, status("OK"), victim.read())
		got := victim.read()
		assert.True(t, got == new, "GET after the SET: %.40v", got)
	})
}
