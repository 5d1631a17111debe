package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"testing"
)

// decodeBars checks that doc is well-formed XML with an <svg> root and
// returns how many <rect class="bar"> elements it holds.
func decodeBars(t *testing.T, doc []byte) int {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	bars, depth := 0, 0
	root := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not valid XML: %v\n%s", err, doc)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				root = e.Name.Local
			}
			depth++
			if e.Name.Local == "rect" {
				for _, a := range e.Attr {
					if a.Name.Local == "class" && a.Value == "bar" {
						bars++
					}
				}
			}
		case xml.EndElement:
			depth--
		}
	}
	if root != "svg" || depth != 0 {
		t.Fatalf("root element %q, unbalanced depth %d", root, depth)
	}
	return bars
}

func TestBarChartSVG(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name  string
		chart barChart
		bars  int
	}{
		{"linear with a gap", barChart{
			Title: "CPU µs/req <lower is better> & more", YLabel: "µs",
			Groups: []string{"echo c1 p64 k1", "echo c50 p64 k16", "line c50 p64 k16"},
			Series: []barSeries{
				{Name: "asyncore-epoll", Values: []float64{5.1, 0.8, 0.75}},
				{Name: "c-epoll", Values: []float64{4.2, nan, 0.51}},
			},
			Ref: 1, RefLabel: "C reference",
		}, 5},
		{"log scale drops zeros", barChart{
			Title: "req/s", YLabel: "req/s", Log: true, Labels: true,
			Groups: []string{"a", "b"},
			Series: []barSeries{
				{Name: "x", Values: []float64{1500, 0}},
				{Name: "y", Values: []float64{2e6, 35}},
				{Name: "z", Values: []float64{nan, math.Inf(1)}},
			},
		}, 3},
		{"many series, long labels", barChart{
			Title: "p99", YLabel: "µs",
			Groups: []string{"a very long cell label number one", "another very long cell label"},
			Series: func() []barSeries {
				var s []barSeries
				for i := range 12 {
					s = append(s, barSeries{Name: string(rune('a' + i)), Values: []float64{float64(i), float64(2 * i)}})
				}
				return s
			}(),
		}, 24},
		{"empty", barChart{Title: "nothing"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.chart.bars(); got != tc.bars {
				t.Errorf("bars() = %d, want %d", got, tc.bars)
			}
			if got := decodeBars(t, tc.chart.svg()); got != tc.bars {
				t.Errorf("the SVG has %d bars, want %d", got, tc.bars)
			}
		})
	}
}

func TestNiceStep(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{{0.3, 0.5}, {1, 1}, {1.1, 2}, {4, 5}, {7, 10}, {230, 500}} {
		if got := niceStep(c.in); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("niceStep(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestParseClients(t *testing.T) {
	out := "SET: rps=0.0 (overall: 0.0) avg_msec=-nan (overall: -nan)\r   \rSET: 73260.07 requests per second, p50=0.335 msec\n\n"
	if r, err := parseRedisBenchmark(out, "SET"); err != nil || r != 73260.07 {
		t.Errorf("SET: %v, %v", r, err)
	}
	mset := "\rMSET (10 keys): 51020.41 requests per second, p50=0.559 msec\n"
	if r, err := parseRedisBenchmark(mset, "MSET"); err != nil || r != 51020.41 {
		t.Errorf("MSET: %v, %v", r, err)
	}
	if _, err := parseRedisBenchmark("Error: Connection reset by peer\n", "SET"); err == nil {
		t.Error("an error line was not a failure")
	}
	wrk := `Running 2s test @ http://127.0.0.1:1/
  1 threads and 50 connections
  120000 requests in 2.00s, 30.00MB read
Requests/sec:  60000.00
Transfer/sec:     15.00MB
`
	if n, r, err := parseWrk(wrk); err != nil || n != 120000 || r != 60000 {
		t.Errorf("wrk: %d, %v, %v", n, r, err)
	}
	bad := "  120000 requests in 2.00s, 30.00MB read\n  Non-2xx or 3xx responses: 12\nRequests/sec:  60000.00\n"
	if _, _, err := parseWrk(bad); err == nil {
		t.Error("non-2xx replies were not a failure")
	}
	sock := "  1 requests in 2.00s\n  Socket errors: connect 0, read 3, write 0, timeout 0\nRequests/sec: 1\n"
	if _, _, err := parseWrk(sock); err == nil {
		t.Error("socket errors were not a failure")
	}
}
