package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"testing"
	"time"
)

// TLSCert makes, in memory, a self-signed certificate for "localhost" and
// 127.0.0.1 and returns a server configuration that presents it and a
// client configuration that trusts it (ServerName "localhost"). Each call
// makes a new key, so a client of one call does not trust the server of
// another: that is a bad certificate.
func TLSCert(t testing.TB) (serverCfg, clientCfg *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("TLSCert: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("TLSCert: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("TLSCert: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	serverCfg = &tls.Config{Certificates: []tls.Certificate{cert}}
	clientCfg = &tls.Config{RootCAs: pool, ServerName: "localhost"}
	return serverCfg, clientCfg
}

// PlainReply is a client that does not speak TLS, at a TLS port: it sends
// request in the clear over TCP to addr and returns what came back, at most
// n bytes — the length a reply in the clear would have. The test fails if
// the server keeps such a client open until HangGuard instead of closing
// it (the garbage fails the handshake).
func PlainReply(t testing.TB, addr string, request []byte, n int) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(HangGuard))
	if _, err := c.Write(request); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(io.LimitReader(c, int64(n)))
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept a non-TLS client open: %v", err)
	}
	return string(got)
}
