package main

import (
	"crypto/tls"
	"net"
	"slices"
	"strings"
	"testing"
)

func TestCellGroupsTLS(t *testing.T) {
	g, err := cellGroups("tls", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range tlsGroups {
		if !g[n] {
			t.Errorf("-cells tls: %s not selected", n)
		}
	}
	if g["matrix"] || g["idle"] || g["resp"] || g["http"] {
		t.Errorf("-cells tls selected plaintext groups: %v", g)
	}
	g, _ = cellGroups("", true)
	for _, n := range append([]string{"matrix", "idle", "resp", "http"}, tlsGroups...) {
		if !g[n] {
			t.Errorf("-full: %s not selected", n)
		}
	}
	g, _ = cellGroups("", false)
	for _, n := range tlsGroups {
		if g[n] {
			t.Errorf("quick default selected %s", n)
		}
	}
	g, err = cellGroups("tls-resp,http", false)
	if err != nil || !g["tls-resp"] || !g["http"] || g["tls-echo"] {
		t.Errorf("tls-resp,http: %v %v", g, err)
	}
	if _, err := cellGroups("tls-bogus", false); err == nil {
		t.Error("an unknown TLS group was accepted")
	}
}

func TestTLSCells(t *testing.T) {
	got := tlsCells(nil, nil, nil)
	want := []cell{{"tls", 50, 64, 16}, {"tls", 50, 4096, 16}}
	if !slices.Equal(got, want) {
		t.Errorf("default TLS cells %v, want %v", got, want)
	}
	if got := tlsCells([]int{1}, []int{128}, []int{1, 4}); len(got) != 2 || got[1] != (cell{"tls", 1, 128, 4}) {
		t.Errorf("overridden TLS cells %v", got)
	}
}

// TestHSRatios: ratios pair the two servers' runs of the same repetition
// and pair; failed runs and the other pair do not count.
func TestHSRatios(t *testing.T) {
	raw := []hsResult{
		{Pair: "https", Server: "a", Rep: 1, Handshakes: 10, PerSec: 900},
		{Pair: "https", Server: "b", Rep: 1, Handshakes: 10, PerSec: 1000},
		{Pair: "https", Server: "a", Rep: 2, Handshakes: 10, PerSec: 1200},
		{Pair: "https", Server: "b", Rep: 2, Err: "boom"},
		{Pair: "https", Server: "a", Rep: 3, Handshakes: 10, PerSec: 500},
		{Pair: "https", Server: "b", Rep: 3, Handshakes: 10, PerSec: 250},
		{Pair: "echo", Server: "b", Rep: 2, Handshakes: 10, PerSec: 1},
	}
	got := hsRatios(raw, "https", "a", "b", func(r hsResult) float64 { return r.PerSec })
	if len(got) != 2 || !near(got[1], 0.9) || !near(got[3], 2) {
		t.Errorf("ratios %v, want rep 1: 0.9, rep 3: 2", got)
	}
	sum := summarizeHS(raw)
	if len(sum) != 3 || sum[0].Server != "a" || sum[0].Reps != 3 || !near(sum[0].PerSec, 900) {
		t.Errorf("summary %+v", sum)
	}
	if sum[1].Reps != 2 || sum[1].Err != "" || !near(sum[1].PerSec, 625) {
		t.Errorf("b's summary %+v: two good repetitions, median 625", sum[1])
	}
}

func TestIdleRSSRatios(t *testing.T) {
	raw := []idleResult{
		{Server: oursTLS, Mode: "tls", Inflight: 1, Rep: 1, RSSPerIdleB: 10 << 10},
		{Server: goTLS, Mode: "tls", Inflight: 1, Rep: 1, RSSPerIdleB: 40 << 10},
		{Server: oursTLS, Mode: "echo", Inflight: 1, Rep: 1, RSSPerIdleB: 1},
		{Server: oursTLS, Mode: "tls", Inflight: 1, Rep: 2, RSSPerIdleB: 20 << 10},
		{Server: goTLS, Mode: "tls", Inflight: 1, Rep: 2, Err: "failed"},
	}
	got := idleRSSRatios(raw, "tls", 1, oursTLS, goTLS)
	if len(got) != 1 || !near(got[1], 0.25) {
		t.Errorf("ratios %v, want rep 1: 0.25 only", got)
	}
}

// TestTLSTargets: each goal passes or fails on its median against its
// limit; a suite that could not run says why; groups not run are "not
// measured" and say which flag runs them.
func TestTLSTargets(t *testing.T) {
	cells := tlsCells(nil, nil, nil)
	r := &report{TLSCells: cells,
		TLSRaw: []result{
			{Server: oursTLS, Cell: cells[0], Rep: 1, CPUusReq: 9, TLS: "TLS 1.3 TLS_AES_128_GCM_SHA256 X25519"},
			{Server: goTLS, Cell: cells[0], Rep: 1, CPUusReq: 10},
			{Server: oursTLS, Cell: cells[1], Rep: 1, CPUusReq: 12, TLS: "TLS 1.3 TLS_CHACHA20_POLY1305_SHA256 X25519"},
			{Server: goTLS, Cell: cells[1], Rep: 1, CPUusReq: 10},
		},
		IdleRaw: []idleResult{
			{Server: oursTLS, Mode: "tls", Inflight: 1, Rep: 1, RSSPerIdleB: 12 << 10},
			{Server: goTLS, Mode: "tls", Inflight: 1, Rep: 1, RSSPerIdleB: 40 << 10},
		},
		HSRaw: []hsResult{
			{Pair: "https", Server: oursHTTPS, Rep: 1, Handshakes: 1, PerSec: 850, CPUusHS: 100},
			{Pair: "https", Server: netHTTPS, Rep: 1, Handshakes: 1, PerSec: 1000, CPUusHS: 100},
		},
		RealRaw: []realResult{{Suite: "tls-resp", Server: "-", Skipped: "no TLS in redis build: x"}},
		RealSummaries: []realSummary{
			{Suite: "tls-http", Test: "GET /", Pipeline: 1, RefName: netHTTPS, ReqRatio: 1.6, Reps: 1},
			{Suite: "tls-http", Test: "GET /", Pipeline: 16, RefName: netHTTPS, ReqRatio: 1.2, Reps: 1},
		},
	}
	ts := r.tlsTargets()
	status := func(prefix string) target {
		return findTarget(t, ts, prefix)
	}
	if x := status("TLS echo c50 p64 k16"); x.Status != statusPass || !near(x.Value.Median, 0.9) ||
		strings.Contains(x.Note, "not the") {
		t.Errorf("echo 64: %+v", x)
	}
	if x := status("TLS echo c50 p4096 k16"); x.Status != statusFail || !strings.Contains(x.Note, "not the TLS_AES_128_GCM_SHA256") {
		t.Errorf("echo 4096: %+v", x)
	}
	if x := status("TLS idle k1"); x.Status != statusPass || !near(x.Value.Median, 0.3) {
		t.Errorf("idle: %+v", x)
	}
	if x := status("TLS handshakes/s"); x.Status != statusFail || !near(x.Value.Median, 0.85) {
		t.Errorf("handshakes: %+v", x)
	}
	if x := status("TLS RESP"); x.Status != statusNotMeasured || !strings.Contains(x.Note, "skipped: no TLS in redis build") {
		t.Errorf("resp: %+v", x)
	}
	if x := status("HTTPS GET, plain"); x.Status != statusPass {
		t.Errorf("https plain: %+v", x)
	}
	if x := status("HTTPS GET, 16 pipelined"); x.Status != statusFail {
		t.Errorf("https pipelined: %+v", x)
	}

	none := (&report{}).tlsTargets()
	if len(none) != 5 {
		t.Errorf("no TLS cells: %d targets, want one per goal (5): %+v", len(none), none)
	}
	for _, x := range none {
		if x.Status != statusNotMeasured || !strings.Contains(x.Note, "-cells tls") {
			t.Errorf("no TLS cells: %+v", x)
		}
	}
}

// TestSummarizeRealSkipped: a skipped suite's row holds no figures and
// makes no comparison.
func TestSummarizeRealSkipped(t *testing.T) {
	raw := []realResult{
		{Suite: "tls-resp", Server: "-", Skipped: "no TLS"},
		{Suite: "resp", Server: "a", Test: "SET", Pipeline: 1, Rep: 1, ReqPerSec: 2},
		{Suite: "resp", Server: "b", Test: "SET", Pipeline: 1, Rep: 1, ReqPerSec: 1},
	}
	s := summarizeReal(raw)
	if len(s) != 1 || s[0].Suite != "resp" || !near(s[0].ReqRatio, 2) {
		t.Errorf("summaries %+v", s)
	}
}

func TestHTTPReplyDone(t *testing.T) {
	head := "HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n"
	for _, c := range []struct {
		in   string
		done bool
	}{
		{"", false},
		{head, false},
		{head + indexHTML[:10], false},
		{head + indexHTML, true},
		{"HTTP/1.1 200 OK\r\n" + indexHTML, false}, // no end of head
	} {
		if got := httpReplyDone([]byte(c.in)); got != c.done {
			t.Errorf("httpReplyDone(%q) = %v", c.in, got)
		}
	}
}

// TestTLSFiles: the certificate the harness makes serves a TLS 1.3
// handshake that the cells' client configuration verifies.
func TestTLSFiles(t *testing.T) {
	f, err := makeTLSFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// The server side answers every connection until the listener closes.
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}}).Handshake()
			}()
		}
	}()
	handshake := func(cfg *tls.Config) (*tls.Conn, error) {
		raw, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c := tls.Client(raw, cfg)
		err = c.Handshake()
		if err != nil {
			raw.Close()
		}
		return c, err
	}
	c, err := handshake(f.clientConfig())
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	defer c.Close()
	got := describeTLS(c.ConnectionState())
	if !strings.HasPrefix(got, "TLS 1.3 TLS_") {
		t.Errorf("negotiated %q, want TLS 1.3", got)
	}
	bad := f.clientConfig()
	bad.ServerName = "example.com"
	if _, err := handshake(bad); err == nil {
		t.Error("the client accepted a certificate for another name: it does not verify")
	}
}

// TestIdleTargetsIgnoreTLS: the TLS idle rows alone do not make issue 14's
// idle targets look measured.
func TestIdleTargetsIgnoreTLS(t *testing.T) {
	idle := []idleResult{{Server: oursTLS, Mode: "tls", Inflight: 1, Rep: 1, RSSPerIdleB: 1}}
	r := &report{IdleRaw: idle, IdleSummaries: summarizeIdle(idle)}
	for _, x := range r.idleTargets() {
		if x.Status != statusNotMeasured || !strings.Contains(x.Note, "no idle cell") {
			t.Errorf("issue 14 idle target from TLS rows alone: %+v", x)
		}
	}
}

// TestTLSChart: the TLS chart has a group per TLS echo cell and per
// handshake pair that ran, and none without TLS figures.
func TestTLSChart(t *testing.T) {
	if (&report{}).tlsChart() != nil {
		t.Error("a TLS chart without TLS figures")
	}
	cells := tlsCells(nil, []int{64}, nil)
	r := &report{TLSCells: cells,
		TLSRaw: []result{
			{Server: oursTLS, Cell: cells[0], Rep: 1, CPUusReq: 1, ReqPerSec: 3},
			{Server: goTLS, Cell: cells[0], Rep: 1, CPUusReq: 2, ReqPerSec: 2},
		},
		HSRaw: []hsResult{
			{Pair: "echo", Server: oursTLS, Rep: 1, Handshakes: 1, PerSec: 10, CPUusHS: 5},
			{Pair: "echo", Server: goTLS, Rep: 1, Handshakes: 1, PerSec: 20, CPUusHS: 5},
		}}
	c := r.tlsChart()
	if c == nil || !slices.Equal(c.Groups, []string{"tls c50 p64 k16", "handshakes echo"}) {
		t.Fatalf("chart %+v", c)
	}
	if !near(c.Series[0].Values[0], 0.5) || !near(c.Series[1].Values[0], 1.5) ||
		!near(c.Series[0].Values[1], 1) || !near(c.Series[1].Values[1], 0.5) {
		t.Errorf("series %+v", c.Series)
	}
	if len(c.svg()) == 0 {
		t.Error("no SVG")
	}
}

// tlsEchoServer serves a TLS byte echo on loopback with the run's
// certificate until the test ends, and returns its address.
func tlsEchoServer(t *testing.T, f *tlsFiles) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if _, err := c.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestLoadOverTLS: the load generator drives crypto/tls client
// connections, checks every byte and records what they negotiated; the
// idle dialer completes a handshake and a round trip on each connection.
func TestLoadOverTLS(t *testing.T) {
	f, err := makeTLSFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	addr := tlsEchoServer(t, f)
	load, err := startLoad(loadSpec{Addr: addr, Conns: 3, Payload: 100, Inflight: 4, MaxReqs: 300, TLS: f.clientConfig()})
	if err != nil {
		t.Fatal(err)
	}
	load.phase.Store(phaseMeasure)
	<-load.maxed // 300 replies, or an error
	if err := load.stop(); err != nil {
		t.Fatal(err)
	}
	if load.count.Load() < 300 || !strings.HasPrefix(load.negotiated, "TLS 1.3 ") {
		t.Errorf("%d replies, negotiated %q", load.count.Load(), load.negotiated)
	}

	conns, err := dialIdle(addr, 20, f.clientConfig())
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if err != nil || len(conns) != 20 {
		t.Fatalf("dialIdle: %d conns, %v", len(conns), err)
	}
	for _, c := range conns {
		if _, ok := c.(*tls.Conn); !ok {
			t.Fatalf("idle connection %T is not TLS", c)
		}
	}
	if err := pingIdle(conns); err != nil {
		t.Fatal(err)
	}
	if _, err := echoExchange(f, addr); err != nil {
		t.Errorf("echoExchange: %v", err)
	}
}
