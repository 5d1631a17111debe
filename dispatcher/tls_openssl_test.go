package dispatcher_test

// KeyUpdate and renegotiation need a peer that sends them, which
// crypto/tls never does on its own: openssl s_client does, on its
// commands "K" (KeyUpdate, update requested) and "R" (renegotiate). The
// tests skip where openssl is not installed.

import (
	"bytes"
	"crypto/tls"
	"io"
	"os/exec"
	"runtime"
	"strings"
	"sync"
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

// lockedBuffer collects a child's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// sClient runs openssl s_client against addr; its stdin is returned, its
// output collected. It is killed when the test ends.
func sClient(t *testing.T, addr string, args ...string) (io.WriteCloser, *lockedBuffer, *exec.Cmd) {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	cmd := exec.Command(path, append([]string{"s_client", "-connect", addr, "-servername", "localhost"}, args...)...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return in, out, cmd
}

// runUntilOutput runs l until out holds tok.
func runUntilOutput(t *testing.T, l *loop.Loop, out *lockedBuffer, tok string) {
	t.Helper()
	testutil.RunUntil(t, l, 30*time.Second, func() bool { return strings.Contains(out.String(), tok) })
}

// KeyUpdate (TLS 1.3) with an update requested: tls.Conn answers with its
// own KeyUpdate while the loop reads, and both sides go on with new keys.
func TestTLSKeyUpdateFromOpenSSL(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		base := runtime.NumGoroutine()
		srvCfg, _ := testutil.TLSCert(t)
		var made []*tlsEcho
		l, addr := serveTLS(t, kind, srvCfg, &made)
		in, out, _ := sClient(t, addr, "-tls1_3")
		_, _ = io.WriteString(in, "tok-one\n")
		runUntilOutput(t, l, out, "tok-one\n")
		// s_client takes a command only at the start of what one read
		// of its stdin returns: each line waits for the last one's effect.
		for i := range 3 {
			_, _ = io.WriteString(in, "K\n")
			testutil.RunUntil(t, l, 30*time.Second, func() bool {
				return strings.Count(out.String(), "KEYUPDATE") == i+1
			})
		}
		_, _ = io.WriteString(in, "tok-two\n")
		runUntilOutput(t, l, out, "tok-two\n")
		require.Len(t, made, 1)
		h := made[0]
		_ = in.Close() // s_client closes with close_notify
		testutil.RunUntil(t, l, 30*time.Second, func() bool { return h.Fd() < 0 })
		assert.Empty(t, h.errs, "output: %s", out.String())
		assert.Equal(t, len("tok-one\ntok-two\n"), h.got)
		assert.Equal(t, tls.VersionTLS13, int(h.state.Version))
		awaitGoroutines(t, l, base)
	})
}

// A TLS 1.2 client that tries to renegotiate is refused with an alert; the
// server reports it to HandleError and goes on serving others.
func TestTLSRenegotiationRefused(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		base := runtime.NumGoroutine()
		srvCfg, cliCfg := testutil.TLSCert(t)
		var made []*tlsEcho
		l, addr := serveTLS(t, kind, srvCfg, &made)
		in, out, cmd := sClient(t, addr, "-tls1_2")
		_, _ = io.WriteString(in, "tok-one\n")
		runUntilOutput(t, l, out, "tok-one\n")
		_, _ = io.WriteString(in, "R\n")
		h := made[0]
		testutil.RunUntil(t, l, 30*time.Second, func() bool { return h.Fd() < 0 })
		require.Len(t, h.errs, 1, "output: %s", out.String())
		var te *dispatcher.TLSError
		require.ErrorAs(t, h.errs[0], &te)
		assert.Equal(t, "read", te.Op)
		t.Logf("server saw: %v", h.errs[0])
		_ = in.Close()
		_ = cmd.Wait()

		// The server still serves.
		done := tlsClient(addr, cliCfg, func(c *tls.Conn) error { return echoRoundTrip(c, []byte("still here")) })
		require.NoError(t, wait(t, l, done))
		awaitGoroutines(t, l, base)
	})
}
