package main

import (
	"fmt"
	"slices"
	"strings"
)

// Issue 15's performance targets and the TLS cells' tables.

// The TLS limits.
const (
	tlsEchoLimit = 1.0     // ours ÷ gotls, CPU µs/request, every TLS echo cell
	tlsIdleLimit = 1.0 / 3 // ours ÷ gotls, RSS per idle TLS connection
	tlsHSLimit   = 0.9     // ours ÷ net/http with TLS, handshakes per second
	tlsRespLimit = 1.0     // ours ÷ redis-server --tls-port, req/s
	tlsHTTPLimit = 1.5     // ours ÷ net/http with TLS, req/s under wrk
	hsMaxDefault = 20_000  // handshakes per measured interval at most
)

// hsSummary is one server's handshake figures, medians over the
// repetitions.
type hsSummary struct {
	Pair    string  `json:"pair"`
	Server  string  `json:"server"`
	Reps    int     `json:"reps"`
	PerSec  float64 `json:"handshakes_per_sec"`
	CPUusHS float64 `json:"cpu_us_per_handshake"`
	TLS     string  `json:"tls,omitempty"`
	Err     string  `json:"error,omitempty"`
}

func summarizeHS(raw []hsResult) []hsSummary {
	var out []hsSummary
	for _, r := range raw {
		i := slices.IndexFunc(out, func(s hsSummary) bool { return s.Pair == r.Pair && s.Server == r.Server })
		if i < 0 {
			out = append(out, hsSummary{Pair: r.Pair, Server: r.Server})
			i = len(out) - 1
		}
		if r.Err != "" {
			out[i].Err = r.Err
		}
	}
	for i := range out {
		s := &out[i]
		var rate, cpu []float64
		for _, r := range raw {
			if r.Pair == s.Pair && r.Server == s.Server && r.Err == "" && r.Handshakes > 0 {
				rate, cpu = append(rate, r.PerSec), append(cpu, r.CPUusHS)
				s.TLS = r.TLS
			}
		}
		s.Reps = len(rate)
		if s.Reps > 0 {
			s.PerSec, s.CPUusHS, s.Err = median(rate), median(cpu), ""
		}
	}
	return out
}

// hsRatios returns, per repetition, f of server a's handshake run in pair
// divided by f of server b's in the same repetition.
func hsRatios(raw []hsResult, pair, a, b string, f func(hsResult) float64) map[int]float64 {
	by := func(name string) map[int]float64 {
		m := map[int]float64{}
		for _, r := range raw {
			if r.Pair == pair && r.Server == name && r.Err == "" && r.Handshakes > 0 && f(r) > 0 {
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

// idleRSSRatios returns, per repetition, the RSS per idle connection of
// server a in mode divided by server b's at k in flight.
func idleRSSRatios(raw []idleResult, mode string, k int, a, b string) map[int]float64 {
	by := func(name string) map[int]float64 {
		m := map[int]float64{}
		for _, r := range raw {
			if r.Server == name && r.Mode == mode && r.Inflight == k && r.Err == "" && r.Skipped == "" {
				m[r.Rep] = r.RSSPerIdleB
			}
		}
		return m
	}
	x, y := by(a), by(b)
	out := map[int]float64{}
	for rep, v := range x {
		if w, ok := y[rep]; ok && w > 0 {
			out[rep] = v / w
		}
	}
	return out
}

// addTLS adds the TLS cells' figures and issue 15's targets to the report
// (the TLS idle and real-client results are already among the others).
func (r *report) addTLS(t tlsRun) {
	r.TLSCells, r.TLSRaw, r.HSRaw = t.Cells, t.Echo, t.Handshakes
	for _, c := range t.Cells {
		for _, s := range []string{oursTLS, goTLS} {
			var rs []result
			for _, x := range t.Echo {
				if x.Server == s && x.Cell == c {
					rs = append(rs, x)
				}
			}
			if len(rs) > 0 {
				r.TLSSummaries = append(r.TLSSummaries, summarize(s, c, rs))
			}
		}
	}
	r.HSSummaries = summarizeHS(t.Handshakes)
	r.Targets = append(r.Targets, r.tlsTargets()...)
}

const tlsNotRun = "no TLS cells in this run (-cells tls, or -full)"

// tlsTargets computes issue 15's targets.
func (r *report) tlsTargets() []target {
	var out []target
	echoGoal := func(c string) string {
		return fmt.Sprintf("TLS echo %s: %s CPU/req ÷ %s's ≤ %.2f", c, oursTLS, goTLS, tlsEchoLimit)
	}
	if len(r.TLSCells) == 0 {
		out = append(out, notMeasured(echoGoal("c50 p64 k16 and c50 p4096 k16"), tlsNotRun+"; -cells tls-echo"))
	}
	for _, c := range r.TLSCells {
		t := target{Goal: echoGoal(strings.TrimPrefix(c.String(), "tls ")), Unit: "×", AtMost: true, Limit: tlsEchoLimit,
			Value: figureOf(sortedValues(cpuRatios(r.TLSRaw, oursTLS, goTLS, c)))}
		if t.Value.Reps == 0 {
			t.Note = fmt.Sprintf("no repetition where %s and %s both ran", oursTLS, goTLS)
		} else if s := r.tlsNegotiated(c); s != "" {
			t.Note = s
		}
		t.judge()
		out = append(out, t)
	}

	idleGoal := func(k string) string {
		return fmt.Sprintf("TLS idle%s: %s RSS per idle connection ÷ %s's ≤ ⅓", k, oursTLS, goTLS)
	}
	var ks []int
	for _, x := range r.IdleRaw {
		if x.Mode == "tls" && !slices.Contains(ks, x.Inflight) {
			ks = append(ks, x.Inflight)
		}
	}
	if len(ks) == 0 {
		out = append(out, notMeasured(idleGoal(""), tlsNotRun+"; -cells tls-idle"))
	}
	for _, k := range ks {
		t := target{Goal: idleGoal(fmt.Sprintf(" k%d", k)), Unit: "×", AtMost: true, Limit: tlsIdleLimit,
			Value: figureOf(sortedValues(idleRSSRatios(r.IdleRaw, "tls", k, oursTLS, goTLS)))}
		a, b := figureOf(r.idleRSS(oursTLS, "tls", k)), figureOf(r.idleRSS(goTLS, "tls", k))
		if a.Reps > 0 && b.Reps > 0 {
			t.Note = fmt.Sprintf("%s %s, %s %s per connection", oursTLS, bytesKiB(a.Median), goTLS, bytesKiB(b.Median))
		} else {
			t.Note = fmt.Sprintf("no repetition where %s and %s both held the idle connections", oursTLS, goTLS)
		}
		t.judge()
		out = append(out, t)
	}

	hsGoal := fmt.Sprintf("TLS handshakes/s: %s ÷ %s's ≥ %.1f", oursHTTPS, netHTTPS, tlsHSLimit)
	if len(r.HSRaw) == 0 {
		out = append(out, notMeasured(hsGoal, tlsNotRun+"; -cells tls-handshake"))
	} else {
		rate := func(x hsResult) float64 { return x.PerSec }
		cpu := func(x hsResult) float64 { return x.CPUusHS }
		t := target{Goal: hsGoal, Unit: "×", Limit: tlsHSLimit,
			Value: figureOf(sortedValues(hsRatios(r.HSRaw, "https", oursHTTPS, netHTTPS, rate)))}
		if t.Value.Reps == 0 {
			t.Note = fmt.Sprintf("no repetition where %s and %s both ran", oursHTTPS, netHTTPS)
		} else {
			c := figureOf(sortedValues(hsRatios(r.HSRaw, "https", oursHTTPS, netHTTPS, cpu)))
			t.Note = fmt.Sprintf("server CPU per handshake ÷ %s's %.2f", netHTTPS, c.Median)
		}
		t.judge()
		out = append(out, t)
	}

	out = append(out, r.tlsRealTargets("tls-resp", tlsRespLimit,
		func(s realSummary) string { return fmt.Sprintf("TLS RESP %s -P %d", s.Test, s.Pipeline) })...)
	out = append(out, r.tlsRealTargets("tls-http", tlsHTTPLimit, func(s realSummary) string {
		if s.Pipeline > 1 {
			return fmt.Sprintf("HTTPS GET, %d pipelined", s.Pipeline)
		}
		return "HTTPS GET, plain"
	})...)
	return out
}

// tlsNegotiated says what the connections of a TLS echo cell negotiated,
// and flags a suite other than the one the cells are specified with.
func (r *report) tlsNegotiated(c cell) string {
	var seen []string
	for _, x := range r.TLSRaw {
		if x.Cell == c && x.TLS != "" && !slices.Contains(seen, x.TLS) {
			seen = append(seen, x.TLS)
		}
	}
	if len(seen) == 0 {
		return ""
	}
	s := "negotiated " + strings.Join(seen, "; ")
	for _, n := range seen {
		if !strings.Contains(n, " TLS_AES_128_GCM_SHA256") {
			s += " (not the TLS_AES_128_GCM_SHA256 the issue names)"
			break
		}
	}
	return s
}

// tlsRealTargets is one target per test of a real-client TLS suite, or one
// "not measured" line saying why the suite did not run.
func (r *report) tlsRealTargets(suite string, limit float64, name func(realSummary) string) []target {
	var out []target
	for _, s := range r.RealSummaries {
		if s.Suite != suite || s.Secondary {
			continue
		}
		t := target{Goal: fmt.Sprintf("%s: req/s ÷ %s's ≥ %.1f", name(s), s.RefName, limit), Unit: "×", Limit: limit}
		if s.Err == "" && s.Reps > 0 {
			t.Value = figure{Median: s.ReqRatio, Min: s.ReqRatioMin, Max: s.ReqRatioMax, Reps: s.Reps}
			if s.Reps < 2 || s.ReqRatioMax == 0 {
				t.Value.Min, t.Value.Max = s.ReqRatio, s.ReqRatio
			}
			t.Note = clientBoundNote(s)
		} else {
			t.Note = oneLine(s.Err)
		}
		t.judge()
		out = append(out, t)
	}
	if len(out) > 0 {
		return out
	}
	goal := fmt.Sprintf("TLS RESP: req/s ÷ %s's ≥ %.1f (SET, GET)", redisTLS, limit)
	if suite == "tls-http" {
		goal = fmt.Sprintf("HTTPS GET: req/s ÷ %s's ≥ %.1f, plain and pipelined", netHTTPS, limit)
	}
	why := tlsNotRun + "; -cells " + suite
	for _, x := range r.RealRaw {
		if x.Suite == suite && x.Skipped != "" {
			why = "skipped: " + oneLine(x.Skipped)
		}
	}
	return []target{notMeasured(goal, why)}
}

// tlsMarkdown renders the TLS echo and handshake tables.
func (r *report) tlsMarkdown(b *strings.Builder) {
	if len(r.TLSSummaries) > 0 {
		b.WriteString("\n### TLS echo\n\n")
		fmt.Fprintf(b, "%s is examples/echo with -tls-cert/-tls-key (epoll), %s Go net + crypto/tls with a goroutine per connection;\n", oursTLS, goTLS)
		b.WriteString("the load generator's connections are crypto/tls clients (TLS 1.3 only, full handshake, then the echo load).\n")
		b.WriteString("×CPU divides CPU µs/req by " + goTLS + "'s in the same cell: the target is ≤ 1.00.\n\n")
		b.WriteString("| cell | server | req/s | MB/s | p50 µs | p99 µs | CPU µs/req | ×CPU | peak RSS MiB | negotiated |\n")
		b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|---|\n")
		for _, s := range r.TLSSummaries {
			if s.Reps == 0 {
				fmt.Fprintf(b, "| %s | %s | failed: %s ||||||||\n", s.Cell, s.Server, oneLine(s.Err))
				continue
			}
			x := ""
			for _, ref := range r.TLSSummaries {
				if ref.Server == goTLS && ref.Cell == s.Cell && ref.Reps > 0 && ref.CPUusReq > 0 {
					x = fmt.Sprintf("%.2f", s.CPUusReq/ref.CPUusReq)
				}
			}
			neg := ""
			for _, raw := range r.TLSRaw {
				if raw.Server == s.Server && raw.Cell == s.Cell && raw.TLS != "" {
					neg = raw.TLS
				}
			}
			fmt.Fprintf(b, "| %s | %s | %.0f | %.1f | %.0f | %.0f | %.2f | %s | %.1f | %s |\n", s.Cell, s.Server,
				s.ReqPerSec, s.MBPerSec, s.P50us, s.P99us, s.CPUusReq, x, float64(s.PeakRSSkB)/1024, neg)
		}
	}
	if len(r.HSSummaries) > 0 {
		b.WriteString("\n### TLS handshakes\n\n")
		fmt.Fprintf(b, "%d client goroutines, each: connect, full TLS 1.3 handshake, one round trip, close. https: GET / with\n", hsWorkers)
		fmt.Fprintf(b, "Connection: close, %s against %s (the target, ×/s ≥ %.1f); echo: one line, %s against %s.\n",
			oursHTTPS, netHTTPS, tlsHSLimit, oursTLS, goTLS)
		b.WriteString("The client verifies the server's certificate on every handshake and often bounds the rate; ×CPU shows the server's cost.\n\n")
		b.WriteString("| pair | server | handshakes/s | CPU µs/handshake | ×/s | ×CPU | negotiated |\n")
		b.WriteString("|---|---|--:|--:|--:|--:|---|\n")
		for _, p := range hsPairs {
			for _, s := range r.HSSummaries {
				if s.Pair != p.name {
					continue
				}
				if s.Reps == 0 {
					fmt.Fprintf(b, "| %s | %s | failed: %s |||||\n", s.Pair, s.Server, oneLine(s.Err))
					continue
				}
				xr, xc := "", ""
				if s.Server == p.ours {
					rate := figureOf(sortedValues(hsRatios(r.HSRaw, p.name, p.ours, p.ref, func(x hsResult) float64 { return x.PerSec })))
					cpu := figureOf(sortedValues(hsRatios(r.HSRaw, p.name, p.ours, p.ref, func(x hsResult) float64 { return x.CPUusHS })))
					if rate.Reps > 0 {
						xr = ratioSpread(rate.Median, rate.Min, rate.Max, rate.Reps)
						xc = ratioSpread(cpu.Median, cpu.Min, cpu.Max, cpu.Reps)
					}
				}
				fmt.Fprintf(b, "| %s | %s | %.0f | %.1f | %s | %s | %s |\n", s.Pair, s.Server, s.PerSec, s.CPUusHS, xr, xc, s.TLS)
			}
		}
	}
}
