package dispatcher_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/poller"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// byeServer answers "bye" with "ok" and then ends the connection the way
// its field says.
type byeServer struct {
	tlsEcho
	how string // "closewhendone" or "shutdownwrite"
}

func (h *byeServer) HandleData(p []byte) {
	h.got += len(p)
	h.Send([]byte("ok"))
	switch h.how {
	case "closewhendone":
		h.CloseWhenDone()
	case "shutdownwrite":
		h.ShutdownWriteWhenDone()
	}
}

// Our close sends close_notify: our own client, on the same loop, sees
// an orderly end (HandleClose), not ErrTLSTruncated — after CloseWhenDone
// and after ShutdownWriteWhenDone (close_notify, then SHUT_WR).
func TestTLSCloseSendsCloseNotify(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		for _, how := range []string{"closewhendone", "shutdownwrite"} {
			base := runtime.NumGoroutine()
			srvCfg, cliCfg := testutil.TLSCert(t)
			l := looptest.NewLoop(t, kind)
			m := l.Map()
			var srvH *byeServer
			srv, err := dispatcher.ServeTLS(m, "127.0.0.1:0", srvCfg, func() dispatcher.Handler {
				srvH = &byeServer{how: how}
				srvH.Init(srvH, m)
				return srvH
			})
			require.NoError(t, err)
			cli := newTLSEcho(m)
			cli.noEcho = true
			dialTLS(t, cli, srv.Addr().String(), cliCfg)
			testutil.RunUntil(t, l, 30*time.Second, func() bool { return cli.got == 2 && (cli.closes > 0 || len(cli.errs) > 0) })
			assert.Empty(t, cli.errs, how)
			if how == "shutdownwrite" {
				// The server still reads: our client's close ends it.
				assert.GreaterOrEqual(t, srvH.Fd(), 0)
				_ = cli.Close()
			}
			testutil.RunUntil(t, l, 30*time.Second, func() bool { return srvH.Fd() < 0 })
			assert.Empty(t, srvH.errs, how)
			awaitGoroutines(t, l, base)
		}
	})
}

// startTLSServer is a DispatcherWithSend that answers STARTTLS with
// "220 ready" and switches; everything else is echoed with "echo ".
type startTLSServer struct {
	tlsEcho
	cfg   *tls.Config
	lines []string
}

func (h *startTLSServer) HandleData(p []byte) {
	for _, line := range strings.SplitAfter(string(p), "\r\n") {
		if line == "" {
			continue
		}
		h.lines = append(h.lines, line)
		_, isTLS := h.Socket().ConnectionState()
		if line == "STARTTLS\r\n" && !isTLS {
			h.Send([]byte("220 ready\r\n"))
			if err := h.StartTLS(h.cfg); err != nil {
				h.errs = append(h.errs, err)
			}
			return // the rest was pipelined behind STARTTLS: dropped
		}
		h.Send([]byte("echo " + line))
	}
}

func TestDispatcherWithSendStartTLS(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		base := runtime.NumGoroutine()
		srvCfg, cliCfg := testutil.TLSCert(t)
		l := looptest.NewLoop(t, kind)
		m := l.Map()
		var made []*startTLSServer
		srv, err := dispatcher.Serve(m, "127.0.0.1:0", func() dispatcher.Handler {
			h := &startTLSServer{cfg: srvCfg}
			h.Init(h, m)
			made = append(made, h)
			return h
		})
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- startTLSPeer(srv.Addr().String(), cliCfg) }()
		require.NoError(t, wait(t, l, done))
		h := made[0]
		testutil.RunUntil(t, l, 10*time.Second, func() bool { return h.Fd() < 0 })
		assert.Equal(t, []string{"EHLO\r\n", "STARTTLS\r\n", "AFTER\r\n"}, h.lines)
		assert.Empty(t, h.errs)
		awaitGoroutines(t, l, base)
	})
}

// startTLSPeer says EHLO and STARTTLS in plaintext, reads up to "220
// ready", then sends AFTER over TLS and reads its echo.
func startTLSPeer(addr string, cfg *tls.Config) error {
	raw, err := net.Dial("tcp4", addr)
	if err != nil {
		return err
	}
	defer raw.Close()
	if _, err := io.WriteString(raw, "EHLO\r\nSTARTTLS\r\n"); err != nil {
		return err
	}
	var seen strings.Builder
	one := make([]byte, 1)
	for !strings.HasSuffix(seen.String(), "220 ready\r\n") {
		if _, err := raw.Read(one); err != nil {
			return fmt.Errorf("before 220: %q: %w", seen.String(), err)
		}
		seen.Write(one)
	}
	c := tls.Client(raw, cfg)
	if _, err := io.WriteString(c, "AFTER\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "echo AFTER\r\n" {
		return fmt.Errorf("over TLS: %q %v", line, err)
	}
	return c.Close()
}
