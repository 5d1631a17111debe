package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func near(got, want float64) bool { return math.Abs(got-want) < 1e-9 }

// matrixRaw builds raw results: cpu[server][cell index][rep-1] CPU µs/req.
func matrixRaw(cells []cell, cpu map[string][][]float64) []result {
	var raw []result
	for name, byCell := range cpu {
		for i, reps := range byCell {
			for rep, v := range reps {
				raw = append(raw, result{Server: name, Cell: cells[i], Rep: rep + 1, CPUusReq: v, ReqPerSec: 1000})
			}
		}
	}
	return raw
}

func findTarget(t *testing.T, ts []target, prefix string) target {
	t.Helper()
	for _, x := range ts {
		if strings.HasPrefix(x.Goal, prefix) {
			return x
		}
	}
	t.Fatalf("no target %q in %+v", prefix, ts)
	return target{}
}

// TestEchoTargets: the geomean is taken per repetition over the same cells,
// and its median and spread reported; the worst cell decides the per-cell
// limit; the comparison with gnet is the geomean of ours ÷ gnet.
func TestEchoTargets(t *testing.T) {
	cells := []cell{{"echo", 1, 64, 1}, {"echo", 50, 64, 16}, {"line", 50, 64, 16}}
	raw := matrixRaw(cells, map[string][][]float64{
		// ours ÷ C per repetition: cell 0: 1, 1.2, 1.1; cell 1: 1.44, 1.2, 1.0
		oursServer: {{10, 12, 11}, {14.4, 12, 10}, {5, 5, 5}},
		cServer:    {{10, 10, 10}, {10, 10, 10}, {1, 1, 1}},
		// ours ÷ gnet: cell 0 all 0.5, cell 1 all 2: geomean 1 each repetition
		gnetServer: {{20, 24, 22}, {7.2, 6, 5}, {4, 5, 6}},
	})
	r := &report{Cells: cells, Raw: raw}
	ts := r.echoTargets()

	geo := findTarget(t, ts, "echo: asyncore-epoll CPU/req ÷ c-epoll's, geomean")
	// Per repetition: sqrt(1×1.44)=1.2, sqrt(1.2×1.2)=1.2, sqrt(1.1×1.0)≈1.0488.
	if geo.Value.Reps != 3 || !near(geo.Value.Median, 1.2) || !near(geo.Value.Max, 1.2) ||
		!near(geo.Value.Min, math.Sqrt(1.1)) || geo.Status != statusFail {
		t.Errorf("geomean target: %+v", geo)
	}
	worst := findTarget(t, ts, "echo: asyncore-epoll CPU/req ÷ c-epoll's in every")
	// Cell 1's median is 1.2 (1.0–1.44), cell 0's 1.1: the worst is cell 1,
	// under 1.3 by its median although one repetition was over.
	if !near(worst.Value.Median, 1.2) || !near(worst.Value.Max, 1.44) || worst.Status != statusPass ||
		!strings.Contains(worst.Note, "echo c50 p64 k16") {
		t.Errorf("worst-cell target: %+v", worst)
	}
	gn := findTarget(t, ts, "echo: asyncore-epoll CPU/req geomean ≤ gnet's")
	if !near(gn.Value.Median, 1) || gn.Status != statusPass {
		t.Errorf("gnet target: %+v", gn)
	}

	// Without gnet in the run the comparison says so.
	var noGnet []result
	for _, x := range raw {
		if x.Server != gnetServer {
			noGnet = append(noGnet, x)
		}
	}
	gn = findTarget(t, (&report{Cells: cells, Raw: noGnet}).echoTargets(), "echo: asyncore-epoll CPU/req geomean ≤ gnet's")
	if gn.Status != statusNotMeasured || !strings.Contains(gn.Note, "no cell where asyncore-epoll and gnet both ran") {
		t.Errorf("without gnet: %+v", gn)
	}

	// A repetition missing a cell gives no geomean; the others still do.
	var cut []result
	for _, x := range raw {
		if !(x.Server == cServer && x.Cell == cells[1] && x.Rep == 3) {
			cut = append(cut, x)
		}
	}
	r = &report{Cells: cells, Raw: cut}
	geo = findTarget(t, r.echoTargets(), "echo: asyncore-epoll CPU/req ÷ c-epoll's, geomean")
	if geo.Value.Reps != 2 || !near(geo.Value.Median, 1.2) {
		t.Errorf("geomean with a missing cell: %+v", geo)
	}
}

// TestLineTargets: one target per line cell, ours ÷ gnet.
func TestLineTargets(t *testing.T) {
	cells := []cell{{"line", 1, 64, 1}, {"line", 50, 64, 16}}
	raw := matrixRaw(cells, map[string][][]float64{
		oursServer: {{9, 10}, {11, 12}},
		gnetServer: {{10, 10}, {10, 10}},
	})
	ts := (&report{Cells: cells, Raw: raw}).lineTargets()
	if len(ts) != 2 {
		t.Fatalf("%d targets, want 2: %+v", len(ts), ts)
	}
	if ts[0].Status != statusPass || !near(ts[0].Value.Median, 0.95) || ts[1].Status != statusFail ||
		!strings.HasPrefix(ts[1].Goal, "line c50 p64 k16:") {
		t.Errorf("line targets: %+v", ts)
	}
}

// TestRealTargets: RESP and HTTP targets come from the primary references'
// summaries, MSET with its lower limit; a missing suite is not measured.
func TestRealTargets(t *testing.T) {
	r := &report{RealSummaries: []realSummary{
		{Suite: "resp", Test: "SET", Pipeline: 16, RefName: "redis", ReqRatio: 0.95, ReqRatioMin: 0.9, ReqRatioMax: 1.0, Reps: 3},
		{Suite: "resp", Test: "MSET", Pipeline: 1, RefName: "redis", ReqRatio: 0.95, ReqRatioMin: 0.9, ReqRatioMax: 1.0, Reps: 3},
		{Suite: "resp", Test: "GET", Pipeline: 1, RefName: "redis", Err: "asyncore-resp: boom"},
	}}
	ts := r.realTargets()
	set, mset, get := ts[0], ts[1], ts[2]
	r.RealSummaries = r.RealSummaries[:1]
	if x := findTarget(t, r.realTargets(), "RESP MSET"); x.Status != statusNotMeasured {
		t.Errorf("without MSET: %+v", x)
	}
	if set.Status != statusFail || mset.Status != statusPass || get.Status != statusNotMeasured ||
		!strings.Contains(get.Note, "boom") {
		t.Errorf("resp targets: %+v", ts)
	}
	if !strings.Contains(set.line(), "0.95 (0.90–1.00 over 3 reps)") {
		t.Errorf("line %q", set.line())
	}
	if x := findTarget(t, ts, "RESP SET -P 16"); !strings.Contains(x.Goal, "redis-server") {
		t.Errorf("goal %q", x.Goal)
	}
	http := findTarget(t, ts, "HTTP")
	if http.Status != statusNotMeasured {
		t.Errorf("http: %+v", http)
	}

	r = &report{RealSummaries: []realSummary{
		{Suite: "http", Test: "GET /", Pipeline: 1, RefName: "net-http", ReqRatio: 2.6, Reps: 1, ReqRatioMin: math.NaN(), ReqRatioMax: math.NaN()},
		{Suite: "http", Test: "GET /", Pipeline: 1, RefName: "net-http-fileserver", ReqRatio: 1, Reps: 1, Secondary: true},
	}}
	ts = r.realTargets()
	if x := findTarget(t, ts, "RESP"); x.Status != statusNotMeasured || x.Note != "no resp cells in this run (-cells resp)" {
		t.Errorf("no resp: %+v", x)
	}
	h := findTarget(t, ts, "HTTP GET, plain")
	if h.Status != statusPass || !strings.Contains(h.line(), "2.60 (1 rep, no spread)") {
		t.Errorf("http: %+v %q", h, h.line())
	}
	for _, x := range ts {
		if strings.Contains(x.Goal, "fileserver") {
			t.Errorf("a secondary reference became a target: %+v", x)
		}
	}
}

// TestRealTargetClientBound: a row whose client filled its core while our
// server did not says so, with the servers' CPU ratio; a row where the
// server was the busy one, or the client had room, says nothing.
func TestRealTargetClientBound(t *testing.T) {
	row := func(server, client float64) realSummary {
		return realSummary{Suite: "http", Test: "GET /", Pipeline: 1, RefName: "net-http", ReqRatio: 1.35,
			ReqRatioMin: 1.3, ReqRatioMax: 1.4, CPURatio: 0.61, CPURatioMin: 0.6, CPURatioMax: 0.63, Reps: 3,
			OursServerBusy: server, OursClientBusy: client}
	}
	for _, c := range []struct {
		server, client float64
		bound          bool
	}{{0.81, 0.99, true}, {0.97, 0.99, false}, {0.81, 0.90, false}} {
		r := &report{RealSummaries: []realSummary{row(c.server, c.client)}}
		h := findTarget(t, r.realTargets(), "HTTP GET, plain")
		want := "client-bound: the client used 99 % of its core against ours, our server 81 % of its own; " +
			"server CPU per request ÷ net-http's 0.61 (0.60–0.63)"
		if got := strings.Contains(h.line(), want); got != c.bound {
			t.Errorf("server %.2f, client %.2f: %q", c.server, c.client, h.line())
		}
		tr := &report{RealSummaries: []realSummary{row(c.server, c.client)}}
		tr.RealSummaries[0].Suite = "tls-http"
		x := tr.tlsRealTargets("tls-http", 1.5, func(realSummary) string { return "HTTPS GET, plain" })
		if got := len(x) == 1 && strings.Contains(x[0].Note, "client-bound:"); got != c.bound {
			t.Errorf("tls: server %.2f, client %.2f: %+v", c.server, c.client, x)
		}
	}
}

// TestRender: a saved report rendered again keeps its measurements and
// judges its targets with the current code.
func TestRender(t *testing.T) {
	dir := t.TempDir()
	saved := report{Reps: 3, RealSummaries: []realSummary{{Suite: "http", Test: "GET /", Pipeline: 1,
		RefName: "net-http", OursName: "asyncore-httpd", ReqRatio: 1.35, ReqRatioMin: 1.3, ReqRatioMax: 1.4,
		CPURatio: 0.61, CPURatioMin: 0.6, CPURatioMax: 0.63, Reps: 3, OursServerBusy: 0.81, OursClientBusy: 0.99}},
		Targets: []target{{Goal: "stale", Status: statusPass}}}
	js, err := json.Marshal(saved)
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "saved.json")
	if err := os.WriteFile(in, js, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := render(in, out); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(out, "latest.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "- **FAIL** HTTP GET, plain: req/s ÷ net-http's (in memory) ≥ 2.5: 1.35 (1.30–1.40 over 3 reps) — client-bound:") ||
		strings.Contains(string(md), "stale") {
		t.Errorf("rendered report:\n%s", md)
	}
	var again report
	if js, err = os.ReadFile(filepath.Join(out, "latest.json")); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &again); err != nil || len(again.RealSummaries) != 1 ||
		again.RealSummaries[0].ReqRatio != 1.35 || findTarget(t, again.Targets, "HTTP GET, plain").Status != statusFail {
		t.Errorf("rendered json: %v %+v", err, again)
	}
}

// TestIdleTargets: our byte echo against gnet's measured RSS, our -line
// server against 1 KiB, each with its spread.
func TestIdleTargets(t *testing.T) {
	var raw []idleResult
	for rep, v := range [][3]float64{{500, 600, 900}, {700, 550, 1100}, {600, 580, 1000}} {
		raw = append(raw,
			idleResult{Server: oursServer, Mode: "echo", Inflight: 1, Rep: rep + 1, RSSPerIdleB: v[0]},
			idleResult{Server: gnetServer, Mode: "echo", Inflight: 1, Rep: rep + 1, RSSPerIdleB: v[1]},
			idleResult{Server: oursServer, Mode: "line", Inflight: 1, Rep: rep + 1, RSSPerIdleB: v[2]},
		)
	}
	r := &report{IdleRaw: raw, IdleSummaries: summarizeIdle(raw)}
	ts := r.idleTargets()
	if len(ts) != 2 {
		t.Fatalf("%d targets: %+v", len(ts), ts)
	}
	echo, line := ts[0], ts[1]
	// ours 600 (500–700) against gnet's 580 (550–600).
	if echo.Status != statusFail || !near(echo.Limit, 580) || !near(echo.Value.Min, 500) || !near(echo.Value.Max, 700) {
		t.Errorf("echo: %+v", echo)
	}
	if want := "600 B (500 B–700 B over 3 reps); gnet 580 B (550 B–600 B over 3 reps)"; !strings.Contains(echo.line(), want) {
		t.Errorf("echo line %q, want %q in it", echo.line(), want)
	}
	if line.Status != statusPass || !near(line.Value.Median, 1000) {
		t.Errorf("line: %+v", line)
	}

	// Without gnet in the run the comparison is not measured.
	var noGnet []idleResult
	for _, x := range raw {
		if x.Server != gnetServer {
			noGnet = append(noGnet, x)
		}
	}
	r = &report{IdleRaw: noGnet, IdleSummaries: summarizeIdle(noGnet)}
	r.Targets = r.idleTargets()
	if s := r.Targets[0].Status; s != statusNotMeasured {
		t.Errorf("without gnet: %s", s)
	}
	// Every figure must survive JSON (which has no NaN).
	if err := r.write(t.TempDir(), ""); err != nil {
		t.Errorf("latest.json: %v", err)
	}
	// Without an idle cell both are listed, not measured.
	for _, x := range (&report{}).idleTargets() {
		if x.Status != statusNotMeasured {
			t.Errorf("no idle cell: %+v", x)
		}
	}
}

// TestSummarizeIdleModes: the byte echo and the -line server of one server
// are separate rows, and results without a mode count as echo.
func TestSummarizeIdleModes(t *testing.T) {
	raw := []idleResult{
		{Server: oursServer, Mode: "echo", Inflight: 1, Rep: 1, RSSPerIdleB: 100},
		{Server: oursServer, Mode: "line", Inflight: 1, Rep: 1, RSSPerIdleB: 300},
		{Server: oursServer, Inflight: 1, Rep: 2, RSSPerIdleB: 200},
	}
	s := summarizeIdle(raw)
	if len(s) != 2 || s[0].Mode != "echo" || s[0].Reps != 2 || !near(s[0].RSSPerIdleB, 150) ||
		!near(s[0].RSSPerIdleMin, 100) || !near(s[0].RSSPerIdleMax, 200) || s[1].Mode != "line" || s[1].Reps != 1 {
		t.Errorf("%+v", s)
	}
}
