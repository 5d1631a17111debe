package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The TLS cells (-cells tls, and -full) hold issue 15's performance goals
// against Go's own TLS servers, each run with crypto/tls's defaults and the
// same certificate, made in-process for the run (tlscert.go):
//
//   - tls-echo: examples/echo with -tls-cert/-tls-key (asyncore-tls) and
//     servers/gotls (Go net + crypto/tls, a goroutine per connection) under
//     the matrix's load generator over crypto/tls client connections, 50
//     connections × 64 B and × 4 KiB, 16 in flight: server CPU per request;
//   - tls-idle: the idle cell over TLS, each idle connection after its
//     handshake and one round trip: resident memory per idle connection;
//   - tls-handshake: new connection, full handshake, one round trip, close,
//     from several client goroutines, bounded in count and time: handshakes
//     per second and server CPU per handshake, examples/httpd over HTTPS
//     against net/http with TLS (the target) and examples/echo against
//     gotls;
//   - tls-resp: redis-benchmark --tls against examples/resp and
//     redis-server --tls-port;
//   - tls-http: wrk on https against examples/httpd and net/http with TLS
//     serving the same bytes from memory.

// The TLS cell groups, in the order they run; "tls" selects them all.
var tlsGroups = []string{"tls-echo", "tls-idle", "tls-handshake", "tls-resp", "tls-http"}

// The TLS servers' names.
const (
	oursTLS   = "asyncore-tls"   // examples/echo -tls-cert -tls-key, epoll
	goTLS     = "gotls"          // servers/gotls
	oursHTTPS = "asyncore-https" // examples/httpd -tls-cert -tls-key, epoll
	netHTTPS  = "net-https"      // servers/nethttp -mode memory -tls-cert -tls-key
	oursRespT = "asyncore-resp-tls"
	redisTLS  = "redis-tls"
)

// tlsCells are the TLS echo cells: issue 15 names 50 connections × 64 B ×
// 16 in flight and 50 × 4 KiB × 16.
func tlsCells(conns, payloads, inflights []int) []cell {
	if len(conns) == 0 {
		conns = []int{50}
	}
	if len(payloads) == 0 {
		payloads = []int{64, 4096}
	}
	if len(inflights) == 0 {
		inflights = []int{16}
	}
	var out []cell
	for _, c := range conns {
		for _, p := range payloads {
			for _, k := range inflights {
				out = append(out, cell{Mode: "tls", Conns: c, Payload: p, Inflight: k})
			}
		}
	}
	return out
}

// tlsFlags are the flags an example needs for the TLS cells.
var tlsFlags = []string{"-tls-cert", "-tls-key"}

// checkFlags asks bin for its usage (-h) and returns an error naming the
// flags of want it lacks.
func checkFlags(bin string, want []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "-h").CombinedOutput() // -h may exit 0 or 2
	if missing := missingOf(string(out), want); len(missing) > 0 {
		return fmt.Errorf("%s has no %s", filepath.Base(bin), strings.Join(missing, ", "))
	}
	return nil
}

// tlsSetup is what the TLS cells share: the certificate files and the
// servers that could be built, by name (a server that could not is absent,
// its reason in skipped).
type tlsSetup struct {
	files   *tlsFiles
	servers map[string]*serverSpec
	skipped map[string]string
}

// prepareTLS makes the run's certificate and builds the TLS servers the
// selected groups need into dir.
func prepareTLS(groups map[string]bool, dir string) (*tlsSetup, error) {
	certDir := filepath.Join(dir, "tls")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, err
	}
	f, err := makeTLSFiles(certDir)
	if err != nil {
		return nil, fmt.Errorf("making the TLS certificate: %w", err)
	}
	st := &tlsSetup{files: f, servers: map[string]*serverSpec{}, skipped: map[string]string{}}
	tlsArgs := []string{"-tls-cert", f.Cert, "-tls-key", f.Key}
	addr := func(port int) []string { return []string{"-addr", fmt.Sprintf("127.0.0.1:%d", port)} }
	add := func(name string, s *serverSpec, err error) {
		if err != nil {
			st.skipped[name] = err.Error()
			fmt.Fprintf(os.Stderr, "bench: skipping %s: %v\n", name, err)
			return
		}
		s.Name = name
		st.servers[name] = s
	}
	echoNeeded := groups["tls-echo"] || groups["tls-idle"] || groups["tls-handshake"]
	httpNeeded := groups["tls-handshake"] || groups["tls-http"]
	if echoNeeded {
		bin, err := buildEchoTLS(dir)
		var s *serverSpec
		if err == nil {
			s = echoSpec(oursTLS, nil, "epoll")
			s.argv = []string{bin}
			args := s.args
			s.args = func(port int, _ string) []string { return append(args(port, "echo"), tlsArgs...) }
			s.idleModes = []string{"tls"}
		}
		add(oursTLS, s, err)

		out := filepath.Join(dir, "gotls")
		var gs *serverSpec
		if err := goBuildTo(out, "./servers/gotls"); err == nil {
			gs = &serverSpec{argv: []string{out}, idleModes: []string{"tls"},
				args: func(port int, _ string) []string { return append(addr(port), tlsArgs...) }}
			add(goTLS, gs, nil)
		} else {
			add(goTLS, nil, err)
		}
	}
	if httpNeeded {
		root, err := writeWWW(dir)
		if err != nil {
			return nil, err
		}
		bin, err := buildExample(dir, "httpd")
		if err == nil {
			err = checkFlags(bin, tlsFlags)
		}
		var s *serverSpec
		if err == nil {
			s = &serverSpec{argv: []string{bin}, dialWait: true, args: func(port int, _ string) []string {
				return append(append(addr(port), "-root", root, "-backend", "epoll"), tlsArgs...)
			}}
		}
		add(oursHTTPS, s, err)
		ref := filepath.Join(dir, "nethttp")
		if err := goBuildTo(ref, "./servers/nethttp"); err == nil {
			add(netHTTPS, &serverSpec{argv: []string{ref}, args: func(port int, _ string) []string {
				return append(append(addr(port), "-root", root, "-mode", "memory"), tlsArgs...)
			}}, nil)
		} else {
			add(netHTTPS, nil, err)
		}
	}
	if groups["tls-resp"] {
		bin, err := buildExample(dir, "resp")
		if err == nil {
			err = checkFlags(bin, tlsFlags)
		}
		var s *serverSpec
		if err == nil {
			s = &serverSpec{argv: []string{bin}, dialWait: true, args: func(port int, _ string) []string {
				return append(append(addr(port), "-backend", "epoll"), tlsArgs...)
			}}
		}
		add(oursRespT, s, err)
		if redis, err := exec.LookPath("redis-server"); err == nil {
			add(redisTLS, &serverSpec{argv: []string{redis}, dialWait: true,
				args: func(port int, _ string) []string { return redisTLSArgs(port, f) }}, nil)
		}
	}
	return st, nil
}

// redisTLSArgs starts redis-server on TLS alone (--port 0), TLS 1.3 with
// the suite the cells are specified with, without client certificates.
func redisTLSArgs(port int, f *tlsFiles) []string {
	return []string{"--port", "0", "--tls-port", fmt.Sprint(port), "--bind", "127.0.0.1",
		"--tls-cert-file", f.Cert, "--tls-key-file", f.Key, "--tls-ca-cert-file", f.CA,
		"--tls-auth-clients", "no", "--tls-protocols", "TLSv1.3",
		"--tls-ciphersuites", tls.CipherSuiteName(wantSuite), "--save", "", "--appendonly", "no"}
}

// buildEchoTLS builds examples/echo and checks it has both the command line
// the matrix uses and the TLS flags.
func buildEchoTLS(dir string) (string, error) {
	argv, err := buildEcho(dir)
	if err != nil {
		return "", err
	}
	return argv[0], checkFlags(argv[0], tlsFlags)
}

func goBuildTo(out, pkg string) error {
	if msg, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, msg)
	}
	return nil
}

// writeWWW writes the file the HTTP servers serve and returns its directory.
func writeWWW(dir string) (string, error) {
	root := filepath.Join(dir, "www")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	return root, os.WriteFile(filepath.Join(root, "index.html"), []byte(indexHTML), 0o644)
}

// pair returns the named servers that were built, ours first.
func (st *tlsSetup) pair(ours, ref string) []*serverSpec {
	var out []*serverSpec
	for _, n := range []string{ours, ref} {
		if s := st.servers[n]; s != nil {
			out = append(out, s)
		}
	}
	return out
}

// tlsRun is what the TLS cells measured.
type tlsRun struct {
	Echo       []result
	Cells      []cell
	Idle       []idleResult
	Handshakes []hsResult
	Real       []realResult
	Notes      []string
}

// runTLS runs the selected TLS groups.
func runTLS(groups map[string]bool, st *tlsSetup, cells []cell, idleKs []int, idle int, o runOptions,
	ro realOptions, hsMax int) tlsRun {
	var out tlsRun
	o.tls = st.files.clientConfig()
	for name, why := range st.skipped {
		out.Notes = append(out.Notes, fmt.Sprintf("TLS: %s skipped: %s.", name, oneLine(why)))
	}
	slices.Sort(out.Notes)
	if groups["tls-echo"] {
		if ss := st.pair(oursTLS, goTLS); len(ss) > 0 {
			out.Cells = cells
			out.Echo = run(ss, cells, o)
		}
	}
	if groups["tls-idle"] {
		var ss []*serverSpec
		for _, s := range st.pair(oursTLS, goTLS) {
			ss = append(ss, forIdle(s))
		}
		if len(ss) > 0 {
			out.Idle = runIdle(ss, idleKs, idle, o)
		}
	}
	if groups["tls-handshake"] {
		out.Handshakes = runHandshakes(st, o, hsMax)
	}
	var suites []*realSuite
	if groups["tls-resp"] {
		if s, why := respTLSSuite(st, ro); s != nil {
			suites = append(suites, s)
		} else {
			out.Real = append(out.Real, skippedReal("tls-resp", why))
		}
	}
	if groups["tls-http"] {
		if s, why := httpTLSSuite(st); s != nil {
			suites = append(suites, s)
		} else {
			out.Real = append(out.Real, skippedReal("tls-http", why))
		}
	}
	if len(suites) > 0 {
		out.Real = append(out.Real, runReal(suites, ro)...)
	}
	return out
}

// skippedReal is the one row a real-client TLS suite leaves when it cannot
// run: the reason, never a figure.
func skippedReal(suite, why string) realResult {
	fmt.Fprintf(os.Stderr, "bench: %s skipped: %s\n", suite, why)
	return realResult{Suite: suite, Server: "-", Skipped: why}
}
