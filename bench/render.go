package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
)

// render rebuilds a report from its saved latest.json (path) and writes
// latest.md, latest.json and the charts to dir, as a run would. The
// measurements are kept as they are; what is derived from them — the
// targets, their verdicts and notes — is computed again, so a change to the
// report's wording or to a target's judgement can be applied to published
// results without measuring them again.
func render(path, dir string) error {
	js, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var r report
	if err := json.Unmarshal(js, &r); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	r.Targets = r.targets()
	if len(r.TLSCells) > 0 || len(r.HSRaw) > 0 || hasTLSRows(r.RealRaw) {
		r.Targets = append(r.Targets, r.tlsTargets()...)
	}
	charts := r.charts()
	r.Charts = r.Charts[:0]
	for name := range charts {
		r.Charts = append(r.Charts, name)
	}
	slices.Sort(r.Charts)
	md := r.markdown()
	if err := r.write(dir, md); err != nil {
		return err
	}
	if err := writeCharts(dir, charts); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: rendered %s into %s/latest.md, %s/latest.json and %d charts\n", path, dir, dir, len(charts))
	return nil
}

// hasTLSRows reports whether real-client results include a TLS suite.
func hasTLSRows(raw []realResult) bool {
	return slices.ContainsFunc(raw, func(x realResult) bool { return x.Suite == "tls-resp" || x.Suite == "tls-http" })
}
