package main

import (
	"fmt"
	"strings"
)

// A -compare build runs beside our row of the same backend (and loop
// count), in the same cells and repetitions. The comparison divides ours by
// it, per repetition: the median shows the change, the least and greatest
// repetition whether it stands out of the noise.

// comparison is our row against a -compare build in one cell, or (Cell nil)
// the geometric mean over the cells both ran, taken per repetition.
type comparison struct {
	Ours  string `json:"ours"`
	Other string `json:"other"`
	Cell  *cell  `json:"cell,omitempty"`
	Cells int    `json:"cells,omitempty"` // the geomean's cells
	// CPU is CPU µs/request ours ÷ theirs (below 1: ours is cheaper), Req
	// req/s ours ÷ theirs (above 1: ours serves more).
	CPU figure `json:"cpu_ratio"`
	Req figure `json:"req_ratio"`
}

// comparisons pairs every -compare server with its baseline and compares
// them cell by cell, then over all cells.
func comparisons(raw []result, servers []*serverSpec, cells []cell) []comparison {
	cpu := func(r result) float64 { return r.CPUusReq }
	req := func(r result) float64 { return r.ReqPerSec }
	var out []comparison
	for _, s := range servers {
		if s.baseline == "" {
			continue
		}
		ours := s.baseline
		if s.loops > 1 {
			ours = fmt.Sprintf("%s×%d", ours, s.loops)
		}
		var used []cell
		for _, c := range cells {
			x := comparison{Ours: ours, Other: s.Name, Cell: &c,
				CPU: figureOf(sortedValues(ratios(raw, ours, s.Name, c, cpu))),
				Req: figureOf(sortedValues(ratios(raw, ours, s.Name, c, req)))}
			if x.CPU.Reps == 0 && x.Req.Reps == 0 {
				continue
			}
			out = append(out, x)
			used = append(used, c)
		}
		if len(used) > 1 {
			pc, n := geomeanOf(raw, ours, s.Name, used, cpu)
			pr, _ := geomeanOf(raw, ours, s.Name, used, req)
			out = append(out, comparison{Ours: ours, Other: s.Name, Cells: n, CPU: figureOf(pc), Req: figureOf(pr)})
		}
	}
	return out
}

func ratioFigure(f figure) string {
	switch f.Reps {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf("%.2f", f.Median)
	}
	return fmt.Sprintf("%.2f (%.2f–%.2f)", f.Median, f.Min, f.Max)
}

// compareMarkdown renders the comparisons with the -compare builds.
func (r *report) compareMarkdown(b *strings.Builder) {
	if len(r.Comparisons) == 0 {
		return
	}
	b.WriteString("\n### Compared builds (-compare)\n\n")
	b.WriteString("Ours ÷ the saved build, per repetition: the median, and in brackets the least and greatest repetition.\n")
	b.WriteString("×CPU below 1 and ×req/s above 1 favour ours; a spread that holds 1 is within the noise of this run.\n\n")
	b.WriteString("| cell | ours | build | ×CPU µs/req | ×req/s |\n|---|---|---|--:|--:|\n")
	for _, c := range r.Comparisons {
		name := fmt.Sprintf("geomean of %s", cellCount(c.Cells))
		if c.Cell != nil {
			name = c.Cell.String()
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", name, c.Ours, c.Other, ratioFigure(c.CPU), ratioFigure(c.Req))
	}
}
