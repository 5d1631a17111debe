package dispatcher_test

// CPython's FileWrapperTest (docs/asyncore-compat.md#file-dispatcher): a
// FileDispatcher over a regular file and over pipes. test_resource_warning has
// no Go counterpart (nothing is closed by a finalizer).

import (
	"os"
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

// fileData is FileWrapperTest's self.d: 29 bytes.
const fileData = "It's not dead, it's sleeping!"

// testFile writes fileData to a fresh file (CPython's TESTFN).
func testFile(t *testing.T) string {
	t.Helper()
	path := t.TempDir() + "/testfn"
	require.NoError(t, os.WriteFile(path, []byte(fileData), 0o600))
	return path
}

func openFD(t *testing.T, path string, flags int) int {
	t.Helper()
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	return fd
}

// fileReader is the FileDispatcher subclass of test_dispatcher: its
// HandleRead appends Recv(chunk) to data.
type fileReader struct {
	dispatcher.FileDispatcher
	chunk  int
	data   []byte
	closes int
	errs   []error
}

func (f *fileReader) HandleRead() {
	buf := make([]byte, f.chunk)
	n, _ := f.Recv(buf)
	f.data = append(f.data, buf[:n]...)
}
func (f *fileReader) HandleClose() {
	f.closes++
	_ = f.Close()
}
func (f *fileReader) HandleError(err error) { f.errs = append(f.errs, err) }

// TestFileDispatcher is test_dispatcher: a FileDispatcher over a regular
// file, whose original descriptor is closed at once, reads the whole file
// in a loop run with Count 2 (asyncore.loop(count=2)); the second pass sees
// EOF and closes it. epoll refuses regular files; the backend reports them
// always ready, as poll and select do.
func TestFileDispatcher(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		path := testFile(t)
		l := looptest.NewLoop(t, kind)
		fd := openFD(t, path, unix.O_RDONLY)
		f := &fileReader{chunk: 29}
		err := f.InitFile(f, fd, l.Map())
		require.NoError(t, unix.Close(fd))
		require.NoError(t, err)
		require.NoError(t, loop.Run(loop.Options{Map: l.Map(), Backend: kind, Timeout: 10 * time.Millisecond, Count: 2}))
		assert.Equal(t, fileData, string(f.data))
		assert.Equal(t, 1, f.closes, "EOF calls HandleClose")
		assert.Empty(t, f.errs)
		assert.Zero(t, l.Map().Len())
	})
}

// TestFileWrapperRecv is test_recv: the dispatcher reads through its own
// duplicate, so the caller may close the original; after Close, Recv fails.
func TestFileWrapperRecv(t *testing.T) {
	testutil.CheckFDLeaks(t)
	fd := openFD(t, testFile(t), unix.O_RDONLY)
	f := &fileReader{}
	err := f.InitFile(f, fd, loop.NewMap())
	require.NoError(t, unix.Close(fd))
	require.NoError(t, err)
	assert.NotEqual(t, fd, f.Fd(), "the descriptor was duplicated")
	assert.True(t, f.Connected())
	fl, err := unix.FcntlInt(uintptr(f.Fd()), unix.F_GETFL, 0)
	require.NoError(t, err)
	assert.NotZero(t, fl&unix.O_NONBLOCK, "O_NONBLOCK")

	buf := make([]byte, 13)
	n, err := f.Recv(buf)
	require.NoError(t, err)
	assert.Equal(t, "It's not dead", string(buf[:n]))
	n, err = f.Recv(buf[:6])
	require.NoError(t, err)
	assert.Equal(t, ", it's", string(buf[:n]))

	require.NoError(t, f.Close())
	_, err = f.Recv(buf)
	assert.ErrorIs(t, err, dispatcher.ErrClosed)
	assert.Zero(t, f.closes, "Recv after Close calls no handler")
}

// TestFileWrapperSend is test_send: Send appends to a file opened
// O_WRONLY|O_APPEND whose original descriptor was closed.
func TestFileWrapperSend(t *testing.T) {
	testutil.CheckFDLeaks(t)
	path := testFile(t)
	d1 := "Come again?"
	d2 := "I want to buy some cheese."
	fd := openFD(t, path, unix.O_WRONLY|unix.O_APPEND)
	f := &fileReader{}
	err := f.InitFile(f, fd, loop.NewMap())
	require.NoError(t, unix.Close(fd))
	require.NoError(t, err)
	for _, s := range []string{d1, d2} {
		n, err := f.Send([]byte(s))
		require.NoError(t, err)
		assert.Equal(t, len(s), n)
	}
	require.NoError(t, f.Close())
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, fileData+d1+d2, string(got))
}

// TestFileCloseTwice is test_close_twice: closing twice is harmless, even
// when the descriptor was closed behind the dispatcher's back (asyncore
// raises there once; Close ignores EBADF, as the package documents).
func TestFileCloseTwice(t *testing.T) {
	testutil.CheckFDLeaks(t)
	fd := openFD(t, testFile(t), unix.O_RDONLY)
	f := &fileReader{}
	err := f.InitFile(f, fd, loop.NewMap())
	require.NoError(t, unix.Close(fd))
	require.NoError(t, err)

	require.NoError(t, unix.Close(f.Fd())) // behind its back
	assert.NoError(t, f.Close())
	assert.Equal(t, -1, f.Fd())
	assert.NoError(t, f.Close(), "calling Close twice should not fail")
	assert.Zero(t, f.closes)
}

// TestFilePipe: a FileDispatcher reads a pipe through the loop, and when the
// writer closes, HandleClose runs once
// (docs/asyncore-compat.md#file-dispatcher: POLLHUP, or EOF through Recv).
func TestFilePipe(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		l := looptest.NewLoop(t, kind)
		p, err := testutil.NewPipe()
		require.NoError(t, err)
		writer := p[1]
		t.Cleanup(func() {
			if writer >= 0 {
				_ = unix.Close(writer)
			}
		})
		f := &fileReader{chunk: 64}
		err = f.InitFile(f, p[0], l.Map())
		require.NoError(t, unix.Close(p[0]))
		require.NoError(t, err)

		testutil.Write(t, writer, "hello")
		testutil.RunUntil(t, l, waitFor, func() bool { return len(f.data) >= 5 })
		assert.Equal(t, "hello", string(f.data))
		assert.Zero(t, f.closes)

		require.NoError(t, unix.Close(writer))
		writer = -1
		testutil.RunUntil(t, l, waitFor, func() bool { return f.closes > 0 })
		for range 3 {
			require.NoError(t, l.RunOnce(time.Millisecond))
		}
		assert.Equal(t, 1, f.closes)
		assert.Equal(t, -1, f.Fd())
		assert.Equal(t, "hello", string(f.data))
		assert.Empty(t, f.errs)
	})
}

// TestFilePipeSend: Send writes to a pipe; once the reader is gone the
// write fails with EPIPE, which calls HandleClose — not HandleError, and
// without a SIGPIPE.
func TestFilePipeSend(t *testing.T) {
	testutil.CheckFDLeaks(t)
	p, err := testutil.NewPipe()
	require.NoError(t, err)
	reader := p[0]
	t.Cleanup(func() {
		if reader >= 0 {
			_ = unix.Close(reader)
		}
	})
	f := &fileReader{}
	err = f.InitFile(f, p[1], loop.NewMap())
	require.NoError(t, unix.Close(p[1]))
	require.NoError(t, err)

	n, err := f.Send([]byte("data"))
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	buf := make([]byte, 8)
	n, err = unix.Read(reader, buf)
	require.NoError(t, err)
	assert.Equal(t, "data", string(buf[:n]))

	require.NoError(t, unix.Close(reader))
	reader = -1
	_, err = f.Send([]byte("more"))
	assert.ErrorIs(t, err, unix.EPIPE)
	assert.Equal(t, 1, f.closes)
	assert.Empty(t, f.errs)
	assert.Equal(t, -1, f.Fd())
}
