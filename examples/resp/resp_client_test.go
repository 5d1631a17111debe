package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/asyncore-go/asyncore/internal/testutil"
)

// A small RESP2 client for the tests. Replies decode to:
//
//	+OK            status("OK")
//	-ERR ...       respError("ERR ...")
//	:42            int64(42)
//	$5 hello       "hello"
//	$-1, *-1       nil
//	*2 ...         []any{...}
type (
	status    string
	respError string
)

// respClient is one connection to the server under test.
type respClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

// dial connects to addr. The connection is closed when the test ends, and
// every read and write fails after 20 s rather than hang the test.
func dial(t *testing.T, addr net.Addr) *respClient {
	t.Helper()
	conn, err := net.Dial("tcp", addr.String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(testutil.HangGuard)))
	return &respClient{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// encode returns args as a multibulk request: *N, then $len and the bytes
// of each argument.
func encode(args ...string) []byte {
	b := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b = append(b, "$"+strconv.Itoa(len(a))+"\r\n"+a+"\r\n"...)
	}
	return b
}

// write sends raw bytes: a request, several, or a malformed one.
func (rc *respClient) write(b []byte) {
	rc.t.Helper()
	_, err := rc.conn.Write(b)
	require.NoError(rc.t, err)
}

// do sends one request and returns its reply.
func (rc *respClient) do(args ...string) any {
	rc.t.Helper()
	rc.write(encode(args...))
	return rc.read()
}

// read reads one reply; failing to read one fails the test.
func (rc *respClient) read() any {
	rc.t.Helper()
	v, err := readReply(rc.r)
	require.NoError(rc.t, err)
	return v
}

// readReply decodes one RESP2 reply.
func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("bad reply line %q", line)
	}
	kind, body := line[0], line[1:len(line)-2]
	switch kind {
	case '+':
		return status(body), nil
	case '-':
		return respError(body), nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 {
			return nil, fmt.Errorf("bad bulk length %q", line)
		}
		if n == -1 {
			return nil, nil
		}
		data := make([]byte, n+2)
		if _, err := io.ReadFull(r, data); err != nil {
			return nil, err
		}
		if string(data[n:]) != "\r\n" {
			return nil, fmt.Errorf("bulk string of %d bytes not followed by CRLF", n)
		}
		return string(data[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 {
			return nil, fmt.Errorf("bad array length %q", line)
		}
		if n == -1 {
			return nil, nil
		}
		items := make([]any, n)
		for i := range items {
			if items[i], err = readReply(r); err != nil {
				return nil, err
			}
		}
		return items, nil
	}
	return nil, fmt.Errorf("unknown reply type %q", line)
}
