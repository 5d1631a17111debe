package sock

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestUnnamedUnixPeerHasEmptyName(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	require.NoError(t, err)
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	sa, err := unix.Getpeername(fds[0])
	require.NoError(t, err)
	addr := ToNetAddr(sa, unix.SOCK_STREAM)
	require.IsType(t, &net.UnixAddr{}, addr)
	assert.Equal(t, "", addr.(*net.UnixAddr).Name)
}

func TestResolveRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		family  int
		address string
		want    string
	}{
		{unix.AF_INET, "127.0.0.1:80", "127.0.0.1:80"},
		{unix.AF_INET6, "[::1]:8080", "[::1]:8080"},
		{unix.AF_INET6, "127.0.0.1:80", "127.0.0.1:80"}, // v4-mapped, printed as IPv4 by net.IP
		{unix.AF_INET, "localhost:7", "127.0.0.1:7"},
	} {
		sa, err := Resolve(tc.family, tc.address)
		require.NoError(t, err, tc.address)
		assert.Equal(t, tc.want, ToNetAddr(sa, unix.SOCK_STREAM).String(), tc.address)
	}
	_, err := Resolve(unix.AF_INET, "[::1]:80")
	assert.Error(t, err, "an IPv6 address does not fit AF_INET")
	_, err = Resolve(unix.AF_INET, "no-port")
	assert.Error(t, err)
}

// TestRecv: Recv reads what a non-blocking socket holds, reports EAGAIN
// (unwrapped) when it holds nothing and 0 at the peer's end of stream,
// retries an injected EINTR and honours an injected size limit, as Read
// does.
func TestRecv(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	require.NoError(t, err)
	defer unix.Close(fds[0])
	require.NoError(t, unix.SetNonblock(fds[0], true))
	buf := make([]byte, 16)
	_, err = Recv(fds[0], buf)
	assert.Equal(t, unix.EAGAIN, err, "nothing to read yet")

	_, err = Send(fds[1], []byte("hello, world"))
	require.NoError(t, err)
	eintr := 2
	restore := SetInjector(func(op Op, fd int) Fault {
		if op == OpRead && fd == fds[0] {
			if eintr > 0 {
				eintr--
				return Fault{Err: unix.EINTR}
			}
			return Fault{Max: 5}
		}
		return Fault{}
	})
	n, err := Recv(fds[0], buf)
	restore()
	require.NoError(t, err)
	assert.Equal(t, "hello", string(buf[:n]), "the injected limit, after two EINTRs")
	assert.Zero(t, eintr)
	n, err = Recv(fds[0], buf)
	require.NoError(t, err)
	assert.Equal(t, ", world", string(buf[:n]))

	require.NoError(t, unix.Close(fds[1]))
	n, err = Recv(fds[0], buf)
	assert.NoError(t, err)
	assert.Zero(t, n, "end of stream")
}
