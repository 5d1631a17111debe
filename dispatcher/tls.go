package dispatcher

import (
	"crypto/tls"
	"errors"
	"time"

	"github.com/asyncore-go/asyncore/loop"
)

// TLS on the loop (docs/tls.md): a connection switched to TLS with
// Socket().TLSServer or TLSClient keeps its handler, which sees plaintext
// in Recv, Send, SendBuffers, HandleData and everything built on them. The
// handshake runs on a goroutine of its own, at most TLSLimits.MaxHandshakes
// at a time; after it the loop encrypts and decrypts in place, and the
// connection holds no goroutine.

// Defaults for TLSLimits' zero fields.
const (
	// DefaultMaxHandshakes is how many handshakes of a map run at once.
	DefaultMaxHandshakes = 256
	// DefaultHandshakeQueue is how many connections of a map may wait
	// for a handshake slot.
	DefaultHandshakeQueue = 4096
	// DefaultHandshakeTimeout bounds a handshake, from accept or connect.
	DefaultHandshakeTimeout = 10 * time.Second
)

// ErrTLSTruncated is what HandleError receives when a TLS connection's
// input ends without the peer's close_notify after the handshake: an
// attacker can cut a stream, so this is not the orderly end a plaintext
// EOF is. It is caused by the peer (IsPeerCaused).
var ErrTLSTruncated error = &peerError{"dispatcher: TLS stream truncated: EOF without close_notify"}

// ErrTLSHandshakeTimeout is the Err of the *TLSError HandleError receives
// when a handshake did not finish within TLSLimits.HandshakeTimeout. It is
// a timeout (os.IsTimeout).
var ErrTLSHandshakeTimeout error = &timeoutError{msg: "dispatcher: TLS handshake did not finish within HandshakeTimeout"}

// errTLSShed is returned by TLSServer and TLSClient when the handshake
// queue is full: the connection was closed.
var errTLSShed error = &peerError{"dispatcher: TLS handshake queue full: connection shed"}

// peerError is an error the peer causes (IsPeerCaused).
type peerError struct{ msg string }

func (e *peerError) Error() string    { return e.msg }
func (e *peerError) PeerCaused() bool { return true }

// TLSError is a TLS failure as HandleError receives it: Op says where
// ("handshake", "read", "write"), and Err is crypto/tls's error (reached
// with errors.As or errors.Is through Unwrap), or ErrTLSHandshakeTimeout.
// Such failures come from what the peer sent or did, or from a
// configuration the peer does not share, so TLSError counts as peer-caused
// (IsPeerCaused) and the default HandleError logs it at debug level,
// rate-limited.
type TLSError struct {
	Op  string
	Err error
}

func (e *TLSError) Error() string { return "tls " + e.Op + ": " + e.Err.Error() }

// Unwrap returns crypto/tls's error.
func (e *TLSError) Unwrap() error { return e.Err }

// PeerCaused reports true (see TLSError).
func (e *TLSError) PeerCaused() bool { return true }

// TLSLimits bounds the TLS handshakes of one map (SetTLSLimits). Zero
// fields mean the default.
type TLSLimits struct {
	// MaxHandshakes is how many handshakes run at once, each on a
	// goroutine of its own (DefaultMaxHandshakes). It and HandshakeQueue
	// apply to the server's and the client's handshakes separately.
	MaxHandshakes int
	// HandshakeQueue is how many connections may wait for a handshake
	// slot (DefaultHandshakeQueue). A waiting connection holds no
	// goroutine and is not read. Past it a new connection is shed: closed
	// and counted in ConnStats.TLSHandshakesShed.
	HandshakeQueue int
	// HandshakeTimeout bounds a handshake from the moment TLSServer or
	// TLSClient is called (for a connect in progress, from then too),
	// including the time spent waiting in the queue
	// (DefaultHandshakeTimeout). HandleError then receives a *TLSError
	// whose Err is ErrTLSHandshakeTimeout.
	HandshakeTimeout time.Duration
}

// SetTLSLimits sets the TLS handshake limits of m (loop.DefaultMap if nil),
// like SetMaxConns: before the map runs or on its loop's goroutine.
// Handshakes already running keep going; the new limits apply to the next.
func SetTLSLimits(m *loop.Map, l TLSLimits) {
	st := stateOf(m)
	st.tlsPool(false).limits = l
	st.tlsPool(true).limits = l
}

// TLSServer makes the connection speak TLS as the server from now on: the
// handshake starts at once (for an accepted connection, or for STARTTLS
// once the reply announcing it is written: see DispatcherWithSend.StartTLS
// and chat.AsyncChat.StartTLS). Output queued before or during the
// handshake is written, encrypted, once it is done; the handler's Readable
// and Writable are not consulted until then. A failed handshake reaches
// HandleError as a *TLSError. Past the map's handshake queue
// (SetTLSLimits) the connection is closed and an error returned.
func (s Socket) TLSServer(cfg *tls.Config) error { return s.d.startTLS(cfg, true) }

// TLSClient makes the connection speak TLS as the client from now on. Call
// it right after Connect — the handshake starts when the connection is
// made, and HandleConnect fires only after the handshake; until then
// Connected and Connecting report false, and what a DispatcherWithSend is
// given to send waits — or on a connected socket for a client's STARTTLS.
// Set cfg.ServerName (or InsecureSkipVerify, in tests) as crypto/tls
// requires.
func (s Socket) TLSClient(cfg *tls.Config) error { return s.d.startTLS(cfg, false) }

// ConnectionState reports the TLS state of the connection — version,
// cipher suite, negotiated ALPN protocol, server name (SNI), peer
// certificates, resumption; ok is false when the connection does not speak
// TLS or its handshake has not finished.
func (s Socket) ConnectionState() (tls.ConnectionState, bool) {
	t := s.d.tls
	if t == nil || t.phase != tlsOpen {
		return tls.ConnectionState{}, false
	}
	return t.c.State(), true
}

// ServeTLS is Serve with TLS on every accepted connection: each is adopted
// by a handler from newConn, then switched to TLS as the server with cfg
// (Socket.TLSServer). HandleAccepted of the handler's type is not involved;
// newConn may set the handler up as for Serve.
func ServeTLS(m *loop.Map, address string, cfg *tls.Config, newConn func() Handler) (*Server, error) {
	if cfg == nil {
		return nil, errors.New("dispatcher: ServeTLS needs a tls.Config")
	}
	s := newServer(m, newConn)
	s.tlsConfig = cfg
	if err := s.ListenTCP(address); err != nil {
		return nil, err
	}
	return s, nil
}

// StartTLS is the server's STARTTLS on a DispatcherWithSend: nothing more
// is read from the socket as plaintext, and once the output queued so far
// (the reply that announced TLS) is written, the connection switches to TLS
// as the server (Socket.TLSServer): input the client sent meanwhile is
// read as its handshake, so plaintext it pipelined behind its STARTTLS
// command is never taken as protected input (CVE-2011-0411).
//
// Call it after sending the reply. What is sent afterwards — even before
// the reply is written, even during the handshake — waits in the queue
// and goes out after the handshake, encrypted, in order: nothing sent
// after StartTLS is ever written in plaintext. (Dispatcher.Send and
// Socket().SendBuffers bypass the queue; a DispatcherWithSend's handler
// uses Send.) Input the handler was given with the STARTTLS command and
// has not used is its own to drop — and to count, with
// Hooks().CountStartTLSDiscarded — the dispatcher reads nothing more.
func (d *DispatcherWithSend) StartTLS(cfg *tls.Config) error {
	if d.fd < 0 {
		return ErrClosed
	}
	if d.tls != nil {
		return errTLSActive
	}
	if cfg == nil {
		return errors.New("dispatcher: StartTLS needs a tls.Config")
	}
	d.tls = &tlsState{phase: tlsAwaitFlush, cfg: cfg, server: true}
	d.UpdateInterest()
	if d.Pending() == 0 {
		return d.startAfterFlush()
	}
	d.q.tlsAt = d.Pending() // the reply: written before the switch
	return nil
}

// errTLSActive is returned when TLS is started twice on one connection.
var errTLSActive = errors.New("dispatcher: the connection speaks TLS already")
