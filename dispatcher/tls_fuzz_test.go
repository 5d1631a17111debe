package dispatcher_test

import (
	"bytes"
	"crypto/tls"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/require"
)

// recordingConn keeps what a client writes and never answers.
type recordingConn struct {
	net.Conn
	buf bytes.Buffer
}

func (c *recordingConn) Write(p []byte) (int, error) { return c.buf.Write(p) }

// clientHello returns the first flight of a crypto/tls client.
func clientHello(f *testing.F) []byte {
	f.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	rc := &recordingConn{Conn: a}
	c := tls.Client(rc, &tls.Config{ServerName: "localhost"})
	_ = c.SetDeadline(time.Now().Add(time.Millisecond))
	_ = c.Handshake() // fails reading the answer: the hello is written
	return rc.buf.Bytes()
}

// Random bytes sent to a TLS port: no panic, and neither a goroutine nor a
// descriptor outlives the connection.
func FuzzTLSServerInput(f *testing.F) {
	hello := clientHello(f)
	f.Add([]byte{})
	f.Add([]byte("GET / HTTP/1.0\r\n\r\n"))
	f.Add(hello)
	f.Add(hello[:len(hello)/2])
	f.Add(append(bytes.Clone(hello), hello...))
	f.Add([]byte{22, 3, 1, 0xff, 0xff})                     // a record that claims 64 KiB
	f.Add([]byte{21, 3, 3, 0, 2, 2, 40})                    // a fatal alert
	f.Add([]byte{0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15}) // an SSLv2 hello
	srvCfg, _ := testutil.TLSCert(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
			base := runtime.NumGoroutine()
			testutil.CheckFDLeaks(t) // after the loop's own clean-up
			var made []*tlsEcho
			l, addr := serveTLS(t, kind, srvCfg, &made)
			c, err := net.Dial("tcp4", addr)
			require.NoError(t, err)
			_, _ = c.Write(data)
			_ = c.(*net.TCPConn).CloseWrite()
			testutil.RunUntil(t, l, 30*time.Second, func() bool { return len(made) == 1 && made[0].Fd() < 0 })
			_ = c.Close()
			st := dispatcher.Stats(l.Map())
			require.Zero(t, st.TLSHandshaking)
			require.Zero(t, st.TLSHandshakes)
			awaitGoroutines(t, l, base)
		})
	})
}
