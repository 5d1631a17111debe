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
