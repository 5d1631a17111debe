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

	IdleSummaries []idleSummary `json:"idle_summaries,omitempty"`
	IdleRaw       []idleResult  `json:"idle_raw,omitempty"`
	RealSummaries []realSummary `json:"real_client_summaries,omitempty"`
	RealRaw       []realResult  `json:"real_client_raw,omitempty"`
	Targets       []target      `json:"targets,omitempty"`
	Comparisons   []comparison  `json:"compare,omitempty"`
	Notes         []string      `json:"notes,omitempty"`

	TLSCells     []cell      `json:"tls_cells,omitempty"`
	TLSSummaries []summary   `json:"tls_summaries,omitempty"`
	TLSRaw       []result    `json:"tls_raw,omitempty"`
	HSSummaries  []hsSummary `json:"tls_handshake_summaries,omitempty"`
	HSRaw        []hsResult  `json:"tls_handshake_raw,omitempty"`
	Charts       []string    `json:"charts,omitempty"`
}

// geomeanCS is one server's geometric mean, over the cells both ran, of its
// CPU µs/request divided by the C reference's.
type geomeanCS struct {
	Server string  `json:"server"`
	Ratio  float64 `json:"ratio"`
	Cells  int     `json:"cells"`
}

func newReport(raw []result, servers []*serverSpec, cells []cell, d time.Duration, reps int, pinned bool, cpus int,
	idle []idleResult, real []realResult, notes []string) *report {
	host, _ := os.Hostname()
	r := &report{Time: time.Now().UTC(), Host: host, CPUs: cpus, Pinned: pinned,
		Duration: d.String(), Reps: reps, Cells: cells, Raw: raw,
		IdleRaw: idle, IdleSummaries: summarizeIdle(idle),
		RealRaw: real, RealSummaries: summarizeReal(real), Notes: notes}
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
	r.Targets = r.targets()
	r.Comparisons = comparisons(raw, servers, cells)
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
	for _, n := range r.Notes {
		b.WriteString(n + "\n")
	}
	b.WriteString("The asyncore-* rows run examples/echo on the named poller: its byte echo in echo cells, its -line AsyncChat in line cells.\n")
	b.WriteString("Cell: mode, c = connections, p = payload bytes, k = requests in flight per connection.\n")
	b.WriteString("CPU µs/req is the server's user+system time per request; ×C divides it by the C epoll reference's.\n")
	b.WriteString("×Py is how many times Python's asyncore each server is: in req/s, and in CPU per request (higher is better).\n\n")
	r.targetsMarkdown(&b)
	if len(r.Summaries) == 0 {
		b.WriteString("(no matrix cells in this run)\n")
	} else {
		r.matrixMarkdown(&b)
	}
	r.compareMarkdown(&b)
	r.idleMarkdown(&b)
	r.tlsMarkdown(&b)
	r.realMarkdown(&b)
	if len(r.Charts) > 0 {
		b.WriteString("\n### Charts\n\n")
		for _, c := range r.Charts {
			fmt.Fprintf(&b, "![%s](%s)\n\n", strings.TrimSuffix(c, ".svg"), c)
		}
	}
	return b.String()
}

func (r *report) matrixMarkdown(b *strings.Builder) {
	b.WriteString("| cell | server | req/s | ±% | MB/s | p50 µs | p99 µs | CPU µs/req | ×C CPU | ×Py req/s | ×Py CPU | peak RSS MiB |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, s := range r.Summaries {
		if s.Reps == 0 {
			fmt.Fprintf(b, "| %s | %s | failed: %s |||||||||||\n", s.Cell, s.Server, oneLine(s.Err))
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
		fmt.Fprintf(b, "| %s | %s | %.0f | %s | %.1f | %.0f | %.0f | %.2f | %s | %s | %s | %.1f |\n",
			s.Cell, name, s.ReqPerSec, spread, s.MBPerSec, s.P50us, s.P99us,
			s.CPUusReq, xc, pyReq, pyCPU, float64(s.PeakRSSkB)/1024)
	}
	if len(r.Geomeans) > 0 {
		b.WriteString("\nGeometric mean over the cells of CPU µs/request ÷ the C reference's:")
		for _, g := range r.Geomeans {
			fmt.Fprintf(b, " %s %.2f;", g.Server, g.Ratio)
		}
		b.WriteString("\n")
	}
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

// idleSummary is the median of one server's idle-cell repetitions.
type idleSummary struct {
	Server        string  `json:"server"`
	Mode          string  `json:"mode"`
	Inflight      int     `json:"inflight"`
	Reps          int     `json:"reps"`
	Idle          int     `json:"idle_conns"`
	BaseReqPerSec float64 `json:"base_req_per_sec"`
	IdleReqPerSec float64 `json:"idle_req_per_sec"`
	ReqRatio      float64 `json:"req_ratio"` // median of with ÷ without, per repetition
	BaseCPUusReq  float64 `json:"base_cpu_us_per_req"`
	IdleCPUusReq  float64 `json:"idle_cpu_us_per_req"`
	CPURatio      float64 `json:"cpu_ratio"`
	BaseP99us     float64 `json:"base_p99_us"`
	IdleP99us     float64 `json:"idle_p99_us"`
	RSSPerIdleB   float64 `json:"rss_bytes_per_idle_conn"`
	RSSPerIdleMin float64 `json:"rss_bytes_per_idle_conn_min"` // over the repetitions
	RSSPerIdleMax float64 `json:"rss_bytes_per_idle_conn_max"`
	Skipped       string  `json:"skipped,omitempty"`
	Err           string  `json:"error,omitempty"`
}

// realSummary compares our example with one reference in one real-client
// test, from the medians of the repetitions. The spread is that of the
// ratios of each repetition, in which the servers ran one after the other.
type realSummary struct {
	Suite       string  `json:"suite"`
	Test        string  `json:"test"`
	Pipeline    int     `json:"pipeline"`
	OursReqPS   float64 `json:"ours_req_per_sec"`
	RefReqPS    float64 `json:"ref_req_per_sec"`
	ReqRatio    float64 `json:"req_ratio"` // ours ÷ reference
	ReqRatioMin float64 `json:"req_ratio_min"`
	ReqRatioMax float64 `json:"req_ratio_max"`
	OursCPUus   float64 `json:"ours_cpu_us_per_req"`
	RefCPUus    float64 `json:"ref_cpu_us_per_req"`
	CPURatio    float64 `json:"cpu_ratio"` // ours ÷ reference; lower is cheaper
	CPURatioMin float64 `json:"cpu_ratio_min"`
	CPURatioMax float64 `json:"cpu_ratio_max"`
	// Busy: median CPU over wall time of each process (1.0 = one core).
	OursServerBusy float64 `json:"ours_server_busy,omitempty"`
	OursClientBusy float64 `json:"ours_client_busy,omitempty"`
	RefServerBusy  float64 `json:"ref_server_busy,omitempty"`
	RefClientBusy  float64 `json:"ref_client_busy,omitempty"`
	Reps           int     `json:"reps"`
	Err            string  `json:"error,omitempty"`
	OursName       string  `json:"ours"`
	RefName        string  `json:"reference"`
	// Secondary: a further reference, shown beside the one the target is
	// set against (the first).
	Secondary bool `json:"secondary_reference,omitempty"`
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func summarizeIdle(raw []idleResult) []idleSummary {
	type key struct {
		server, mode string
		k            int
	}
	var order []key
	groups := map[key][]idleResult{}
	for _, r := range raw {
		mode := r.Mode
		if mode == "" {
			mode = "echo" // results from before the idle cell had modes
		}
		k := key{r.Server, mode, r.Inflight}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	var out []idleSummary
	for _, k := range order {
		rs := groups[k]
		s := idleSummary{Server: k.server, Mode: k.mode, Inflight: k.k, Idle: rs[0].Idle}
		var f [9][]float64
		for _, r := range rs {
			switch {
			case r.Skipped != "":
				s.Skipped = r.Skipped
				continue
			case r.Err != "":
				s.Err = r.Err
				continue
			}
			s.Reps++
			for i, v := range []float64{r.BaseReqPerSec, r.IdleReqPerSec, r.reqRatio(), r.BaseCPUusReq,
				r.IdleCPUusReq, r.cpuRatio(), r.BaseP99us, r.IdleP99us, r.RSSPerIdleB} {
				f[i] = append(f[i], v)
			}
		}
		if s.Reps > 0 {
			s.Err = ""
			s.BaseReqPerSec, s.IdleReqPerSec, s.ReqRatio = median(f[0]), median(f[1]), median(f[2])
			s.BaseCPUusReq, s.IdleCPUusReq, s.CPURatio = median(f[3]), median(f[4]), median(f[5])
			s.BaseP99us, s.IdleP99us, s.RSSPerIdleB = median(f[6]), median(f[7]), median(f[8])
			s.RSSPerIdleMin, s.RSSPerIdleMax = slices.Min(f[8]), slices.Max(f[8])
		}
		out = append(out, s)
	}
	return out
}

func summarizeReal(raw []realResult) []realSummary {
	type key struct {
		suite, test string
		p           int
	}
	var order []key
	// group is one test's runs: the servers in the order they ran (ours
	// first), and each one's figures by repetition.
	type group struct {
		names    []string
		req, cpu map[string]map[int]float64
		srvBusy  map[string]map[int]float64
		cliBusy  map[string]map[int]float64
		errs     map[string]string
	}
	groups := map[key]*group{}
	for _, r := range raw {
		if r.Skipped != "" {
			continue // a suite that could not run: no figures to compare
		}
		k := key{r.Suite, r.Test, r.Pipeline}
		g := groups[k]
		if g == nil {
			g = &group{req: map[string]map[int]float64{}, cpu: map[string]map[int]float64{},
				srvBusy: map[string]map[int]float64{}, cliBusy: map[string]map[int]float64{}, errs: map[string]string{}}
			groups[k] = g
			order = append(order, k)
		}
		if !slices.Contains(g.names, r.Server) {
			g.names = append(g.names, r.Server)
			g.req[r.Server], g.cpu[r.Server] = map[int]float64{}, map[int]float64{}
			g.srvBusy[r.Server], g.cliBusy[r.Server] = map[int]float64{}, map[int]float64{}
		}
		if r.Err != "" {
			g.errs[r.Server] = r.Err
			continue
		}
		g.req[r.Server][r.Rep] = r.ReqPerSec
		g.cpu[r.Server][r.Rep] = r.CPUusReq
		g.srvBusy[r.Server][r.Rep] = r.ServerBusy
		g.cliBusy[r.Server][r.Rep] = r.ClientBusy
	}
	values := func(m map[int]float64) []float64 {
		var v []float64
		for _, x := range m {
			v = append(v, x)
		}
		return v
	}
	// spread returns the least and greatest ratio ours ÷ ref over the
	// repetitions both ran; 0, 0 if there is none (JSON has no NaN).
	spread := func(ours, ref map[int]float64) (lo, hi float64) {
		defer func() {
			if math.IsNaN(lo) {
				lo, hi = 0, 0
			}
		}()
		lo, hi = math.NaN(), math.NaN()
		for rep, o := range ours {
			r, ok := ref[rep]
			if !ok || r == 0 {
				continue
			}
			x := o / r
			if math.IsNaN(lo) || x < lo {
				lo = x
			}
			if math.IsNaN(hi) || x > hi {
				hi = x
			}
		}
		return lo, hi
	}
	var out []realSummary
	for _, k := range order {
		g := groups[k]
		if len(g.names) < 2 {
			continue
		}
		ours := g.names[0]
		for i, ref := range g.names[1:] {
			s := realSummary{Suite: k.suite, Test: k.test, Pipeline: k.p, OursName: ours, RefName: ref, Secondary: i > 0}
			s.Reps = min(len(g.req[ours]), len(g.req[ref]))
			for _, n := range []string{ours, ref} {
				if len(g.req[n]) == 0 {
					s.Err = fmt.Sprintf("%s: %s", n, g.errs[n])
				}
			}
			s.OursReqPS, s.RefReqPS = median(values(g.req[ours])), median(values(g.req[ref]))
			s.OursCPUus, s.RefCPUus = median(values(g.cpu[ours])), median(values(g.cpu[ref]))
			s.ReqRatio, s.CPURatio = ratio(s.OursReqPS, s.RefReqPS), ratio(s.OursCPUus, s.RefCPUus)
			s.OursServerBusy, s.OursClientBusy = median(values(g.srvBusy[ours])), median(values(g.cliBusy[ours]))
			s.RefServerBusy, s.RefClientBusy = median(values(g.srvBusy[ref])), median(values(g.cliBusy[ref]))
			s.ReqRatioMin, s.ReqRatioMax = spread(g.req[ours], g.req[ref])
			s.CPURatioMin, s.CPURatioMax = spread(g.cpu[ours], g.cpu[ref])
			out = append(out, s)
		}
	}
	return out
}

// realLabel names a real-client test for tables and charts; a comparison
// with a secondary reference names that reference.
func (s realSummary) label() string {
	var l string
	http := "HTTP"
	if s.Suite == "tls-http" {
		http = "HTTPS"
	}
	switch {
	case http == "HTTPS" || s.Suite == "http":
		l = http + " GET"
		if s.Pipeline > 1 {
			l += fmt.Sprintf(", %d pipelined", s.Pipeline)
		}
	case s.Suite == "tls-resp":
		l = fmt.Sprintf("TLS %s -P %d", s.Test, s.Pipeline)
	default:
		l = fmt.Sprintf("%s -P %d", s.Test, s.Pipeline)
	}
	if s.Secondary {
		l += " vs " + s.RefName
	}
	return l
}

// ratioSpread renders a median ratio with the spread of the repetitions'.
func ratioSpread(med, lo, hi float64, reps int) string {
	if reps < 2 || math.IsNaN(lo) || math.IsNaN(hi) || hi == 0 {
		return fmt.Sprintf("%.2f", med)
	}
	return fmt.Sprintf("%.2f (%.2f–%.2f)", med, lo, hi)
}

// idleMarkdown renders the idle cell's table.
func (r *report) idleMarkdown(b *strings.Builder) {
	if len(r.IdleSummaries) == 0 {
		return
	}
	idle := r.IdleSummaries[0].Idle
	fmt.Fprintf(b, "\n### Idle connections: %d idle + %d active (64 B requests)\n\n", idle, idleActive)
	b.WriteString("Each server serves the 50 active connections alone, then with the idle ones open too (same process).\n")
	b.WriteString("×req/s and ×CPU divide the run with idle connections by the run without: the target is ≥ 0.90 and ≤ 1.10.\n")
	fmt.Fprintf(b, "RSS/idle conn = (VmRSS with − VmRSS without) / %d; the target is ≤ 2 KiB.\n\n", idle)
	b.WriteString("The asyncore rows run examples/echo twice: its byte echo (echo) and its -line AsyncChat (line); the others their byte echo.\n")
	b.WriteString("Mode tls (the TLS cells): " + oursTLS + " and " + goTLS + " over TLS 1.3, each idle connection left after its handshake and one round trip;\n")
	b.WriteString("the TLS target is " + oursTLS + "'s RSS per idle connection ≤ ⅓ of " + goTLS + "'s.\n\n")
	b.WriteString("| server | mode | k | req/s without | req/s with | ×req/s | CPU µs/req without | with | ×CPU | p99 µs without | with | RSS/idle conn |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, s := range r.IdleSummaries {
		switch {
		case s.Skipped != "":
			fmt.Fprintf(b, "| %s | %s | %d | skipped: %s |||||||||\n", s.Server, s.Mode, s.Inflight, oneLine(s.Skipped))
		case s.Reps == 0:
			fmt.Fprintf(b, "| %s | %s | %d | failed: %s |||||||||\n", s.Server, s.Mode, s.Inflight, oneLine(s.Err))
		default:
			rss := bytesKiB(s.RSSPerIdleB)
			if s.Reps > 1 {
				rss += " (" + bytesKiB(s.RSSPerIdleMin) + "–" + bytesKiB(s.RSSPerIdleMax) + ")"
			}
			fmt.Fprintf(b, "| %s | %s | %d | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %.0f | %.0f | %s |\n",
				s.Server, s.Mode, s.Inflight, s.BaseReqPerSec, s.IdleReqPerSec, s.ReqRatio,
				s.BaseCPUusReq, s.IdleCPUusReq, s.CPURatio, s.BaseP99us, s.IdleP99us, rss)
		}
	}
}

func bytesKiB(v float64) string {
	if math.Abs(v) < 1024 {
		return fmt.Sprintf("%.0f B", v)
	}
	return fmt.Sprintf("%.1f KiB", v/1024)
}

// realMarkdown renders the real-client cells' table.
func (r *report) realMarkdown(b *strings.Builder) {
	if len(r.RealSummaries) == 0 && !slices.ContainsFunc(r.RealRaw, func(x realResult) bool { return x.Skipped != "" }) {
		return
	}
	b.WriteString("\n### Real clients\n\n")
	b.WriteString("examples/resp against redis-server (redis-benchmark -c 50, one test per run), and examples/httpd against Go's net/http\n")
	b.WriteString("(wrk -t1 -c50; pipelined with examples/httpd/pipeline.lua): net-http writes the file from memory (the reference), net-http-fileserver is\n")
	b.WriteString("http.FileServer reading the disk each request. req/s is the client's figure; ×req/s and ×CPU divide ours by the reference's:\n")
	b.WriteString("the median, and in brackets the least and greatest of the repetitions' ratios (each repetition runs the servers one after the other).\n")
	b.WriteString("The HTTP target is ×req/s ≥ 2.5 against net-http, plain and pipelined.\n")
	b.WriteString("TLS rows (the TLS cells): examples/resp -tls-cert/-tls-key against redis-server --tls-port under redis-benchmark --tls\n")
	b.WriteString("(TLS 1.3, --tls-ciphersuites TLS_AES_128_GCM_SHA256; target ×req/s ≥ 1.0), and examples/httpd -tls-cert/-tls-key against\n")
	b.WriteString("net/http with TLS (the in-memory handler) under wrk on https (target ×req/s ≥ 1.5).\n")
	b.WriteString("busy % is the CPU time over wall time of the server / the client during each run, each pinned to its own core:\n")
	b.WriteString("a client near 100 % bounds req/s whatever the server costs, and then ×CPU is the comparison that still says something.\n")
	if c := r.find("c-epoll", cell{Mode: "echo", Conns: 50, Payload: 64, Inflight: 1}); c != nil {
		fmt.Fprintf(b, "For scale: the C epoll echo server, one read and one write per request over 50 connections (matrix cell echo c50 p64 k1),\n"+
			"costs %.2f µs of server CPU per request in this run; an HTTP server answering each request with one read and one write\n"+
			"pays at least that much kernel time, which bounds its ×CPU against net-http from below.\n", c.CPUusReq)
	}
	b.WriteString("\n")
	b.WriteString("| test | ours | req/s | CPU µs/req | busy % srv/cli | reference | req/s | CPU µs/req | busy % srv/cli | ×req/s | ×CPU |\n")
	b.WriteString("|---|---|--:|--:|--:|---|--:|--:|--:|--:|--:|\n")
	for _, x := range r.RealRaw {
		if x.Skipped != "" {
			fmt.Fprintf(b, "| %s | skipped: %s ||||||||||\n", x.Suite, oneLine(x.Skipped))
		}
	}
	for _, s := range r.RealSummaries {
		if s.Err != "" {
			fmt.Fprintf(b, "| %s | %s | failed: %s |||| %s ||||||\n", s.label(), s.OursName, oneLine(s.Err), s.RefName)
			continue
		}
		fmt.Fprintf(b, "| %s | %s | %.0f | %.2f | %s | %s | %.0f | %.2f | %s | %s | %s |\n", s.label(),
			s.OursName, s.OursReqPS, s.OursCPUus, busy(s.OursServerBusy, s.OursClientBusy),
			s.RefName, s.RefReqPS, s.RefCPUus, busy(s.RefServerBusy, s.RefClientBusy),
			ratioSpread(s.ReqRatio, s.ReqRatioMin, s.ReqRatioMax, s.Reps),
			ratioSpread(s.CPURatio, s.CPURatioMin, s.CPURatioMax, s.Reps))
	}
}

// busy renders a server's and a client's CPU use as percentages of a core;
// results from before it was measured show a dash.
func busy(server, client float64) string {
	if server == 0 && client == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f / %.0f", server*100, client*100)
}
