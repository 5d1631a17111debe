//go:build unix

package producer

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// openGuard is how long a test waits for FileProducer on a FIFO before it
// unblocks it by opening the FIFO's writing end and fails: not a speed
// target, only a way to turn a hang into a failure.
const openGuard = 10 * time.Second

// fileProducerAsync runs FileProducer(path) on a goroutine and returns its
// error, unblocking a FIFO open that hangs (see openGuard) and failing the
// test if it had to.
func fileProducerAsync(t *testing.T, path string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		p, err := FileProducer(path, 0)
		if p != nil {
			_ = p.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(openGuard):
		// Open the writing end so the blocked open returns.
		w, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err == nil {
			defer w.Close()
		}
		t.Errorf("FileProducer(%s) blocked for %v", path, openGuard)
		return <-done
	}
}

// TestFileProducerRefusesNonRegular: a FIFO with no writer, a character
// device and a directory are refused at once with ErrNotRegular. Opening a
// FIFO for reading used to wait for a writer, on the loop's goroutine.
func TestFileProducerRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, unix.Mkfifo(fifo, 0o600))
	for _, path := range []string{fifo, "/dev/null", dir} {
		err := fileProducerAsync(t, path)
		assert.ErrorIs(t, err, ErrNotRegular, path)
	}
}

// TestFileProducerFromFile serves an open regular file and refuses an open
// FIFO, leaving it to the caller.
func TestFileProducerFromFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(path, []byte("abcdefgh"), 0o600))
	f, err := os.Open(path)
	require.NoError(t, err)
	p, err := FileProducerFrom(f, 4)
	require.NoError(t, err)
	assert.Equal(t, []string{"abcd", "efgh"}, drain(t, p, 10))
	assert.ErrorIs(t, f.Close(), os.ErrClosed, "closed when exhausted")

	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, unix.Mkfifo(fifo, 0o600))
	fd, err := unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	ff := os.NewFile(uintptr(fd), fifo)
	p, err = FileProducerFrom(ff, 0)
	assert.Nil(t, p)
	assert.ErrorIs(t, err, ErrNotRegular)
	assert.NoError(t, ff.Close(), "a refused file is left to the caller")
}
