package main

import (
	"crypto/tls"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

type runOptions struct {
	duration, warmup time.Duration
	reps             int
	maxReqs          int64
	serverCPU        int         // -1: not pinned
	tls              *tls.Config // the TLS cells' client configuration; nil elsewhere
}

// result holds the raw figures of one server in one cell, one repetition.
type result struct {
	Server    string  `json:"server"`
	Cell      cell    `json:"cell"`
	Rep       int     `json:"rep"`
	Requests  int64   `json:"requests"`
	Seconds   float64 `json:"seconds"`
	ReqPerSec float64 `json:"req_per_sec"`
	MBPerSec  float64 `json:"mb_per_sec"` // payload bytes echoed per second, one direction, 10^6
	P50us     float64 `json:"p50_us"`
	P99us     float64 `json:"p99_us"`
	CPUTicks  int64   `json:"cpu_ticks"`
	CPUusReq  float64 `json:"cpu_us_per_req"` // server CPU, user+system
	PeakRSSkB int64   `json:"peak_rss_kb"`
	Starved   int     `json:"starved_conns"` // connections with no reply in the measured interval
	// TLS is what the TLS cells' connections negotiated (describeTLS).
	TLS string `json:"tls,omitempty"`
	Err string `json:"error,omitempty"`
}

// current is the server running now, stopped by the interrupt handler so
// that Ctrl-C leaves no server behind.
var current struct {
	sync.Mutex
	r *running
}

// run measures every server in every cell, reps times. Repetitions are the
// outer loop, so passes interleave and slow drift in the machine's speed
// spreads over all servers instead of falling on one.
func run(servers []*serverSpec, cells []cell, o runOptions) []result {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		current.Lock()
		if current.r != nil {
			current.r.stop()
		}
		fmt.Fprintln(os.Stderr, "\nbench: interrupted")
		os.Exit(130)
	}()

	hz := clockTicks()
	perCell := o.warmup + o.duration + 400*time.Millisecond // start, dial, stop
	total := o.reps * len(cells) * len(servers)
	start := time.Now()
	var results []result
	n := 0
	for rep := 1; rep <= o.reps; rep++ {
		for _, c := range cells {
			for _, s := range servers {
				n++
				left := time.Duration(total-n+1) * perCell
				if n > 1 {
					// Extrapolate from the cells run so far.
					left = time.Since(start) / time.Duration(n-1) * time.Duration(total-n+1)
				}
				fmt.Fprintf(os.Stderr, "\r\033[K[%d/%d] %-16s %-20s rep %d/%d  ~%s left",
					n, total, s.Name, c, rep, o.reps, left.Round(time.Second))
				r := runCell(s, c, rep, o, hz)
				if r.Err != "" {
					fmt.Fprintf(os.Stderr, "\r\033[K%s %s: %s\n", s.Name, c, r.Err)
					if strings.Contains(r.Err, "mismatch") {
						fatalf("a server returned wrong bytes; stopping")
					}
				}
				results = append(results, r)
			}
		}
	}
	fmt.Fprintf(os.Stderr, "\r\033[Kbench: %d cells in %s\n", total, time.Since(start).Round(time.Second))
	signal.Stop(sigs)
	return results
}

// runCell starts the server, runs the load through its warm-up and measured
// interval, reads the server's CPU time around the measured interval and its
// peak RSS at the end, and stops it.
func runCell(s *serverSpec, c cell, rep int, o runOptions, hz int64) result {
	res := result{Server: s.Name, Cell: c, Rep: rep}
	fail := func(err error) result { res.Err = err.Error(); return res }

	srv, err := startServer(s, c.Mode, o.serverCPU)
	if err != nil {
		return fail(err)
	}
	current.Lock()
	current.r = srv
	current.Unlock()
	defer func() {
		current.Lock()
		current.r = nil
		current.Unlock()
		srv.stop()
	}()

	m, err := measureLoad(srv.pid, loadSpec{Addr: srv.addr, Conns: c.Conns, Payload: c.Payload,
		Inflight: c.Inflight, MaxReqs: o.maxReqs, TLS: o.tls}, o, hz)
	if err != nil {
		return fail(err)
	}
	res.Requests, res.Seconds, res.CPUTicks = m.requests, m.seconds, m.cpuTicks
	res.Starved, res.PeakRSSkB = m.starved, m.peakRSSkB
	res.ReqPerSec = m.reqPerSec()
	res.MBPerSec = res.ReqPerSec * float64(c.Payload) / 1e6
	res.P50us, res.P99us = m.p50us, m.p99us
	res.CPUusReq = m.cpuUsPerReq(hz)
	res.TLS = m.negotiated
	return res
}

// measurement is what measureLoad observed of one load on one server.
type measurement struct {
	requests     int64
	seconds      float64
	cpuTicks     int64
	p50us, p99us float64
	starved      int
	peakRSSkB    int64  // VmHWM at the end of the measured interval
	rssKB        int64  // VmRSS at the same moment
	negotiated   string // the TLS parameters of the first connection, or ""
}

func (m measurement) reqPerSec() float64 { return float64(m.requests) / m.seconds }

func (m measurement) cpuUsPerReq(hz int64) float64 {
	if m.requests == 0 {
		return 0
	}
	return float64(m.cpuTicks) * 1e6 / float64(hz) / float64(m.requests)
}

// measureLoad runs one load against the server with PID pid through its
// warm-up and measured interval, reads the server's CPU time around the
// measured interval and its memory at the end, and stops the load.
func measureLoad(pid int, spec loadSpec, o runOptions, hz int64) (measurement, error) {
	var m measurement
	load, err := startLoad(spec)
	if err != nil {
		return m, err
	}
	warm := time.NewTimer(o.warmup)
	select {
	case <-warm.C:
	case <-load.maxed: // only an error can end the warm-up early
		return m, load.stop()
	}

	t0 := time.Now()
	cpu0, err := cpuTicks(pid)
	if err != nil {
		_ = load.stop()
		return m, err
	}
	load.phase.Store(phaseMeasure)
	timer := time.NewTimer(o.duration)
	select {
	case <-timer.C:
	case <-load.maxed:
	}
	load.phase.Store(phaseStop) // replies after this are not counted
	m.requests = load.count.Load()
	cpu1, cpuErr := cpuTicks(pid)
	m.seconds = time.Since(t0).Seconds()
	hwm, hwmErr := peakRSS(pid)
	rss, rssErr := residentKB(pid)
	if err := load.stop(); err != nil {
		return m, err
	}
	if err := firstErr(cpuErr, hwmErr, rssErr); err != nil {
		return m, err
	}
	h := load.latencies()
	m.starved = load.starved()
	m.p50us = float64(h.quantile(0.50)) / 1e3
	m.p99us = float64(h.quantile(0.99)) / 1e3
	m.cpuTicks = cpu1 - cpu0
	m.peakRSSkB, m.rssKB = hwm, rss
	m.negotiated = load.negotiated
	return m, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
