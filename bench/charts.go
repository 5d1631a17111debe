package main

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
)

// charts returns the SVG charts of the report, by file name: one per matrix
// metric (grouped bars, a group per cell and a bar per server), the idle
// cell's ratios and memory, and the real-client ratios. Charts without data
// are left out.
func (r *report) charts() map[string][]byte {
	out := map[string][]byte{}
	add := func(name string, c *barChart) {
		if c.bars() > 0 {
			out[name] = c.svg()
		}
	}
	if len(r.Summaries) > 0 {
		var groups []string
		for _, c := range r.Cells {
			groups = append(groups, c.String())
		}
		metric := func(f func(s *summary) float64) []barSeries {
			var ss []barSeries
			for _, name := range r.Servers {
				v := make([]float64, len(r.Cells))
				for i, c := range r.Cells {
					v[i] = math.NaN()
					if s := r.find(name, c); s != nil {
						v[i] = f(s)
					}
				}
				ss = append(ss, barSeries{Name: name, Values: v})
			}
			return ss
		}
		sub := "c = connections, p = payload bytes, k = requests in flight per connection; medians of " +
			strconv.Itoa(r.Reps) + " repetition(s)"
		add("req-per-sec.svg", &barChart{Title: "Requests per second (higher is better)", Subtitle: sub,
			YLabel: "req/s", Groups: groups, Log: true,
			Series: metric(func(s *summary) float64 { return s.ReqPerSec })})
		add("cpu-per-req.svg", &barChart{Title: "Server CPU per request (lower is better)", Subtitle: sub,
			YLabel: "CPU µs/req (user+system)", Groups: groups,
			Series: metric(func(s *summary) float64 { return s.CPUusReq })})
		add("cpu-vs-c.svg", &barChart{Title: "Server CPU per request ÷ the C epoll reference's (lower is better)",
			Subtitle: sub, YLabel: "×C CPU", Groups: groups, Ref: 1, RefLabel: "C reference = 1",
			Series: metric(func(s *summary) float64 {
				ref := r.find("c-epoll", s.Cell)
				if ref == nil || ref.CPUusReq <= 0 || s.CPUusReq <= 0 {
					return math.NaN()
				}
				return s.CPUusReq / ref.CPUusReq
			})})
		add("p99.svg", &barChart{Title: "99th percentile latency (lower is better)", Subtitle: sub,
			YLabel: "p99 µs", Groups: groups, Log: true,
			Series: metric(func(s *summary) float64 { return s.P99us })})
	}

	if len(r.IdleSummaries) > 0 {
		var groups []string
		req, cpu, rss := barSeries{Name: "req/s with ÷ without"}, barSeries{Name: "CPU µs/req with ÷ without"},
			barSeries{Name: "RSS per idle connection"}
		for _, s := range r.IdleSummaries {
			g := s.Server
			if s.Mode != "echo" {
				g += " " + s.Mode
			}
			groups = append(groups, g+" k"+strconv.Itoa(s.Inflight))
			if s.Reps == 0 {
				req.Values = append(req.Values, math.NaN())
				cpu.Values = append(cpu.Values, math.NaN())
				rss.Values = append(rss.Values, math.NaN())
				continue
			}
			req.Values = append(req.Values, s.ReqRatio)
			cpu.Values = append(cpu.Values, s.CPURatio)
			rss.Values = append(rss.Values, s.RSSPerIdleB/1024)
		}
		idle := strconv.Itoa(r.IdleSummaries[0].Idle)
		add("idle.svg", &barChart{Title: "50 active connections, with " + idle + " idle ones ÷ without",
			Subtitle: "64 B requests; line = examples/echo -line; k = requests in flight per active connection; 1 = no cost, target 0.9–1.1",
			YLabel:   "ratio", Groups: groups, Ref: 1, RefLabel: "no cost = 1", Labels: true,
			Series: []barSeries{req, cpu}})
		add("idle-rss.svg", &barChart{Title: "Resident memory per idle connection (lower is better)",
			Subtitle: "(VmRSS with " + idle + " idle connections − VmRSS without) ÷ " + idle,
			YLabel:   "KiB per connection", Groups: groups, Ref: 2, RefLabel: "target 2 KiB", Labels: true,
			Series: []barSeries{rss}})
	}

	if len(r.RealSummaries) > 0 {
		var groups []string
		req, cpu := barSeries{Name: "req/s ours ÷ reference"}, barSeries{Name: "CPU µs/req ours ÷ reference"}
		for _, s := range r.RealSummaries {
			groups = append(groups, s.label())
			if s.Err != "" {
				req.Values = append(req.Values, math.NaN())
				cpu.Values = append(cpu.Values, math.NaN())
				continue
			}
			req.Values = append(req.Values, s.ReqRatio)
			cpu.Values = append(cpu.Values, s.CPURatio)
		}
		add("realclients.svg", &barChart{Title: "Real clients: our examples ÷ the reference servers",
			Subtitle: "resp vs redis-server (redis-benchmark -c 50), httpd vs net/http (wrk -t1 -c50); 1 = parity",
			YLabel:   "ratio", Groups: groups, Ref: 1, RefLabel: "parity = 1", Labels: true,
			Series: []barSeries{req, cpu}})
	}
	if c := r.tlsChart(); c != nil {
		add("tls.svg", c)
	}
	return out
}

// tlsChart draws the TLS echo cells' and the handshake cell's ratios, ours
// ÷ the Go reference: CPU per request or handshake, and req/s or
// handshakes/s. Nil without TLS echo or handshake figures.
func (r *report) tlsChart() *barChart {
	var groups []string
	cpu, rate := barSeries{Name: "CPU per request ours ÷ reference"}, barSeries{Name: "req/s ours ÷ reference"}
	for _, c := range r.TLSCells {
		groups = append(groups, c.String())
		cpu.Values = append(cpu.Values, medianOr(sortedValues(cpuRatios(r.TLSRaw, oursTLS, goTLS, c))))
		rate.Values = append(rate.Values, medianOr(sortedValues(ratios(r.TLSRaw, oursTLS, goTLS, c,
			func(x result) float64 { return x.ReqPerSec }))))
	}
	for _, p := range hsPairs {
		c := sortedValues(hsRatios(r.HSRaw, p.name, p.ours, p.ref, func(x hsResult) float64 { return x.CPUusHS }))
		h := sortedValues(hsRatios(r.HSRaw, p.name, p.ours, p.ref, func(x hsResult) float64 { return x.PerSec }))
		if len(c) == 0 && len(h) == 0 {
			continue
		}
		groups = append(groups, "handshakes "+p.name)
		cpu.Values = append(cpu.Values, medianOr(c))
		rate.Values = append(rate.Values, medianOr(h))
	}
	if len(groups) == 0 {
		return nil
	}
	return &barChart{Title: "TLS: asyncore ÷ Go crypto/tls (" + goTLS + ", " + netHTTPS + ")",
		Subtitle: "echo cells: CPU µs/req and req/s; handshakes: CPU µs and handshakes/s; 1 = parity",
		YLabel:   "ratio", Groups: groups, Ref: 1, RefLabel: "parity = 1", Labels: true,
		Series: []barSeries{cpu, rate}}
}

// medianOr is the median of v, or NaN (no bar) when v is empty.
func medianOr(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	return median(v)
}

// chartNames lists every chart the harness can write.
var chartNames = []string{"req-per-sec.svg", "cpu-per-req.svg", "cpu-vs-c.svg", "p99.svg",
	"idle.svg", "idle-rss.svg", "realclients.svg", "tls.svg"}

// writeCharts writes the charts into dir and removes those of an earlier run
// that this one did not draw.
func writeCharts(dir string, charts map[string][]byte) error {
	for _, name := range chartNames {
		if _, ok := charts[name]; !ok {
			_ = os.Remove(filepath.Join(dir, name))
		}
	}
	for name, b := range charts {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
