package sock

import (
	"path/filepath"
	"runtime"
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
			if tc.address[0] == '@' && runtime.GOOS != "linux" {
				t.Skip("abstract Unix-domain names are Linux's")
			}
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

			c, err := unix.Socket(tc.family, unix.SOCK_STREAM, 0)
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

// TestSendvScratch: a write of a few buffers builds its iovecs on the stack
// and leaves the caller's scratch empty; one of more buffers than that uses
// the scratch, grown once, and sends every byte in order.
func TestSendvScratch(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	require.NoError(t, err)
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	var iov IovecScratch
	few := [][]byte{[]byte("a"), []byte("b")}
	n, err := Sendv(fds[0], few, &iov, false)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Nil(t, iov.v, "a few buffers need no scratch")

	var many [][]byte
	want := ""
	for i := range 3 * stackIovecs {
		b := []byte{byte('A' + i)}
		many = append(many, b)
		want += string(b)
	}
	buf := make([]byte, 256)
	rd := func() string {
		n, err := unix.Read(fds[1], buf)
		require.NoError(t, err)
		return string(buf[:n])
	}
	assert.Equal(t, "ab", rd())
	n, err = Sendv(fds[0], many, &iov, false)
	require.NoError(t, err)
	assert.Equal(t, len(want), n)
	assert.Equal(t, want, rd())
	if unix.SizeofPtr == 8 && iov.v != nil { // Linux: the scratch was used
		for _, v := range (*iov.v)[:cap(*iov.v)] {
			assert.Nil(t, v.Base, "no reference to the caller's buffers is kept")
		}
	}
	allocs := testing.AllocsPerRun(10, func() {
		_, _ = Sendv(fds[0], many, &iov, false)
		_, _ = unix.Read(fds[1], buf)
		_, _ = Sendv(fds[0], few, &iov, false)
		_, _ = unix.Read(fds[1], buf)
	})
	if runtime.GOOS == "linux" {
		assert.Zero(t, allocs)
	}
}
