package tlsflags

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/loop"
)

// writePair writes a test certificate and its key as PEM files, and
// returns with them the client configuration that trusts the certificate.
func writePair(t *testing.T) (certFile, keyFile string, client *tls.Config) {
	t.Helper()
	srv, client := testutil.TLSCert(t)
	c := srv.Certificates[0]
	key, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600))
	return certFile, keyFile, client
}

// parse registers the flags on a fresh set and parses args.
func parse(t *testing.T, args ...string) *Flags {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := Register(fs)
	require.NoError(t, fs.Parse(args))
	return f
}

func TestNeither(t *testing.T) {
	cfg, err := parse(t).Config("http/1.1")
	assert.NoError(t, err)
	assert.Nil(t, cfg, "no flags: plain TCP")
}

func TestHalf(t *testing.T) {
	certFile, keyFile, _ := writePair(t)
	for _, args := range [][]string{{"-tls-cert", certFile}, {"-tls-key", keyFile}} {
		cfg, err := parse(t, args...).Config()
		assert.ErrorIs(t, err, ErrHalf, "%v", args)
		assert.Nil(t, cfg)
	}
}

func TestLoad(t *testing.T) {
	certFile, keyFile, client := writePair(t)
	cfg, err := parse(t, "-tls-cert", certFile, "-tls-key", keyFile).Config("http/1.1")
	require.NoError(t, err)
	require.NotNil(t, cfg)
	assert.Len(t, cfg.Certificates, 1)
	assert.Equal(t, uint16(tls.VersionTLS12), cfg.MinVersion)
	assert.Equal(t, []string{"http/1.1"}, cfg.NextProtos)

	// The configuration serves a handshake that a client trusting the test
	// certificate accepts (over a pipe, with crypto/tls on both sides: this
	// checks what was loaded, not the library's TLS).
	client.NextProtos = []string{"http/1.1"}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	errc := make(chan error, 1)
	go func() {
		err := tls.Server(a, cfg).Handshake()
		_ = a.Close() // on failure, so that the client does not wait on the pipe
		errc <- err
	}()
	cc := tls.Client(b, client)
	require.NoError(t, cc.Handshake())
	require.NoError(t, <-errc)
	assert.Equal(t, "http/1.1", cc.ConnectionState().NegotiatedProtocol)
}

func TestLoadErrors(t *testing.T) {
	certFile, keyFile, _ := writePair(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for _, args := range [][]string{
		{"-tls-cert", missing, "-tls-key", keyFile},
		{"-tls-cert", certFile, "-tls-key", missing},
		{"-tls-cert", keyFile, "-tls-key", certFile}, // swapped
	} {
		cfg, err := parse(t, args...).Config()
		assert.Error(t, err, "%v", args)
		assert.Nil(t, cfg)
	}
}

// levels records the level of every log record.
type levels struct{ seen *[]slog.Level }

func (h levels) Enabled(context.Context, slog.Level) bool { return true }
func (h levels) Handle(_ context.Context, r slog.Record) error {
	*h.seen = append(*h.seen, r.Level)
	return nil
}
func (h levels) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h levels) WithGroup(string) slog.Handler      { return h }

// TestStartFailureLogsAtDebug: a connection TLS cannot start on (here one
// already closed; under a handshake flood, one the full queue sheds) is
// closed and logged at debug level, never above: 10,000 slow handshakes
// against examples/echo wrote 5,648 WARN lines, one per shed connection.
func TestStartFailureLogsAtDebug(t *testing.T) {
	var seen []slog.Level
	old := slog.Default()
	slog.SetDefault(slog.New(levels{&seen}))
	t.Cleanup(func() { slog.SetDefault(old) })

	srv, _ := testutil.TLSCert(t)
	d := dispatcher.New(loop.NewMap())
	closed := 0
	ok := Start(d.Socket(), srv, func() error { closed++; return nil }, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1})
	assert.False(t, ok)
	assert.Equal(t, 1, closed, "the connection is closed")
	require.Len(t, seen, 1)
	assert.Equal(t, slog.LevelDebug, seen[0])
}
