package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// tlsFiles is the certificate material the TLS cells give the servers and
// the clients: a CA made for this run, and a server certificate it signed
// for 127.0.0.1 and localhost, all ECDSA P-256, written as PEM into a
// temporary directory.
type tlsFiles struct {
	CA, Cert, Key string         // PEM files
	Pool          *x509.CertPool // the CA, for the Go clients
}

// makeTLSFiles creates the CA and the server certificate in dir. Nothing
// comes from outside the process: the keys are fresh each run.
func makeTLSFiles(dir string) (*tlsFiles, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "asyncore-bench CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	f := &tlsFiles{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "cert.pem"),
		Key: filepath.Join(dir, "key.pem"), Pool: x509.NewCertPool()}
	f.Pool.AddCert(caCert)
	if err := errors.Join(
		writePEM(f.CA, "CERTIFICATE", caDER, 0o644),
		writePEM(f.Cert, "CERTIFICATE", der, 0o644),
		writePEM(f.Key, "PRIVATE KEY", keyDER, 0o600),
	); err != nil {
		return nil, err
	}
	return f, nil
}

func writePEM(name, typ string, der []byte, mode os.FileMode) error {
	return os.WriteFile(name, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}

// clientConfig is the TLS configuration of every Go client of the TLS
// cells: TLS 1.3 only, the run's CA as the only root, no session cache (so
// every connection makes a full handshake). Go's crypto/tls does not let a
// TLS 1.3 cipher suite be chosen (Config.CipherSuites applies to 1.0–1.2
// only); with AES hardware on both ends it negotiates
// TLS_AES_128_GCM_SHA256, the suite the issue names, and the cells record
// the suite each connection negotiated to show it.
func (f *tlsFiles) clientConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS13,
		RootCAs: f.Pool, ServerName: "127.0.0.1"}
}

// wantSuite is the cipher suite the TLS cells are specified with.
const wantSuite = tls.TLS_AES_128_GCM_SHA256

// describeTLS names what a connection negotiated: version, cipher suite and
// key exchange, e.g. "TLS 1.3 TLS_AES_128_GCM_SHA256 X25519MLKEM768".
func describeTLS(cs tls.ConnectionState) string {
	s := tls.VersionName(cs.Version) + " " + tls.CipherSuiteName(cs.CipherSuite)
	if cs.CurveID != 0 {
		s += " " + cs.CurveID.String()
	}
	return s
}
