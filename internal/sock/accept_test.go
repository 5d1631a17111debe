package sock

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestAcceptAddrMatchesPeerAddr: the address AcceptAddr reads straight
// from accept(2) is the one ToNetAddr makes of getpeername(2), for every
// family — an unnamed Unix-domain client included.
func TestAcceptAddrMatchesPeerAddr(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		family  int
		address string
		bind    bool // bind the client, so that it has a name
	}{
		{"tcp4", unix.AF_INET, "127.0.0.1:0", false},
		{"tcp6", unix.AF_INET6, "[::1]:0", false},
		{"unix unnamed", unix.AF_UNIX, filepath.Join(dir, "l1"), false},
		{"unix named", unix.AF_UNIX, filepath.Join(dir, "l2"), true},
		{"unix abstract", unix.AF_UNIX, "@asyncore-accept-test", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := Socket(tc.family, unix.SOCK_STREAM)
			if err != nil && tc.family == unix.AF_INET6 {
				t.Skip("no IPv6:", err)
			}
			require.NoError(t, err)
			defer Close(ln)
			sa, err := Resolve(tc.family, tc.address)
			require.NoError(t, err)
			if err := Bind(ln, sa); err != nil && tc.family == unix.AF_INET6 {
				t.Skip("no IPv6 loopback:", err)
			}
			require.NoError(t, Listen(ln, 1))
			bound, err := LocalAddr(ln)
			require.NoError(t, err)

			c, err := unix.Socket(tc.family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			require.NoError(t, err)
			defer unix.Close(c)
			if tc.bind {
				csa, err := Resolve(tc.family, tc.address+"-client")
				require.NoError(t, err)
				require.NoError(t, unix.Bind(c, csa))
			}
			require.NoError(t, unix.Connect(c, bound))

			fd, addr, err := AcceptAddr(ln, unix.SOCK_STREAM)
			require.NoError(t, err)
			defer Close(fd)
			peer, err := PeerAddr(fd)
			require.NoError(t, err)
			want := ToNetAddr(peer, unix.SOCK_STREAM)
			assert.Equal(t, want, addr)
			if tc.bind {
				assert.Contains(t, addr.String(), "-client")
			}
			flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
			require.NoError(t, err)
			assert.NotZero(t, flags&unix.O_NONBLOCK, "non-blocking")
		})
	}
}
