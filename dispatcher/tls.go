package dispatcher

import (
	"crypto/tls"
	"errors"
	"time"

	"github.com/asyncore-go/asyncore/loop"
)

// errTLSNotImplemented is returned until the TLS engine is in place.
var errTLSNotImplemented = errors.New("dispatcher: TLS not implemented yet")

// ErrTLSTruncated is what HandleError receives when a TLS connection's
// stream ends without the peer's close_notify after the handshake: the
// data may have been cut by an attacker, so it is not an ordinary EOF.
var ErrTLSTruncated = errors.New("dispatcher: TLS stream truncated (EOF without close_notify)")

// TLSError is a TLS failure: Op says where ("handshake", "read",
// "write"), Err is crypto/tls's error (errors.As-able through Unwrap).
type TLSError struct {
	Op  string
	Err error
}

func (e *TLSError) Error() string { return "tls " + e.Op + ": " + e.Err.Error() }

// Unwrap returns crypto/tls's error.
func (e *TLSError) Unwrap() error { return e.Err }

// TLSLimits bounds the TLS handshakes of one map (SetTLSLimits). Zero
// fields mean the default.
type TLSLimits struct {
	// MaxHandshakes is how many handshakes run at once, each on a
	// goroutine of its own.
	MaxHandshakes int
	// HandshakeQueue is how many connections may wait for a handshake
	// slot; past it a new connection is shed (closed and counted).
	HandshakeQueue int
	// HandshakeTimeout bounds a handshake, from accept or connect.
	HandshakeTimeout time.Duration
}

// SetTLSLimits sets the TLS handshake limits of m (loop.DefaultMap if nil).
func SetTLSLimits(m *loop.Map, l TLSLimits) {}

// TLSServer makes the connection speak TLS as the server from now on.
func (s Socket) TLSServer(cfg *tls.Config) error { return errTLSNotImplemented }

// TLSClient makes the connection speak TLS as the client from now on.
func (s Socket) TLSClient(cfg *tls.Config) error { return errTLSNotImplemented }

// ConnectionState reports the TLS state of the connection; ok is false
// when it does not speak TLS or the handshake has not finished.
func (s Socket) ConnectionState() (tls.ConnectionState, bool) {
	return tls.ConnectionState{}, false
}

// ServeTLS is Serve with TLS on every accepted connection.
func ServeTLS(m *loop.Map, address string, cfg *tls.Config, newConn func() Handler) (*Server, error) {
	return nil, errTLSNotImplemented
}

// StartTLS switches the connection to TLS (server side) once the queued
// output is written; input read and not yet handled is discarded.
func (d *DispatcherWithSend) StartTLS(cfg *tls.Config) error { return errTLSNotImplemented }
