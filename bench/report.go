package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// summary is the median of one server's repetitions in one cell.
type summary struct {
	Server    string  `json:"server"`
	Cell      cell    `json:"cell"`
	Reps      int     `json:"reps"`
	ReqPerSec float64 `json:"req_per_sec"`
	Spread    float64 `json:"spread"` // (max-min)/median of req/s over the repetitions
	MBPerSec  float64 `json:"mb_per_sec"`
	P50us     float64 `json:"p50_us"`
	P99us     float64 `json:"p99_us"`
	CPUusReq  float64 `json:"cpu_us_per_req"`
	PeakRSSkB int64   `json:"peak_rss_kb"`   // the largest over the repetitions
	Starved   int     `json:"starved_conns"` // the most over the repetitions
	Err       string  `json:"error,omitempty"`
}

type report struct {
	Time      time.Time   `json:"time"`
	Host      string      `json:"host"`
	CPUs      int         `json:"cpus"`
	Pinned    bool        `json:"pinned"`
	Duration  string      `json:"duration_per_cell"`
	Reps      int         `json:"reps"`
	Servers   []string    `json:"servers"`
	Cells     []cell      `json:"cells"`
	Summaries []summary   `json:"summaries"`
	Raw       []result    `json:"raw"`
	Geomeans  []geomeanCS `json:"cpu_geomean_vs_c,omitempty"`
}

// geomeanCS is one server's geometric mean, over the cells both ran, of its
// CPU µs/request divided by the C reference's.
type geomeanCS struct {
	Server string  `json:"server"`
	Ratio  float64 `json:"ratio"`
	Cells  int     `json:"cells"`
}

func newReport(raw []result, servers []*serverSpec, cells []cell, d time.Duration, reps int, pinned bool, cpus int) *report {
	host, _ := os.Hostname()
	r := &report{Time: time.Now().UTC(), Host: host, CPUs: cpus, Pinned: pinned,
		Duration: d.String(), Reps: reps, Cells: cells, Raw: raw}
	for _, s := range servers {
		r.Servers = append(r.Servers, s.Name)
	}
	for _, c := range cells {
		for _, s := range r.Servers {
			var rs []result
			for _, x := range raw {
				if x.Server == s && x.Cell == c {
					rs = append(rs, x)
				}
			}
			r.Summaries = append(r.Summaries, summarize(s, c, rs))
		}
	}
	for _, s := range r.Servers {
		prod, n := 0.0, 0
		for _, c := range cells {
			x, ref := r.find(s, c), r.find("c-epoll", c)
			if x != nil && ref != nil && x.CPUusReq > 0 && ref.CPUusReq > 0 {
				prod += math.Log(x.CPUusReq / ref.CPUusReq)
				n++
			}
		}
		if n > 0 {
			r.Geomeans = append(r.Geomeans, geomeanCS{Server: s, Ratio: math.Exp(prod / float64(n)), Cells: n})
		}
	}
	return r
}

func summarize(server string, c cell, rs []result) summary {
	s := summary{Server: server, Cell: c}
	var ok []result
	for _, r := range rs {
		if r.Err != "" {
			s.Err = r.Err
			continue
		}
		ok = append(ok, r)
	}
	s.Reps = len(ok)
	if len(ok) == 0 {
		return s
	}
	s.Err = ""
	med := func(f func(result) float64) float64 {
		v := make([]float64, len(ok))
		for i, r := range ok {
			v[i] = f(r)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	s.ReqPerSec = med(func(r result) float64 { return r.ReqPerSec })
	s.MBPerSec = med(func(r result) float64 { return r.MBPerSec })
	s.P50us = med(func(r result) float64 { return r.P50us })
	s.P99us = med(func(r result) float64 { return r.P99us })
	s.CPUusReq = med(func(r result) float64 { return r.CPUusReq })
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range ok {
		lo, hi = min(lo, r.ReqPerSec), max(hi, r.ReqPerSec)
		s.PeakRSSkB = max(s.PeakRSSkB, r.PeakRSSkB)
		s.Starved = max(s.Starved, r.Starved)
	}
	if s.ReqPerSec > 0 {
		s.Spread = (hi - lo) / s.ReqPerSec
	}
	return s
}

func (r *report) find(server string, c cell) *summary {
	for i := range r.Summaries {
		s := &r.Summaries[i]
		if s.Server == server && s.Cell == c && s.Err == "" && s.Reps > 0 {
			return s
		}
	}
	return nil
}

// markdown renders one table: a row per server per cell, with the ratio of
// CPU µs/request to the C reference and how many times Python's asyncore
// each server is, in req/s and in CPU per request.
func (r *report) markdown() string {
	var b strings.Builder
	pin := "server on CPU 0, load generator on CPU 1"
	if !r.Pinned {
		pin = "not pinned"
	}
	fmt.Fprintf(&b, "## asyncore-go benchmark, %s\n\n", r.Time.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "%d CPUs, %s; %s measured per cell after warm-up, %d repetition(s), medians shown.\n",
		r.CPUs, pin, r.Duration, r.Reps)
	b.WriteString("Cell: mode, c = connections, p = payload bytes, k = requests in flight per connection.\n")
	b.WriteString("CPU µs/req is the server's user+system time per request; ×C divides it by the C epoll reference's.\n")
	b.WriteString("×Py is how many times Python's asyncore each server is: in req/s, and in CPU per request (higher is better).\n\n")
	b.WriteString("| cell | server | req/s | ±% | MB/s | p50 µs | p99 µs | CPU µs/req | ×C CPU | ×Py req/s | ×Py CPU | peak RSS MiB |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, s := range r.Summaries {
		if s.Reps == 0 {
			fmt.Fprintf(&b, "| %s | %s | failed: %s |||||||||||\n", s.Cell, s.Server, oneLine(s.Err))
			continue
		}
		ref, py := r.find("c-epoll", s.Cell), r.find("python-asyncore", s.Cell)
		xc, pyReq, pyCPU := "", "", ""
		if ref != nil && ref.CPUusReq > 0 {
			xc = fmt.Sprintf("%.2f", s.CPUusReq/ref.CPUusReq)
		}
		if py != nil && py.ReqPerSec > 0 && s.CPUusReq > 0 {
			pyReq = fmt.Sprintf("%.1f", s.ReqPerSec/py.ReqPerSec)
			pyCPU = fmt.Sprintf("%.1f", py.CPUusReq/s.CPUusReq)
		}
		name := s.Server
		if s.Starved > 0 {
			name += fmt.Sprintf(" (%d conns starved)", s.Starved)
		}
		spread := "–" // one repetition has no spread
		if s.Reps > 1 {
			spread = fmt.Sprintf("%.0f", s.Spread*100)
		}
		fmt.Fprintf(&b, "| %s | %s | %.0f | %s | %.1f | %.0f | %.0f | %.2f | %s | %s | %s | %.1f |\n",
			s.Cell, name, s.ReqPerSec, spread, s.MBPerSec, s.P50us, s.P99us,
			s.CPUusReq, xc, pyReq, pyCPU, float64(s.PeakRSSkB)/1024)
	}
	if len(r.Geomeans) > 0 {
		b.WriteString("\nGeometric mean over the cells of CPU µs/request ÷ the C reference's:")
		for _, g := range r.Geomeans {
			fmt.Fprintf(&b, " %s %.2f;", g.Server, g.Ratio)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// write stores the table as latest.md and every figure as latest.json.
func (r *report) write(dir, md string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "latest.md"), []byte(md), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "latest.json"), append(js, '\n'), 0o644)
}
