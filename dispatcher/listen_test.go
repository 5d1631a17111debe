package dispatcher_test

import (
	"net"
	"testing"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestFamilyOf(t *testing.T) {
	assert.Equal(t, dispatcher.AFInet, dispatcher.FamilyOf("127.0.0.1:80"))
	assert.Equal(t, dispatcher.AFInet, dispatcher.FamilyOf("localhost:80"))
	assert.Equal(t, dispatcher.AFInet6, dispatcher.FamilyOf("[::1]:80"))
	assert.Equal(t, dispatcher.AFInet6, dispatcher.FamilyOf("[fe80::1%lo]:80"))
	assert.Equal(t, dispatcher.AFInet, dispatcher.FamilyOf("garbage"))
}

// TestListenTCP: one call gives a listening, reuse-address socket of the
// right family whose Addr has the real port; a client can connect.
func TestListenTCP(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(addr, func(t *testing.T) {
			m := loop.NewMap()
			s := dispatcher.New(m)
			if err := s.ListenTCP(addr); err != nil {
				if addr == "[::1]:0" {
					t.Skipf("no IPv6 loopback: %v", err)
				}
				require.NoError(t, err)
			}
			t.Cleanup(func() { _ = s.Close() })
			assert.True(t, s.Accepting())
			assert.Equal(t, dispatcher.FamilyOf(addr), s.Socket().Family())
			tcp, ok := s.Addr().(*net.TCPAddr)
			require.True(t, ok, "Addr is a *net.TCPAddr")
			assert.NotZero(t, tcp.Port, "the real port, not 0")
			reuse, err := unix.GetsockoptInt(s.Fd(), unix.SOL_SOCKET, unix.SO_REUSEADDR)
			require.NoError(t, err)
			assert.NotZero(t, reuse)
			c, err := net.Dial("tcp", tcp.String())
			require.NoError(t, err)
			require.NoError(t, c.Close())
		})
	}
}

// TestListenTCPFailureClosesSocket: a port already in use fails, and the
// socket made for it is closed and out of the map.
func TestListenTCPFailureClosesSocket(t *testing.T) {
	taken, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	m := loop.NewMap()
	s := dispatcher.New(m)
	err = s.ListenTCP(taken.Addr().String())
	assert.ErrorIs(t, err, unix.EADDRINUSE)
	assert.Equal(t, -1, s.Fd())
	assert.Zero(t, m.Len())
}

// TestBindReusePort: ReusePort is honoured by Bind itself, so a server that
// sets its socket up step by step — CreateSocket, Bind, Listen, as asyncore
// code does — can share a port as ListenTCP's listeners do; without it the
// second Bind is refused.
func TestBindReusePort(t *testing.T) {
	m := loop.NewMap()
	listen := func(reusePort bool, addr string) (*dispatcher.Dispatcher, error) {
		d := dispatcher.New(m)
		require.NoError(t, d.CreateSocket(dispatcher.AFInet, dispatcher.SockStream))
		t.Cleanup(func() { _ = d.Close() })
		d.ReusePort = reusePort
		if err := d.Bind(addr); err != nil {
			return nil, err
		}
		return d, d.Listen(0)
	}
	first, err := listen(true, "127.0.0.1:0")
	require.NoError(t, err)
	addr := first.Addr().String()
	_, err = listen(true, addr)
	assert.NoError(t, err, "a second listener with ReusePort binds the same port")
	_, err = listen(false, addr)
	assert.ErrorIs(t, err, unix.EADDRINUSE, "without ReusePort the port is taken")
}
