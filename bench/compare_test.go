package main

import (
	"strings"
	"testing"
)

// TestComparisons: a -compare build is compared with our row of its backend
// and loop count, per cell and over the cells, per repetition.
func TestComparisons(t *testing.T) {
	cells := []cell{{"echo", 1, 64, 1}, {"line", 50, 64, 16}}
	raw := matrixRaw(cells, map[string][][]float64{
		// ours ÷ old CPU: cell 0: 0.9, 1.1, 1.0; cell 1: 1.1, 0.9, 1.0
		"asyncore-poll": {{9, 11, 10}, {11, 9, 10}},
		"old-poll":      {{10, 10, 10}, {10, 10, 10}},
		// the epoll row must not be the baseline
		"asyncore-epoll": {{1, 1, 1}, {1, 1, 1}},
	})
	old := (compareSpec{Name: "old-poll", Path: "/x", Backend: "poll"}).spec()
	cs := comparisons(raw, []*serverSpec{echoSpec("asyncore-poll", nil, "poll"), old}, cells)
	if len(cs) != 3 {
		t.Fatalf("%d comparisons, want 2 cells and a geomean: %+v", len(cs), cs)
	}
	c0, geo := cs[0], cs[2]
	if c0.Ours != "asyncore-poll" || c0.Other != "old-poll" || *c0.Cell != cells[0] ||
		!near(c0.CPU.Median, 1) || !near(c0.CPU.Min, 0.9) || !near(c0.CPU.Max, 1.1) || !near(c0.Req.Median, 1) {
		t.Errorf("cell 0: %+v", c0)
	}
	// Per repetition sqrt(0.9×1.1) twice and 1 once.
	if geo.Cell != nil || geo.Cells != 2 || !near(geo.CPU.Max, 1) || geo.CPU.Reps != 3 {
		t.Errorf("geomean: %+v", geo)
	}
	var b strings.Builder
	(&report{Comparisons: cs}).compareMarkdown(&b)
	if !strings.Contains(b.String(), "| echo c1 p64 k1 | asyncore-poll | old-poll | 1.00 (0.90–1.10) |") ||
		!strings.Contains(b.String(), "| geomean of 2 cells |") {
		t.Errorf("markdown:\n%s", b.String())
	}

	// With loops, the ×N build is compared with our ×N row.
	raw = matrixRaw(cells[:1], map[string][][]float64{"asyncore-poll×2": {{5}}, "old-poll×2": {{10}}})
	cs = comparisons(raw, []*serverSpec{old.withLoops(2)}, cells[:1])
	if len(cs) != 1 || cs[0].Ours != "asyncore-poll×2" || !near(cs[0].CPU.Median, 0.5) {
		t.Errorf("loops: %+v", cs)
	}
}
