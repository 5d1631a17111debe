package dispatcher_test

// F2 (connection-cap, docs/failure-modes.md): a connection cap. Over
// dispatcher.MaxConns the listener accepts, sends its RejectMessage and
// closes at once; the loop keeps serving the connections it has.

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// capEcho echoes what it reads and counts the bytes.
type capEcho struct {
	dispatcher.DispatcherWithSend
	echoed *int
}

func (e *capEcho) HandleRead() {
	var buf [512]byte
	if n, _ := e.Recv(buf[:]); n > 0 {
		*e.echoed += n
		e.Send(buf[:n])
	}
}

func (e *capEcho) HandleClose() { _ = e.Close() }

// capServer adopts every accepted connection into a capEcho.
type capServer struct {
	dispatcher.Dispatcher
	echoed int
	conns  []*capEcho
}

func (s *capServer) HandleAccepted(fd int, _ net.Addr) {
	e := &capEcho{echoed: &s.echoed}
	e.Init(e, s.Map())
	if err := e.Adopt(fd); err == nil {
		s.conns = append(s.conns, e)
	}
}

func TestMaxConns(t *testing.T) {
	const maxConns, clients = 10, 50
	reject := "-ERR max number of clients reached\r\n"
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		testutil.CheckFDLeaks(t)
		l, err := loop.New(loop.Options{Map: loop.NewMap(), Backend: kind})
		require.NoError(t, err)
		dispatcher.SetMaxConns(l.Map(), maxConns)
		t.Cleanup(func() {
			_ = dispatcher.CloseAll(l.Map(), true)
			_ = l.Close()
		})
		assert.Equal(t, maxConns, dispatcher.MaxConns(l.Map()))
		conns := func() int { return dispatcher.Stats(l.Map()).Conns }
		s := &capServer{}
		s.Init(s, l.Map())
		s.RejectMessage = []byte(reject)
		require.NoError(t, s.ListenTCP("127.0.0.1:0"))
		addr := s.Socket().LocalAddr().String()
		fdsBefore := testutil.OpenFDs()

		var cs []net.Conn
		t.Cleanup(func() {
			for _, c := range cs {
				_ = c.Close()
			}
		})
		for i := range clients {
			c, err := net.Dial("tcp4", addr)
			require.NoError(t, err)
			cs = append(cs, c)
			testutil.RunUntil(t, l, waitFor, func() bool {
				return conns()+int(s.AcceptStats().Rejected) == i+1
			})
		}
		assert.Equal(t, maxConns, conns())
		assert.Equal(t, maxConns, len(s.conns))
		assert.EqualValues(t, clients-maxConns, s.AcceptStats().Rejected)
		st := dispatcher.Stats(l.Map())
		assert.EqualValues(t, clients-maxConns, st.Rejected, "Stats.Rejected")
		assert.EqualValues(t, maxConns, st.Accepted, "Stats.Accepted")
		assert.Equal(t, maxConns, st.Conns, "Stats.Conns")
		assert.Equal(t, maxConns+1, l.Stats().Channels, "loop Stats.Channels: the served ones and the listener")
		if fdsBefore > 0 {
			// The clients live in this process too: one each.
			assert.Equal(t, fdsBefore+clients+maxConns, testutil.OpenFDs(),
				"the server holds one descriptor per served connection, none for refused ones")
		}

		// The refused clients got the reject line, then EOF.
		for _, c := range cs[maxConns:] {
			require.NoError(t, c.SetReadDeadline(time.Now().Add(waitFor)))
			got, err := io.ReadAll(c)
			require.NoError(t, err)
			assert.Equal(t, reject, string(got))
		}

		// The served ones are served.
		echo := func(c net.Conn) {
			t.Helper()
			want := s.echoed + 5
			_, err := c.Write([]byte("ping\n"))
			require.NoError(t, err)
			testutil.RunUntil(t, l, waitFor, func() bool { return s.echoed >= want })
			require.NoError(t, c.SetReadDeadline(time.Now().Add(waitFor)))
			line, err := bufio.NewReader(c).ReadString('\n')
			require.NoError(t, err)
			assert.Equal(t, "ping\n", line)
		}
		for _, c := range cs[:maxConns] {
			echo(c)
		}

		// Five close; five newcomers are served, the sixth is refused.
		for _, c := range cs[:5] {
			require.NoError(t, c.Close())
		}
		testutil.RunUntil(t, l, waitFor, func() bool { return conns() == maxConns-5 })
		for i := range 6 {
			c, err := net.Dial("tcp4", addr)
			require.NoError(t, err)
			cs = append(cs, c)
			testutil.RunUntil(t, l, waitFor, func() bool {
				return conns()+int(s.AcceptStats().Rejected) == maxConns-5+clients-maxConns+i+1
			})
			if i < 5 {
				echo(c)
			}
		}
		assert.Equal(t, maxConns, conns())
		assert.EqualValues(t, clients-maxConns+1, s.AcceptStats().Rejected)
		assert.True(t, s.Accepting(), "the listener stays open")

		// Raising the cap while running lets the next one in.
		dispatcher.SetMaxConns(l.Map(), maxConns+1)
		c, err := net.Dial("tcp4", addr)
		require.NoError(t, err)
		cs = append(cs, c)
		testutil.RunUntil(t, l, waitFor, func() bool { return conns() == maxConns+1 })
		echo(c)
	})
}
