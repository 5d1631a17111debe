package chat_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/producer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pushAfterStartTLS answers STARTTLS with a reply, calls StartTLS and
// pushes more at once — bytes, a string and a producer — which must go out
// after the handshake, encrypted, in order.
type pushAfterStartTLS struct {
	chat.AsyncChat
	cfg      *tls.Config
	reply    []byte
	producer bool // the reply is a producer, written over many events
	errs     []error
}

func (c *pushAfterStartTLS) FoundTerminator() {
	line := string(c.TakeData())
	if _, isTLS := c.Socket().ConnectionState(); isTLS || line != "STARTTLS" {
		return
	}
	if c.producer {
		c.PushWithProducer(producer.SimpleProducer(c.reply, 4096))
	} else {
		c.Push(c.reply)
	}
	if err := c.StartTLS(c.cfg); err != nil {
		c.errs = append(c.errs, err)
	}
	c.Push([]byte("250-one\r\n"))
	c.PushString("250-two\r\n")
	c.PushWithProducer(producer.SimpleProducer([]byte("250 three\r\n"), 3))
}

func (c *pushAfterStartTLS) HandleError(err error) {
	c.errs = append(c.errs, err)
	c.AsyncChat.HandleError(err)
}

// Output pushed between StartTLS and the end of the handshake is not
// written in plaintext behind the reply: it waits for the handshake and
// goes out encrypted, in order, all of it.
func TestStartTLSPushAfterIsEncrypted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		srvCfg, cliCfg := testutil.TLSCert(t)
		for _, tc := range []struct {
			name     string
			size     int
			producer bool
		}{{"short reply", 0, false}, {"large producer reply", 1 << 20, true}} {
			e.run(tc.name, func(t *testing.T, e *env) {
				reply := append(bytes.Repeat([]byte("220-filler\r\n"), tc.size/12), "220 ready\r\n"...)
				var made []*pushAfterStartTLS
				srv, err := dispatcher.Serve(e.m, "127.0.0.1:0", func() dispatcher.Handler {
					c := &pushAfterStartTLS{cfg: srvCfg, reply: reply, producer: tc.producer}
					c.Init(c, e.m)
					c.Logger = quiet
					c.SetTerminator(chat.DelimiterString("\r\n"))
					made = append(made, c)
					return c
				})
				require.NoError(t, err)
				t.Cleanup(func() { _ = srv.Close() })
				done := make(chan error, 1)
				go func() {
					done <- testutil.StartTLSThenRead(srv.Addr().String(), cliCfg, len(reply), "250-one\r\n250-two\r\n250 three\r\n")
				}()
				require.NoError(t, awaitClient(e, done))
				c := made[0]
				e.runUntil(func() bool { return c.Fd() < 0 })
				assert.Empty(t, c.errs)
			})
		}
		e.runUntil(func() bool { return handshakeGoroutines() == 0 })
	})
}

// The plaintext a STARTTLS drops is counted in the map's
// StartTLSDiscardedBytes, exactly: pipelined in the same packet, and held
// unframed by FramesPerRead when STARTTLS is framed.
func TestStartTLSDiscardedBytesCounted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		srvCfg, cliCfg := testutil.TLSCert(t)
		for _, tc := range []struct {
			name      string
			first     string
			injected  int
			perRead   int
			wantLines []string
		}{
			{"nothing behind", "EHLO x\r\nSTARTTLS\r\n", 0, 0, []string{"EHLO x", "STARTTLS", "AFTER"}},
			{"same packet", "EHLO x\r\nSTARTTLS\r\nINJECTED\r\nMAIL FROM:<a@b>\r\n", len("INJECTED\r\nMAIL FROM:<a@b>\r\n"), 0, []string{"EHLO x", "STARTTLS", "AFTER"}},
			{"partial line", "STARTTLS\r\nINJ", 3, 0, []string{"STARTTLS", "AFTER"}},
			{"held by FramesPerRead", "EHLO x\r\nSTARTTLS\r\nINJECTED\r\n", len("INJECTED\r\n"), 1, []string{"EHLO x", "STARTTLS", "AFTER"}},
		} {
			e.run(tc.name, func(t *testing.T, e *env) {
				before := dispatcher.Stats(e.m).StartTLSDiscardedBytes
				var made []*tlsLineChat
				srv, err := dispatcher.Serve(e.m, "127.0.0.1:0", func() dispatcher.Handler {
					c := newTLSLineChat(e.m, srvCfg)
					c.FramesPerRead = tc.perRead
					made = append(made, c)
					return c
				})
				require.NoError(t, err)
				t.Cleanup(func() { _ = srv.Close() })
				require.NoError(t, awaitClient(e, startTLSClient(srv.Addr().String(), cliCfg, tc.first, "")))
				c := made[0]
				e.runUntil(func() bool { return c.Fd() < 0 })
				assert.Equal(t, tc.wantLines, c.lines)
				assert.Equal(t, uint64(tc.injected), dispatcher.Stats(e.m).StartTLSDiscardedBytes-before)
			})
		}
		e.runUntil(func() bool { return handshakeGoroutines() == 0 })
	})
}

// closeThenStartTLS calls StartTLS after CloseWhenDone.
type closeThenStartTLS struct {
	chat.AsyncChat
	cfg *tls.Config
	err error
}

func (c *closeThenStartTLS) FoundTerminator() {
	c.TakeData()
	c.PushString("221 bye\r\n")
	c.CloseWhenDone()
	c.err = c.StartTLS(c.cfg)
}

// StartTLS after CloseWhenDone is refused: the close stays a close (the
// peer reads the reply, then EOF), it does not become the switch point.
func TestStartTLSAfterCloseWhenDone(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		srvCfg, _ := testutil.TLSCert(t)
		var made []*closeThenStartTLS
		srv, err := dispatcher.Serve(e.m, "127.0.0.1:0", func() dispatcher.Handler {
			c := &closeThenStartTLS{cfg: srvCfg}
			c.Init(c, e.m)
			c.Logger = quiet
			c.SetTerminator(chat.DelimiterString("\r\n"))
			made = append(made, c)
			return c
		})
		require.NoError(t, err)
		t.Cleanup(func() { _ = srv.Close() })
		done := make(chan error, 1)
		go func() {
			raw, err := net.Dial("tcp4", srv.Addr().String())
			if err != nil {
				done <- err
				return
			}
			defer raw.Close()
			if _, err := io.WriteString(raw, "QUIT\r\n"); err != nil {
				done <- err
				return
			}
			got, err := io.ReadAll(raw)
			if err == nil && string(got) != "221 bye\r\n" {
				err = fmt.Errorf("got %q", got)
			}
			done <- err
		}()
		require.NoError(t, awaitClient(e, done))
		c := made[0]
		e.runUntil(func() bool { return c.Fd() < 0 })
		assert.Error(t, c.err)
	})
}
