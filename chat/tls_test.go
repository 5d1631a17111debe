package chat_test

// AsyncChat over TLS (docs/tls.md): line framing on a TLS listener, and the
// server's STARTTLS, where plaintext pipelined behind the command must never
// be taken as protected input (CVE-2011-0411).

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/producer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// tlsLineChat echoes lines; STARTTLS switches to TLS, QUIT closes when done.
type tlsLineChat struct {
	chat.AsyncChat
	cfg   *tls.Config // for STARTTLS
	lines []string
	tlsAt []bool // whether the line came over TLS
	errs  []error
}

func newTLSLineChat(m *loop.Map, cfg *tls.Config) *tlsLineChat {
	c := &tlsLineChat{cfg: cfg}
	c.Init(c, m)
	c.Logger = quiet
	c.SetTerminator(chat.DelimiterString("\r\n"))
	return c
}

func (c *tlsLineChat) FoundTerminator() {
	line := string(c.TakeData())
	_, ok := c.Socket().ConnectionState()
	c.lines, c.tlsAt = append(c.lines, line), append(c.tlsAt, ok)
	switch {
	case line == "STARTTLS" && c.cfg != nil:
		c.PushString("220 ready\r\n")
		if err := c.StartTLS(c.cfg); err != nil {
			c.errs = append(c.errs, err)
		}
	case line == "BIG":
		// The close follows the reply's last large chunk at once.
		c.PushWithProducer(producer.SimpleProducer(bigTLSReply, 1<<20))
		c.CloseWhenDone()
	case line == "QUIT":
		c.PushString("bye\r\n")
		c.CloseWhenDone()
	default:
		c.PushString("echo " + line + "\r\n")
	}
}

func (c *tlsLineChat) HandleError(err error) {
	c.errs = append(c.errs, err)
	c.AsyncChat.HandleError(err)
}

// bigTLSReply is what BIG answers, through a producer.
var bigTLSReply = bytes.Repeat([]byte("0123456789abcde\n"), 1<<16) // 1 MiB

// serveChat serves tlsLineChat; with tlsCfg set, on a TLS listener.
func serveChat(t *testing.T, e *env, tlsCfg, startCfg *tls.Config) (string, *[]*tlsLineChat) {
	t.Helper()
	made := new([]*tlsLineChat)
	newConn := func() dispatcher.Handler {
		c := newTLSLineChat(e.m, startCfg)
		*made = append(*made, c)
		return c
	}
	var srv *dispatcher.Server
	var err error
	if tlsCfg != nil {
		srv, err = dispatcher.ServeTLS(e.m, "127.0.0.1:0", tlsCfg, newConn)
	} else {
		srv, err = dispatcher.Serve(e.m, "127.0.0.1:0", newConn)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	return srv.Addr().String(), made
}

// awaitClient runs the loop until the client goroutine's result comes.
func awaitClient(e *env, done <-chan error) error {
	var err error
	got := false
	e.runUntil(func() bool {
		select {
		case err = <-done:
			got = true
		default:
		}
		return got
	})
	return err
}

// handshakeGoroutines counts the goroutines running a TLS handshake.
func handshakeGoroutines() int {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	return strings.Count(string(buf[:n]), "tlsio.(*Conn).handshake(")
}

func TestTLSLineEcho(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		srvCfg, cliCfg := testutil.TLSCert(t)
		addr, made := serveChat(t, e, srvCfg, nil)
		const n = 2000
		done := make(chan error, 1)
		go func() {
			c, err := tls.Dial("tcp4", addr, cliCfg)
			if err != nil {
				done <- err
				return
			}
			defer c.Close()
			go func() {
				var b strings.Builder
				for i := range n {
					fmt.Fprintf(&b, "line %d\r\n", i)
				}
				b.WriteString("QUIT\r\n")
				_, _ = io.WriteString(c, b.String()) // pipelined
			}()
			r := bufio.NewReader(c)
			for i := range n {
				line, err := r.ReadString('\n')
				if err != nil || line != fmt.Sprintf("echo line %d\r\n", i) {
					done <- fmt.Errorf("reply %d: %q %v", i, line, err)
					return
				}
			}
			if line, err := r.ReadString('\n'); line != "bye\r\n" {
				done <- fmt.Errorf("bye: %q %v", line, err)
				return
			}
			// CloseWhenDone sent close_notify: a clean EOF, not a cut.
			_, err = r.ReadByte()
			if err != io.EOF {
				done <- fmt.Errorf("after bye: %v, want io.EOF", err)
				return
			}
			// Closed before done is sent: the test's descriptor count
			// must not race the deferred close. (Its close_notify may
			// meet a closed socket: no error of the test's.)
			_ = c.Close()
			done <- nil
		}()
		require.NoError(t, awaitClient(e, done))
		require.Len(t, *made, 1)
		c := (*made)[0]
		e.runUntil(func() bool { return c.Fd() < 0 })
		assert.Len(t, c.lines, n+1)
		assert.Empty(t, c.errs)
		e.runUntil(func() bool { return handshakeGoroutines() == 0 })
	})
}

// A producer's 1 MiB reply, then CloseWhenDone, to a client that reads
// only once the chat's queue is empty: with small socket buffers the last
// records still wait in the ciphertext buffer then, and the close must
// linger until they are written instead of dropping them.
func TestTLSProducerReplyThenClose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		srvCfg, cliCfg := testutil.TLSCert(t)
		addr, made := serveChat(t, e, srvCfg, nil)
		conns := make(chan *tls.Conn, 1)
		read := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
				return rc.Control(func(fd uintptr) {
					_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
				})
			}}
			c, err := tls.DialWithDialer(&d, "tcp4", addr, cliCfg)
			if err != nil {
				done <- err
				return
			}
			defer c.Close()
			conns <- c
			<-read
			got, err := io.ReadAll(c)
			if err != nil {
				done <- err
				return
			}
			if !bytes.Equal(got, bigTLSReply) {
				done <- fmt.Errorf("got %d bytes, want %d", len(got), len(bigTLSReply))
				return
			}
			_ = c.Close() // before done: see TestTLSLineEcho
			done <- nil
		}()
		var c *tls.Conn
		e.runUntil(func() bool {
			select {
			case c = <-conns:
			default:
			}
			return c != nil && len(*made) == 1
		})
		ch := (*made)[0]
		require.NoError(t, unix.SetsockoptInt(ch.Fd(), unix.SOL_SOCKET, unix.SO_SNDBUF, 16<<10))
		_, err := io.WriteString(c, "BIG\r\n")
		require.NoError(t, err)
		e.runUntil(func() bool { return ch.Pending() == 0 || ch.Fd() < 0 })
		e.runFor(20)
		close(read)
		require.NoError(t, awaitClient(e, done))
		e.runUntil(func() bool { return ch.Fd() < 0 })
		assert.Empty(t, ch.errs)
		e.runUntil(func() bool { return handshakeGoroutines() == 0 })
	})
}

// startTLSClient speaks plaintext first — what it sends is first — reads
// up to the "220 ready" line, and then, if afterReady is not empty, sends
// it in plaintext too before the handshake; over TLS it sends AFTER and
// reads its echo.
func startTLSClient(addr string, cfg *tls.Config, first, afterReady string) <-chan error {
	done := make(chan error, 1)
	go func() {
		raw, err := net.Dial("tcp4", addr)
		if err != nil {
			done <- err
			return
		}
		defer raw.Close()
		if _, err := io.WriteString(raw, first); err != nil {
			done <- err
			return
		}
		// Byte by byte, so nothing of the TLS stream is read here.
		var seen strings.Builder
		one := make([]byte, 1)
		for !strings.HasSuffix(seen.String(), "220 ready\r\n") {
			if _, err := raw.Read(one); err != nil {
				done <- fmt.Errorf("before 220: %q: %w", seen.String(), err)
				return
			}
			seen.Write(one)
		}
		if afterReady != "" {
			_, _ = io.WriteString(raw, afterReady)
		}
		c := tls.Client(raw, cfg)
		if _, err := io.WriteString(c, "AFTER\r\n"); err != nil {
			done <- err
			return
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || line != "echo AFTER\r\n" {
			done <- fmt.Errorf("over TLS: %q %w", line, err)
			return
		}
		done <- c.Close()
	}()
	return done
}

// CVE-2011-0411: plaintext pipelined behind STARTTLS, in the same packet
// or after the 220 reply, is never framed, let alone as TLS input.
func TestStartTLSPipelinedPlaintextIsNotRead(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		srvCfg, cliCfg := testutil.TLSCert(t)

		e.run("same packet", func(t *testing.T, e *env) {
			addr, made := serveChat(t, e, nil, srvCfg)
			done := startTLSClient(addr, cliCfg, "EHLO x\r\nSTARTTLS\r\nINJECTED\r\n", "")
			require.NoError(t, awaitClient(e, done))
			c := (*made)[0]
			e.runUntil(func() bool { return c.Fd() < 0 })
			assert.Equal(t, []string{"EHLO x", "STARTTLS", "AFTER"}, c.lines)
			assert.Equal(t, []bool{false, false, true}, c.tlsAt)
		})

		e.run("after the reply", func(t *testing.T, e *env) {
			addr, made := serveChat(t, e, nil, srvCfg)
			done := startTLSClient(addr, cliCfg, "STARTTLS\r\n", "INJECTED\r\n")
			err := awaitClient(e, done)
			require.Error(t, err, "the plaintext went to the handshake, which failed")
			c := (*made)[0]
			e.runUntil(func() bool { return c.Fd() < 0 })
			assert.Equal(t, []string{"STARTTLS"}, c.lines)
			require.NotEmpty(t, c.errs)
			var te *dispatcher.TLSError
			assert.True(t, errors.As(c.errs[0], &te), "%v", c.errs[0])
		})
		e.runUntil(func() bool { return handshakeGoroutines() == 0 })
	})
}
