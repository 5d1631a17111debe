package main

import (
	"encoding/xml"
	"fmt"
	"math"
	"strings"
)

// A barChart is a grouped bar chart: one group of bars per cell along the
// x axis, one bar per series (server) in each group, in the series' colour.
// It renders to a self-contained SVG file that GitHub shows inline.
type barChart struct {
	Title    string
	Subtitle string
	YLabel   string
	Groups   []string // x axis, one label per group
	Series   []barSeries
	Log      bool    // logarithmic y axis, for values spanning decades
	Ref      float64 // a dashed horizontal line at this value, if > 0
	RefLabel string
	Labels   bool // print each bar's value above it
}

// barSeries is one legend entry: a value per group, NaN where it has none.
type barSeries struct {
	Name   string
	Values []float64
}

// The palette: distinguishable colours that read on light and dark
// backgrounds (Tableau 10).
var palette = []string{"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
	"#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"}

// Layout, in SVG user units (pixels).
const (
	chartLeft   = 78
	chartRight  = 24
	chartTop    = 64
	chartHeight = 300
	groupGap    = 18
	legendRow   = 20
)

// bars counts the bars the chart draws: its values that are numbers > 0 (or
// any number on a linear axis).
func (c *barChart) bars() int {
	n := 0
	for _, s := range c.Series {
		for _, v := range s.Values {
			if c.drawn(v) {
				n++
			}
		}
	}
	return n
}

func (c *barChart) drawn(v float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0) && v >= 0 && !(c.Log && v <= 0)
}

// svg renders the chart.
func (c *barChart) svg() []byte {
	ns := max(1, len(c.Series))
	barW := 12.0
	if ns <= 3 {
		barW = 26
	}
	groupW := float64(ns)*barW + groupGap
	// Wide enough for the bars, the title and the subtitle (about 9 and 6.5
	// units a character at 16 and 12 points).
	titleW := max(float64(len([]rune(c.Title)))*9, float64(len([]rune(c.Subtitle)))*6.5) + 20
	plotW := max(480, groupW*float64(len(c.Groups)), titleW-chartLeft-chartRight)
	width := chartLeft + plotW + chartRight
	// A legend entry is as wide as the longest name needs.
	itemW := 60.0
	for _, s := range c.Series {
		itemW = max(itemW, float64(len([]rune(s.Name)))*7+30)
	}

	// The x labels are rotated when they would not fit side by side.
	longest := 0
	for _, g := range c.Groups {
		longest = max(longest, len([]rune(g)))
	}
	rotate := float64(longest)*6.5 > groupW-4
	labelH := 22.0
	if rotate {
		labelH = float64(longest)*4.8 + 20
	}
	// The legend wraps into rows of as many entries as fit.
	perRow := max(1, int(plotW/itemW))
	legendH := float64((len(c.Series)+perRow-1)/perRow) * legendRow
	plotBottom := float64(chartTop + chartHeight)
	height := plotBottom + labelH + 26 + legendH + 10

	lo, hi := c.span()
	y := func(v float64) float64 {
		if c.Log {
			v = math.Log10(v)
		}
		return plotBottom - (v-lo)/(hi-lo)*chartHeight
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	text(&b, width/2, 24, "middle", 16, "bold", c.Title)
	if c.Subtitle != "" {
		text(&b, width/2, 44, "middle", 12, "normal", c.Subtitle)
	}

	// The y axis: grid lines and tick labels.
	for _, t := range c.ticks(lo, hi) {
		ty := y(t)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#dddddd"/>`+"\n", chartLeft, ty, chartLeft+plotW, ty)
		text(&b, chartLeft-6, ty+4, "end", 11, "normal", formatValue(t))
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%.1f" stroke="#333333"/>`+"\n", chartLeft, chartTop, chartLeft, plotBottom)
	fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333333"/>`+"\n", chartLeft, plotBottom, chartLeft+plotW, plotBottom)
	ylabel := c.YLabel
	if c.Log {
		ylabel += " (log scale)"
	}
	fmt.Fprintf(&b, `<text x="0" y="0" transform="translate(16 %.1f) rotate(-90)" text-anchor="middle" font-size="12">%s</text>`+"\n",
		float64(chartTop)+chartHeight/2, esc(ylabel))

	// The bars.
	for gi, g := range c.Groups {
		x0 := chartLeft + groupGap/2 + float64(gi)*groupW
		for si, s := range c.Series {
			if gi >= len(s.Values) || !c.drawn(s.Values[gi]) {
				continue
			}
			v := s.Values[gi]
			top := math.Max(float64(chartTop), math.Min(plotBottom, y(math.Max(v, c.floor()))))
			x := x0 + float64(si)*barW
			fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s, %s: %s</title></rect>`+"\n",
				x, top, barW-1, plotBottom-top, palette[si%len(palette)], esc(s.Name), esc(g), formatValue(v))
			if c.Labels {
				text(&b, x+(barW-1)/2, top-3, "middle", 10, "normal", formatValue(v))
			}
		}
		cx := x0 + float64(ns)*barW/2
		if rotate {
			fmt.Fprintf(&b, `<text x="0" y="0" transform="translate(%.1f %.1f) rotate(-40)" text-anchor="end" font-size="11">%s</text>`+"\n",
				cx+4, plotBottom+14, esc(g))
		} else {
			text(&b, cx, plotBottom+16, "middle", 11, "normal", g)
		}
	}

	if c.Ref > 0 && c.Ref >= c.value(lo) && c.Ref <= c.value(hi) {
		ry := y(c.Ref)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#000000" stroke-dasharray="6 4"/>`+"\n", chartLeft, ry, chartLeft+plotW, ry)
		if c.RefLabel != "" {
			text(&b, chartLeft+plotW-4, ry-5, "end", 11, "normal", c.RefLabel)
		}
	}

	// The legend.
	ly := plotBottom + labelH + 26
	for i, s := range c.Series {
		lx := chartLeft + float64(i%perRow)*itemW
		ry := ly + float64(i/perRow)*legendRow
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="12" height="12" fill="%s"/>`+"\n", lx, ry-10, palette[i%len(palette)])
		text(&b, lx+17, ry, "start", 12, "normal", s.Name)
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

// value maps an axis coordinate back to a data value.
func (c *barChart) value(a float64) float64 {
	if c.Log {
		return math.Pow(10, a)
	}
	return a
}

// floor is the smallest value a bar can show: the bottom of the axis.
func (c *barChart) floor() float64 {
	lo, _ := c.span()
	return c.value(lo)
}

// span returns the axis range, in log10 units on a log axis: from 0 (or the
// decade below the smallest value) to a round number above the largest.
func (c *barChart) span() (lo, hi float64) {
	vmin, vmax := math.Inf(1), 0.0
	for _, s := range c.Series {
		for _, v := range s.Values {
			if c.drawn(v) && v > 0 {
				vmin, vmax = math.Min(vmin, v), math.Max(vmax, v)
			}
		}
	}
	vmax = math.Max(vmax, c.Ref)
	if c.Log {
		if vmax == 0 {
			return 0, 1
		}
		lo, hi = math.Floor(math.Log10(vmin)), math.Ceil(math.Log10(vmax))
		if hi <= lo {
			hi = lo + 1
		}
		return lo, hi
	}
	if vmax == 0 {
		return 0, 1
	}
	step := niceStep(vmax / 5)
	return 0, math.Ceil(vmax*1.05/step) * step
}

// ticks returns the values to label on the y axis.
func (c *barChart) ticks(lo, hi float64) []float64 {
	var t []float64
	if c.Log {
		for e := lo; e <= hi+1e-9; e++ {
			t = append(t, math.Pow(10, e))
			if hi-lo <= 2 && e < hi {
				t = append(t, 2*math.Pow(10, e), 5*math.Pow(10, e))
			}
		}
		return t
	}
	step := niceStep((hi - lo) / 5)
	for v := lo; v <= hi+step/1e6; v += step {
		t = append(t, v)
	}
	return t
}

// niceStep rounds x up to 1, 2 or 5 times a power of ten.
func niceStep(x float64) float64 {
	if x <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

// formatValue prints a number compactly: 1.2M, 350k, 12.5, 0.83.
func formatValue(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return trimZero(fmt.Sprintf("%.2f", v/1e6)) + "M"
	case a >= 1e4:
		return trimZero(fmt.Sprintf("%.1f", v/1e3)) + "k"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return trimZero(fmt.Sprintf("%.1f", v))
	default:
		return trimZero(fmt.Sprintf("%.2f", v))
	}
}

func trimZero(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func text(b *strings.Builder, x, y float64, anchor string, size int, weight, s string) {
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="%s" font-size="%d" font-weight="%s">%s</text>`+"\n",
		x, y, anchor, size, weight, esc(s))
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
