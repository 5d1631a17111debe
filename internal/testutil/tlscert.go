package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"
)

// TLSServerName is the name TLSCert's certificate is issued to, besides the
// loopback addresses; the client configuration asks for it.
const TLSServerName = "localhost"

var tlsCert struct {
	once sync.Once
	cert tls.Certificate
	pool *x509.CertPool
	err  error
}

// TLSCert returns a server and a client TLS configuration that trust each
// other: the server holds a self-signed ECDSA P-256 certificate for
// localhost, 127.0.0.1 and ::1, made in memory once per test binary, and
// the client trusts only that certificate and names localhost in its SNI.
// Each call returns fresh configurations, which the caller may change.
func TLSCert(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	tlsCert.once.Do(func() { tlsCert.cert, tlsCert.pool, tlsCert.err = makeTLSCert() })
	if tlsCert.err != nil {
		t.Fatalf("testutil: making a test certificate: %v", tlsCert.err)
	}
	server = &tls.Config{Certificates: []tls.Certificate{tlsCert.cert}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{RootCAs: tlsCert.pool, ServerName: TLSServerName, MinVersion: tls.VersionTLS12}
	return server, client
}

func makeTLSCert() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: TLSServerName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{TLSServerName},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}
