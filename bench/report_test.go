package main

import (
	"math"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestSummarizeRealReferences: each reference of a suite gets its own
// summary, the first one primary, with the medians and the spread of the
// per-repetition ratios.
func TestSummarizeRealReferences(t *testing.T) {
	var raw []realResult
	for rep, v := range [][3]float64{{300, 100, 30}, {200, 100, 20}, {240, 80, 40}} {
		for i, name := range []string{"ours", "mem", "fs"} {
			raw = append(raw, realResult{Suite: "http", Server: name, Test: "GET /", Pipeline: 1, Rep: rep + 1,
				ReqPerSec: v[i], CPUusReq: 1000 / v[i]})
		}
	}
	sums := summarizeReal(raw)
	if len(sums) != 2 {
		t.Fatalf("%d summaries, want 2 (one per reference): %+v", len(sums), sums)
	}
	mem, fs := sums[0], sums[1]
	if mem.RefName != "mem" || mem.Secondary || fs.RefName != "fs" || !fs.Secondary {
		t.Fatalf("references: %+v", sums)
	}
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-9 }
	// Ratios by repetition against mem: 3, 2, 3; the median of ours is
	// 240 and of mem 100.
	if !near(mem.ReqRatio, 2.4) || !near(mem.ReqRatioMin, 2) || !near(mem.ReqRatioMax, 3) || mem.Reps != 3 {
		t.Errorf("against mem: %+v", mem)
	}
	// Against fs: 10, 10, 6.
	if !near(fs.ReqRatioMin, 6) || !near(fs.ReqRatioMax, 10) {
		t.Errorf("against fs: %+v", fs)
	}
	if fs.label() != "HTTP GET vs fs" || mem.label() != "HTTP GET" {
		t.Errorf("labels %q, %q", mem.label(), fs.label())
	}
}

// TestSummarizeRealFailedReference: a reference that failed every run
// leaves ours without a ratio; the report must still be written (JSON has
// no NaN).
func TestSummarizeRealFailedReference(t *testing.T) {
	raw := []realResult{
		{Suite: "resp", Server: "ours", Test: "SET", Pipeline: 1, Rep: 1, ReqPerSec: 100, CPUusReq: 10},
		{Suite: "resp", Server: "redis", Test: "SET", Pipeline: 1, Rep: 1, Err: "exited"},
	}
	r := &report{RealRaw: raw, RealSummaries: summarizeReal(raw)}
	r.Targets = r.realTargets()
	if len(r.RealSummaries) != 1 || r.RealSummaries[0].Err == "" {
		t.Fatalf("%+v", r.RealSummaries)
	}
	if err := r.write(t.TempDir(), ""); err != nil {
		t.Errorf("latest.json: %v", err)
	}
}

// TestSummarizeRealBusy: the report shows how busy the server and the
// client were (the median over repetitions), so a run bound by its client
// reads as such.
func TestSummarizeRealBusy(t *testing.T) {
	var raw []realResult
	for rep, b := range [][2]float64{{0.90, 0.99}, {0.80, 0.97}, {0.95, 0.98}} {
		raw = append(raw,
			realResult{Suite: "http", Server: "ours", Test: "GET /", Pipeline: 1, Rep: rep + 1,
				ReqPerSec: 100, CPUusReq: 10, ServerBusy: b[0], ClientBusy: b[1]},
			realResult{Suite: "http", Server: "ref", Test: "GET /", Pipeline: 1, Rep: rep + 1,
				ReqPerSec: 50, CPUusReq: 20, ServerBusy: 1, ClientBusy: 0.5})
	}
	r := &report{RealRaw: raw, RealSummaries: summarizeReal(raw)}
	var b strings.Builder
	r.realMarkdown(&b)
	if !strings.Contains(b.String(), "| 90 / 98 |") || !strings.Contains(b.String(), "| 100 / 50 |") {
		t.Errorf("busy columns missing or wrong:\n%s", b.String())
	}
	if strings.Contains(b.String(), "For scale") {
		t.Errorf("a scale line without the C echo cell:\n%s", b.String())
	}
	r.Summaries = []summary{{Server: "c-epoll", Cell: cell{Mode: "echo", Conns: 50, Payload: 64, Inflight: 1}, CPUusReq: 11.5, Reps: 1}}
	b.Reset()
	r.realMarkdown(&b)
	if !strings.Contains(b.String(), "costs 11.50 µs of server CPU per request") {
		t.Errorf("no scale line from the C echo cell:\n%s", b.String())
	}
}

// TestChildrenCPU: a child that spins for a while adds its CPU time to
// childrenCPU once it has been waited for.
func TestChildrenCPU(t *testing.T) {
	before := childrenCPU()
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done")
	if err := cmd.Run(); err != nil {
		t.Skip("sh:", err)
	}
	used := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	got := childrenCPU() - before
	if used <= 0 || got < used-10*time.Millisecond {
		t.Errorf("childrenCPU grew by %v, the child used %v", got, used)
	}
}
