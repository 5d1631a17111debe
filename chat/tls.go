package chat

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"

	"github.com/asyncore-go/asyncore/dispatcher"
)

// errTLSStarted is returned by a second StartTLS.
var errTLSStarted = errors.New("chat: StartTLS was called already")

// errTLSClosing is returned by StartTLS after CloseWhenDone.
var errTLSClosing = errors.New("chat: StartTLS after CloseWhenDone")

// StartTLS is the server's STARTTLS (SMTP, IMAP, POP3, …): it switches the
// channel to TLS as the server once the output queued so far — the reply
// that announced the switch, "220 Ready to start TLS" — has been written.
// Call it from FoundTerminator after pushing that reply.
//
// Input the chat has already read and not yet framed is discarded, with
// the rest of the read being framed, and nothing more is read as plaintext:
// the client's next bytes are its TLS handshake. So commands an attacker
// injected behind the client's STARTTLS, in plaintext, are never taken as
// if they came through TLS (CVE-2011-0411). The discarded bytes are
// counted in the map's dispatcher.ConnStats.StartTLSDiscardedBytes and
// logged at debug level, rate-limited.
//
// Everything pushed after StartTLS (Push, PushShared, PushString,
// PushWithProducer, CloseWhenDone) — even while the reply is still being
// written, even during the handshake — waits in the queue and goes out
// after the handshake, encrypted, in the order pushed, under the usual
// output limits: nothing pushed after StartTLS is written in plaintext.
// StartTLS after CloseWhenDone returns an error.
//
// From the end of the handshake on, the handler sees plaintext as before;
// a failed handshake reaches HandleError as a *dispatcher.TLSError.
func (c *AsyncChat) StartTLS(cfg *tls.Config) error {
	if c.Fd() < 0 {
		return dispatcher.ErrClosed
	}
	if cfg == nil {
		return errors.New("chat: StartTLS needs a tls.Config")
	}
	if _, ok := c.Socket().ConnectionState(); ok || c.startTLS != nil {
		return errTLSStarted
	}
	if !c.life.Queueing() {
		return errTLSClosing
	}
	if !c.reading {
		// Input held or postponed, or a partial frame. Inside
		// FoundTerminator c.in is empty or is the backlog being framed,
		// whose unframed rest deliver counts.
		c.tlsDropped(len(c.in))
	}
	c.in = c.in[:0]
	c.unhold()
	if c.wait == waitTurn {
		c.wait = waitNone // the posted resume finds nothing to frame
	}
	c.framing, c.frame = false, 0
	c.discarded = true // FoundTerminator's caller drops the rest of the read
	c.startTLS = cfg
	// The switch point: the output before the marker is written in
	// plaintext, what is pushed after it waits for the handshake
	// (initiateSend stops at a marker; reachedClose starts the handshake).
	c.out.PushClose()
	c.UpdateInterest()
	if !c.reading {
		c.initiateSend()
	}
	return nil
}

// beginTLS starts the handshake StartTLS waits for, once the output is out.
func (c *AsyncChat) beginTLS() {
	cfg := c.startTLS
	c.startTLS = nil
	c.UpdateInterest()
	if err := c.Socket().TLSServer(cfg); err != nil && c.Fd() >= 0 {
		c.self.HandleError(err)
	}
}

// tlsDropped counts (dispatcher.ConnStats.StartTLSDiscardedBytes) and
// logs n bytes of plaintext dropped by StartTLS.
func (c *AsyncChat) tlsDropped(n int) {
	if n == 0 {
		return
	}
	c.Hooks().CountStartTLSDiscarded(n)
	lg := c.Logger
	if lg == nil {
		lg = slog.Default()
	}
	ctx := context.Background()
	l := c.Map().Loop()
	if l == nil || !lg.Enabled(ctx, slog.LevelDebug) {
		return
	}
	if ok, held := l.PeerLog().Allow(l.Now()); ok {
		lg.Log(ctx, slog.LevelDebug, "chat: STARTTLS discarded plaintext input sent before the handshake",
			"bytes", n, "channel", c.self, "suppressed", held)
	}
}
