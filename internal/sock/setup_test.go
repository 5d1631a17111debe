package sock

import (
	"os"
	"runtime"
	"testing"

	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// udpPair returns two non-blocking datagram sockets bound to loopback, and
// their addresses; both are closed when the test ends.
func udpPair(t *testing.T) (a, b int, aAddr, bAddr unix.Sockaddr) {
	t.Helper()
	open := func() (int, unix.Sockaddr) {
		fd, err := Socket(unix.AF_INET, unix.SOCK_DGRAM)
		require.NoError(t, err)
		t.Cleanup(func() { _ = unix.Close(fd) })
		require.NoError(t, Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
		sa, err := LocalAddr(fd)
		require.NoError(t, err)
		return fd, sa
	}
	a, aAddr = open()
	b, bAddr = open()
	return a, b, aAddr, bAddr
}

// waitReadable blocks until fd is readable, with poll(2) and no timeout:
// the test's own hang guard is go test's -timeout.
func waitReadable(t *testing.T, fd int) {
	t.Helper()
	for {
		_, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, -1)
		if err != unix.EINTR {
			require.NoError(t, err)
			return
		}
	}
}

func TestSendToRecvFromFaults(t *testing.T) {
	a, b, aAddr, bAddr := udpPair(t)

	calls := script(t, OpWrite, a, Fault{Err: unix.EINTR}, Fault{Max: 1}, Fault{Err: unix.EAGAIN}, Fault{Err: unix.EMSGSIZE})
	require.NoError(t, SendTo(a, []byte("hello"), bAddr), "EINTR retried; a Max does not cut a datagram")
	assert.Equal(t, 2, *calls)
	assert.Equal(t, unix.EAGAIN, SendTo(a, []byte("x"), bAddr), "errors come back unwrapped")
	assert.Equal(t, unix.EMSGSIZE, SendTo(a, []byte("x"), bAddr))

	waitReadable(t, b)
	calls = script(t, OpRead, b, Fault{Err: unix.EINTR}, Fault{Err: unix.ECONNREFUSED}, Fault{Err: unix.EINTR}, Fault{Max: 2})
	buf := make([]byte, 16)
	n, sa, err := RecvFrom(b, buf)
	assert.Equal(t, unix.ECONNREFUSED, err)
	assert.Zero(t, n)
	assert.Nil(t, sa)
	n, sa, err = RecvFrom(b, buf)
	require.NoError(t, err)
	assert.Equal(t, "he", string(buf[:n]), "a Max truncates the datagram as a short buffer would")
	assert.Equal(t, aAddr, sa)
	assert.Equal(t, 4, *calls)
	_, _, err = RecvFrom(b, buf)
	assert.Equal(t, unix.EAGAIN, err, "the rest of the truncated datagram is gone")
}

func TestShutdownFaults(t *testing.T) {
	a, b := testutil.Socketpair(t)
	calls := script(t, OpShutdown, a, Fault{Err: unix.EINTR}, Fault{Err: unix.EINTR}, Fault{}, Fault{Err: unix.ENOTCONN})
	require.NoError(t, Shutdown(a, unix.SHUT_WR))
	assert.Equal(t, 3, *calls, "two EINTRs retried")
	n, err := unix.Read(b, make([]byte, 1))
	require.NoError(t, err)
	assert.Zero(t, n, "the peer reads EOF")
	assert.Equal(t, unix.ENOTCONN, Shutdown(a, unix.SHUT_WR))
}

func TestOpenFaults(t *testing.T) {
	opens := func() []func() ([]int, error) {
		fs := []func() ([]int, error){
			func() ([]int, error) { fd, err := OpenDevNull(); return []int{fd}, err },
			func() ([]int, error) { p, err := Pipe(); return p[:], err },
		}
		if runtime.GOOS == "linux" {
			fs = append(fs, eventfdForTest)
		}
		return fs
	}()
	for i, open := range opens {
		calls := script(t, OpOpen, -1, Fault{Err: unix.EMFILE})
		fds, err := open()
		assert.ErrorIs(t, err, unix.EMFILE, "open %d", i)
		var se *os.SyscallError
		assert.ErrorAs(t, err, &se, "open %d: the error names the call", i)
		for _, fd := range fds {
			assert.Equal(t, -1, fd, "open %d", i)
		}
		fds, err = open()
		require.NoError(t, err, "open %d", i)
		assert.Equal(t, 2, *calls, "open %d", i)
		for _, fd := range fds {
			flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
			require.NoError(t, err)
			assert.NotZero(t, flags&unix.FD_CLOEXEC, "open %d: close-on-exec", i)
			require.NoError(t, unix.Close(fd))
		}
	}
}

func TestFileLimit(t *testing.T) {
	rl, err := FileLimit()
	require.NoError(t, err)
	assert.Positive(t, rl.Cur)
	assert.GreaterOrEqual(t, rl.Max, rl.Cur)
}
