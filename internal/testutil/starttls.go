package testutil

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
)

// StartTLSThenRead is a STARTTLS client: it sends "STARTTLS\r\n" in the
// clear to addr, reads the plaintext reply of replyLen bytes (which must end
// "220 ready\r\n"), does the TLS handshake with cfg on the same connection,
// expects exactly want over TLS, and closes with close_notify. A server that
// writes anything in plaintext after its reply makes the handshake fail.
func StartTLSThenRead(addr string, cfg *tls.Config, replyLen int, want string) error {
	raw, err := net.Dial("tcp4", addr)
	if err != nil {
		return err
	}
	defer raw.Close()
	if _, err := io.WriteString(raw, "STARTTLS\r\n"); err != nil {
		return err
	}
	reply := make([]byte, replyLen)
	if _, err := io.ReadFull(raw, reply); err != nil {
		return fmt.Errorf("reading the reply: %w", err)
	}
	if !bytes.HasSuffix(reply, []byte("220 ready\r\n")) {
		return fmt.Errorf("reply ends %q", reply[max(0, len(reply)-20):])
	}
	c := tls.Client(raw, cfg)
	if err := c.Handshake(); err != nil {
		return fmt.Errorf("handshake (plaintext after the reply?): %w", err)
	}
	r := bufio.NewReader(c)
	var got strings.Builder
	for got.Len() < len(want) {
		line, err := r.ReadString('\n')
		got.WriteString(line)
		if err != nil {
			return fmt.Errorf("over TLS: %q: %w", got.String(), err)
		}
	}
	if got.String() != want {
		return fmt.Errorf("over TLS: %q, want %q", got.String(), want)
	}
	return c.Close()
}
