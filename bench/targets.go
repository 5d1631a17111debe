package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Issue 14's targets, checked against the figures of one run. Every figure is
// the median over the repetitions with the least and greatest repetition in
// brackets; the pass/fail verdict is on the median. The matrix figures are
// server CPU µs/request, the fair efficiency figure (README.md, "Reading the
// table"): within one repetition the servers of a cell run one after the
// other, so each repetition gives one ratio per cell, and a geometric mean
// is taken per repetition over the same cells.

// The servers the targets name.
const (
	oursServer = "asyncore-epoll" // examples/echo on epoll, one loop
	cServer    = "c-epoll"
	gnetServer = "gnet"
)

// The limits.
const (
	echoGeomeanLimit = 1.10 // ours ÷ C, geomean over the echo cells
	echoCellLimit    = 1.30 // ours ÷ C, any echo cell
	respLimit        = 1.0  // ours ÷ redis-server req/s, SET and GET
	msetLimit        = 0.9  // the same for MSET
	httpLimit        = 2.5  // ours ÷ net/http (in-memory) req/s
	lineIdleLimit    = 1024 // bytes of RSS per idle -line connection
)

// clientBoundBusy is the share of its core from which a real client (wrk,
// redis-benchmark) counts as the bottleneck of its row: with the client's
// core full and the server's not, requests per second measure the client,
// which is the same program against both servers, so the servers are
// compared by their CPU per request instead.
const clientBoundBusy = 0.95

// clientBoundNote explains a real-client row whose client filled its core
// while our server did not (the medians of the repetitions); "" otherwise.
func clientBoundNote(s realSummary) string {
	if s.OursClientBusy < clientBoundBusy || s.OursServerBusy >= clientBoundBusy || s.CPURatio <= 0 {
		return ""
	}
	return fmt.Sprintf("client-bound: the client used %.0f %% of its core against ours, our server %.0f %% of its own; "+
		"server CPU per request ÷ %s's %.2f (%.2f–%.2f)", 100*s.OursClientBusy, 100*s.OursServerBusy,
		s.RefName, s.CPURatio, s.CPURatioMin, s.CPURatioMax)
}

// figure is a median with its spread over the repetitions.
type figure struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Reps   int     `json:"reps"`
}

func figureOf(v []float64) figure {
	if len(v) == 0 {
		return figure{}
	}
	return figure{Median: median(v), Min: slices.Min(v), Max: slices.Max(v), Reps: len(v)}
}

// target is one goal and how this run did against it.
type target struct {
	Goal   string  `json:"goal"`
	Value  figure  `json:"value"`
	Unit   string  `json:"unit"`                   // "×" (a ratio) or "B" (bytes)
	AtMost bool    `json:"at_most"`                // pass when the value ≤ the limit; else ≥
	Limit  float64 `json:"limit"`                  // for a measured limit, its median
	RefFig *figure `json:"limit_figure,omitempty"` // a limit that is another server's figure
	RefBy  string  `json:"limit_from,omitempty"`   // that server; without RefFig, not measured
	Status string  `json:"status"`                 // pass, fail, not measured
	Note   string  `json:"note,omitempty"`
}

const (
	statusPass        = "pass"
	statusFail        = "fail"
	statusNotMeasured = "not measured"
)

// judge sets the status from the median and the limit.
func (t *target) judge() {
	switch {
	case t.Value.Reps == 0 || math.IsNaN(t.Value.Median) || t.RefBy != "" && t.RefFig == nil:
		t.Status = statusNotMeasured
	case t.AtMost && t.Value.Median <= t.Limit, !t.AtMost && t.Value.Median >= t.Limit:
		t.Status = statusPass
	default:
		t.Status = statusFail
	}
}

func notMeasured(goal, why string) target {
	return target{Goal: goal, Status: statusNotMeasured, Note: why}
}

// cpuRatios returns, per repetition, server a's CPU µs/request in cell c
// divided by server b's in the same repetition.
func cpuRatios(raw []result, a, b string, c cell) map[int]float64 {
	return ratios(raw, a, b, c, func(r result) float64 { return r.CPUusReq })
}

// ratios returns, per repetition, f of server a's result in cell c divided
// by f of server b's in the same repetition.
func ratios(raw []result, a, b string, c cell, f func(result) float64) map[int]float64 {
	by := func(name string) map[int]float64 {
		m := map[int]float64{}
		for _, r := range raw {
			if r.Server == name && r.Cell == c && r.Err == "" && f(r) > 0 {
				m[r.Rep] = f(r)
			}
		}
		return m
	}
	x, y := by(a), by(b)
	out := map[int]float64{}
	for rep, v := range x {
		if w, ok := y[rep]; ok {
			out[rep] = v / w
		}
	}
	return out
}

func sortedValues(m map[int]float64) []float64 {
	var v []float64
	for _, x := range m {
		v = append(v, x)
	}
	slices.Sort(v)
	return v
}

// geomeanRatios returns, for each repetition in which every cell has a
// ratio of CPU µs/request a ÷ b, the geometric mean over the cells, and the
// cells used: those with a ratio in at least one repetition.
func geomeanRatios(raw []result, a, b string, cells []cell) (per []float64, used int) {
	return geomeanOf(raw, a, b, cells, func(r result) float64 { return r.CPUusReq })
}

// geomeanOf is geomeanRatios for any figure f of a result.
func geomeanOf(raw []result, a, b string, cells []cell, f func(result) float64) (per []float64, used int) {
	var rs []map[int]float64
	reps := map[int]bool{}
	for _, c := range cells {
		m := ratios(raw, a, b, c, f)
		if len(m) == 0 {
			continue
		}
		rs = append(rs, m)
		for rep := range m {
			reps[rep] = true
		}
	}
	for rep := range reps {
		sum, ok := 0.0, true
		for _, m := range rs {
			v, has := m[rep]
			if !has {
				ok = false
				break
			}
			sum += math.Log(v)
		}
		if ok {
			per = append(per, math.Exp(sum/float64(len(rs))))
		}
	}
	slices.Sort(per)
	return per, len(rs)
}

func cellsOf(cells []cell, mode string) []cell {
	var out []cell
	for _, c := range cells {
		if c.Mode == mode {
			out = append(out, c)
		}
	}
	return out
}

// targets computes every target from the report's figures. A target whose
// cells were not run is listed as not measured, saying what would run it.
func (r *report) targets() []target {
	var out []target
	out = append(out, r.echoTargets()...)
	out = append(out, r.lineTargets()...)
	out = append(out, r.realTargets()...)
	out = append(out, r.idleTargets()...)
	return out
}

func (r *report) echoTargets() []target {
	echo := cellsOf(r.Cells, "echo")
	goals := []string{
		fmt.Sprintf("echo: %s CPU/req ÷ %s's, geomean of the echo cells ≤ %.2f", oursServer, cServer, echoGeomeanLimit),
		fmt.Sprintf("echo: %s CPU/req ÷ %s's in every echo cell ≤ %.2f", oursServer, cServer, echoCellLimit),
		fmt.Sprintf("echo: %s CPU/req geomean ≤ %s's (÷ %s's, same cells)", oursServer, gnetServer, gnetServer),
	}
	if len(echo) == 0 {
		var out []target
		for _, g := range goals {
			out = append(out, notMeasured(g, "no echo cells in this run"))
		}
		return out
	}

	per, n := geomeanRatios(r.Raw, oursServer, cServer, echo)
	geo := target{Goal: goals[0], Value: figureOf(per), Unit: "×", AtMost: true, Limit: echoGeomeanLimit,
		Note: cellsNote(n, cServer)}
	geo.judge()

	worst := target{Goal: goals[1], Unit: "×", AtMost: true, Limit: echoCellLimit}
	var over []string
	for _, c := range echo {
		f := figureOf(sortedValues(cpuRatios(r.Raw, oursServer, cServer, c)))
		if f.Reps == 0 {
			continue
		}
		if f.Median > echoCellLimit {
			over = append(over, fmt.Sprintf("%s %.2f", c, f.Median))
		}
		if worst.Value.Reps == 0 || f.Median > worst.Value.Median {
			worst.Value, worst.Note = f, "worst cell: "+c.String()
		}
	}
	if worst.Value.Reps == 0 {
		worst.Note = cellsNote(0, cServer)
	}
	worst.judge()
	if len(over) > 0 {
		worst.Note += "; over the limit: " + strings.Join(over, ", ")
	}

	per, n = geomeanRatios(r.Raw, oursServer, gnetServer, echo)
	gn := target{Goal: goals[2], Value: figureOf(per), Unit: "×", AtMost: true, Limit: 1,
		Note: cellsNote(n, gnetServer)}
	gn.judge()
	return []target{geo, worst, gn}
}

func (r *report) lineTargets() []target {
	line := cellsOf(r.Cells, "line")
	if len(line) == 0 {
		return []target{notMeasured(fmt.Sprintf("line: %s -line CPU/req ≤ %s's in every line cell", oursServer, gnetServer),
			"no line cells in this run")}
	}
	var out []target
	for _, c := range line {
		t := target{Goal: fmt.Sprintf("line %s: %s -line CPU/req ÷ %s's ≤ 1.00", strings.TrimPrefix(c.String(), "line "),
			oursServer, gnetServer),
			Value: figureOf(sortedValues(cpuRatios(r.Raw, oursServer, gnetServer, c))), Unit: "×", AtMost: true, Limit: 1}
		if t.Value.Reps == 0 {
			t.Note = cellsNote(0, gnetServer)
		}
		t.judge()
		out = append(out, t)
	}
	return out
}

func (r *report) realTargets() []target {
	var out []target
	resp, http, mset := false, false, false
	for _, s := range r.RealSummaries {
		if s.Secondary {
			continue
		}
		var t target
		switch s.Suite {
		case "resp":
			resp = true
			limit := respLimit
			if s.Test == "MSET" {
				limit, mset = msetLimit, true
			}
			t = target{Goal: fmt.Sprintf("RESP %s -P %d: req/s ÷ redis-server's ≥ %.1f", s.Test, s.Pipeline, limit),
				Limit: limit}
		case "http":
			http = true
			kind := "plain"
			if s.Pipeline > 1 {
				kind = fmt.Sprintf("%d pipelined", s.Pipeline)
			}
			t = target{Goal: fmt.Sprintf("HTTP GET, %s: req/s ÷ %s's (in memory) ≥ %.1f", kind, s.RefName, httpLimit),
				Limit: httpLimit}
		default:
			continue
		}
		t.Unit = "×"
		if s.Err == "" && s.Reps > 0 {
			t.Value = figure{Median: s.ReqRatio, Min: s.ReqRatioMin, Max: s.ReqRatioMax, Reps: s.Reps}
			if s.Reps < 2 || math.IsNaN(s.ReqRatioMin) || s.ReqRatioMax == 0 {
				t.Value.Min, t.Value.Max = s.ReqRatio, s.ReqRatio
			}
			t.Note = clientBoundNote(s)
		} else {
			t.Note = oneLine(s.Err)
		}
		t.judge()
		out = append(out, t)
	}
	switch {
	case !resp:
		out = append(out, notMeasured("RESP: req/s ÷ redis-server's ≥ 1.0 (SET, GET), ≥ 0.9 (MSET)",
			"no resp cells in this run (-cells resp)"))
	case !mset:
		out = append(out, notMeasured(fmt.Sprintf("RESP MSET: req/s ÷ redis-server's ≥ %.1f", msetLimit),
			"MSET runs with -full"))
	}
	if !http {
		out = append(out, notMeasured(fmt.Sprintf("HTTP: req/s ÷ net-http's (in memory) ≥ %.1f", httpLimit),
			"no http cells in this run (-cells http)"))
	}
	return out
}

// idleRSS returns the per-repetition RSS per idle connection of one server
// and mode at k in flight.
func (r *report) idleRSS(server, mode string, k int) []float64 {
	var v []float64
	for _, x := range r.IdleRaw {
		m := x.Mode
		if m == "" {
			m = "echo"
		}
		if x.Server == server && m == mode && x.Inflight == k && x.Err == "" && x.Skipped == "" {
			v = append(v, x.RSSPerIdleB)
		}
	}
	slices.Sort(v)
	return v
}

func (r *report) idleTargets() []target {
	var ks []int
	for _, s := range r.IdleSummaries {
		if s.Mode == "tls" {
			continue // the TLS cells' idle rows have their own target (tlsreport.go)
		}
		if !slices.Contains(ks, s.Inflight) {
			ks = append(ks, s.Inflight)
		}
	}
	if len(ks) == 0 {
		return []target{
			notMeasured(fmt.Sprintf("idle: %s RSS per idle connection ≤ %s's", oursServer, gnetServer),
				"no idle cell in this run (-cells idle, or -full)"),
			notMeasured(fmt.Sprintf("idle: %s -line RSS per idle connection ≤ 1 KiB", oursServer),
				"no idle cell in this run (-cells idle, or -full)"),
		}
	}
	var out []target
	for _, k := range ks {
		g := figureOf(r.idleRSS(gnetServer, "echo", k))
		t := target{Goal: fmt.Sprintf("idle k%d: %s RSS per idle connection ≤ %s's", k, oursServer, gnetServer),
			Value: figureOf(r.idleRSS(oursServer, "echo", k)), Unit: "B", AtMost: true, Limit: g.Median,
			RefBy: gnetServer}
		if g.Reps > 0 {
			t.RefFig = &g
		} else {
			t.Note = gnetServer + " did not run the idle cell"
		}
		t.judge()
		out = append(out, t)

		t = target{Goal: fmt.Sprintf("idle k%d: %s -line RSS per idle connection ≤ 1 KiB", k, oursServer),
			Value: figureOf(r.idleRSS(oursServer, "line", k)), Unit: "B", AtMost: true, Limit: lineIdleLimit}
		t.judge()
		out = append(out, t)
	}
	return out
}

// show renders a value of the target's unit.
func (t target) show(v float64) string {
	if t.Unit == "B" {
		return bytesKiB(v)
	}
	return fmt.Sprintf("%.2f", v)
}

func (t target) showFigure(f figure) string {
	s := t.show(f.Median)
	if f.Reps > 1 {
		s += fmt.Sprintf(" (%s–%s over %d reps)", t.show(f.Min), t.show(f.Max), f.Reps)
	} else {
		s += " (1 rep, no spread)"
	}
	return s
}

// line renders the target as one line of the report.
func (t target) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "- **%s** %s", strings.ToUpper(t.Status), t.Goal)
	if t.Value.Reps > 0 {
		b.WriteString(": " + t.showFigure(t.Value))
		if t.RefFig != nil {
			b.WriteString("; " + t.RefBy + " " + t.showFigure(*t.RefFig))
		}
	}
	if t.Note != "" {
		b.WriteString(" — " + t.Note)
	}
	return b.String()
}

// targetsMarkdown renders the Targets section.
func (r *report) targetsMarkdown(b *strings.Builder) {
	if len(r.Targets) == 0 {
		return
	}
	b.WriteString("### Targets\n\n")
	b.WriteString("Issue 14's and issue 15's (TLS) goals, from this run: the median over the repetitions, the least and greatest repetition in brackets;\n")
	b.WriteString("the verdict is on the median. Matrix figures are server CPU µs/request ratios per repetition (geomeans taken per repetition).\n\n")
	pass, fail := 0, 0
	for _, t := range r.Targets {
		b.WriteString(t.line() + "\n")
		switch t.Status {
		case statusPass:
			pass++
		case statusFail:
			fail++
		}
	}
	fmt.Fprintf(b, "\n%d passed, %d failed, %d not measured.\n\n", pass, fail, len(r.Targets)-pass-fail)
}

func cellCount(n int) string {
	if n == 1 {
		return "1 cell"
	}
	return fmt.Sprintf("%d cells", n)
}

// cellsNote says over how many cells a ratio was taken, or, for none, that
// the two servers have no figures of one repetition: one did not run (see
// -servers) or failed.
func cellsNote(n int, ref string) string {
	if n == 0 {
		return fmt.Sprintf("no cell where %s and %s both ran (see -servers)", oursServer, ref)
	}
	return cellCount(n)
}
