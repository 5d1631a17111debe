package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The TLS real-client cells: redis-benchmark --tls against examples/resp
// and redis-server --tls-port, and wrk on https against examples/httpd and
// net/http with TLS. Both reuse the plaintext suites' runner (real.go); a
// suite that cannot run leaves one row saying why, never a figure.

// respTLSSuite returns the redis-benchmark --tls suite, or why it cannot
// run: a missing tool, a redis build without TLS, or an examples/resp
// without -tls-cert.
func respTLSSuite(st *tlsSetup, o realOptions) (*realSuite, string) {
	if missing := realTools("resp"); len(missing) > 0 {
		return nil, strings.Join(missing, ", ") + " not found"
	}
	help, _ := exec.Command("redis-benchmark", "--help").CombinedOutput()
	if !strings.Contains(string(help), "--tls") {
		return nil, "no TLS in redis build: redis-benchmark --help lists no --tls"
	}
	ours, ref := st.servers[oursRespT], st.servers[redisTLS]
	if ours == nil {
		return nil, oursRespT + ": " + oneLine(st.skipped[oursRespT])
	}
	if err := probe(ref, st.files.respCheck); err != nil {
		return nil, "no TLS in redis build: redis-server --tls-port did not serve TLS: " + oneLine(err.Error())
	}
	extra := []string{"--tls", "--cacert", st.files.CA, "--tls-ciphersuites", tls.CipherSuiteName(wantSuite)}
	return &realSuite{name: "tls-resp", ours: ours, refs: []*serverSpec{ref}, tests: o.tests, pipelines: []int{1, 16},
		client: func(addr, test string, p int) (int64, float64, error) {
			n := o.respRequests
			if p > 1 {
				n *= 10
			}
			return redisBenchmark(addr, test, n, p, extra...)
		},
		checkReady: st.files.respCheck}, ""
}

// httpTLSSuite returns the wrk https suite, or why it cannot run.
func httpTLSSuite(st *tlsSetup) (*realSuite, string) {
	if missing := realTools("http"); len(missing) > 0 {
		return nil, strings.Join(missing, ", ") + " not found"
	}
	ours, ref := st.servers[oursHTTPS], st.servers[netHTTPS]
	for _, n := range []string{oursHTTPS, netHTTPS} {
		if st.servers[n] == nil {
			return nil, n + ": " + oneLine(st.skipped[n])
		}
	}
	script, err := filepath.Abs("../examples/httpd/pipeline.lua")
	if err != nil {
		return nil, err.Error()
	}
	return &realSuite{name: "tls-http", ours: ours, refs: []*serverSpec{ref},
		tests: []string{"GET /"}, pipelines: []int{1, 16},
		client: func(addr, _ string, p int) (int64, float64, error) {
			return runWrkURL("https://"+addr+"/", script, p, wrkDuration)
		},
		checkReady: st.files.httpsCheck}, ""
}

// probe starts s, makes one exchange with check and stops it.
func probe(s *serverSpec, check func(addr string) error) error {
	srv, err := startServer(s, "", -1)
	if err != nil {
		return err
	}
	defer srv.stop()
	return check(srv.addr)
}

// dialTLS opens a TLS client connection to addr with the cells' client
// configuration.
func (f *tlsFiles) dialTLS(addr string) (*tls.Conn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: f.clientConfig()}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return c.(*tls.Conn), nil
}

// respCheck is the plaintext SET/GET check over TLS.
func (f *tlsFiles) respCheck(addr string) error {
	c, err := f.dialTLS(addr)
	if err != nil {
		return err
	}
	return respCheckConn(c)
}

// httpsCheck fetches https://addr/ with the run's CA and checks it is
// index.html.
func (f *tlsFiles) httpsCheck(addr string) error {
	tr := &http.Transport{TLSClientConfig: f.clientConfig(), DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	err := httpCheckURL(&http.Client{Timeout: 5 * time.Second, Transport: tr}, "https://"+addr+"/")
	if err != nil {
		return fmt.Errorf("https: %w", err)
	}
	return nil
}
