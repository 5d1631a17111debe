package chat

import (
	"crypto/tls"
	"errors"
)

// StartTLS switches the channel to TLS as the server (STARTTLS) once the
// queued output is flushed; input already read and not yet framed is
// discarded.
func (c *AsyncChat) StartTLS(cfg *tls.Config) error {
	return errors.New("chat: StartTLS not implemented yet")
}
