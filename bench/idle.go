package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// The idle cell asks what a crowd of idle connections costs the active ones.
// Against one server process it measures 50 active echo connections alone,
// then opens N idle connections (10,000 by default) that send nothing, waits
// until the server holds every one of them (its /proc/PID/fd count), and
// measures the same 50 again. It reports the two runs' req/s and CPU µs/req
// and their ratios, and the server's resident memory per idle connection:
// (VmRSS with the idle connections − VmRSS before them) / N, both read at
// the end of a measured interval, with the 50 active connections open. At
// the end every idle connection must still echo a short line.

// idleActive is the number of active connections in the idle cell.
const idleActive = 50

// idleResult is one server's idle cell, one repetition.
type idleResult struct {
	Server   string `json:"server"`
	Mode     string `json:"mode"` // "echo", or "line" for a server that has it
	Inflight int    `json:"inflight"`
	Rep      int    `json:"rep"`
	Idle     int    `json:"idle_conns"`
	Active   int    `json:"active_conns"`

	BaseReqPerSec float64 `json:"base_req_per_sec"` // without the idle connections
	IdleReqPerSec float64 `json:"idle_req_per_sec"` // with them
	BaseCPUusReq  float64 `json:"base_cpu_us_per_req"`
	IdleCPUusReq  float64 `json:"idle_cpu_us_per_req"`
	BaseP99us     float64 `json:"base_p99_us"`
	IdleP99us     float64 `json:"idle_p99_us"`
	RSSBeforekB   int64   `json:"rss_before_kb"`
	RSSWithkB     int64   `json:"rss_with_idle_kb"`
	RSSPerIdleB   float64 `json:"rss_bytes_per_idle_conn"`

	Skipped string `json:"skipped,omitempty"`
	Err     string `json:"error,omitempty"`
}

// reqRatio is req/s with the idle connections over req/s without: 1 is no
// cost, 0.9 is 10% fewer requests served.
func (r idleResult) reqRatio() float64 { return ratio(r.IdleReqPerSec, r.BaseReqPerSec) }

// cpuRatio is CPU µs/req with the idle connections over without: 1.1 is 10%
// more CPU per request.
func (r idleResult) cpuRatio() float64 { return ratio(r.IdleCPUusReq, r.BaseCPUusReq) }

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// idleSkip says why a server cannot take part in the idle cell, or "".
func idleSkip(s *serverSpec, n int) string {
	if s.backend == "select" && n+idleActive >= 1024 {
		return "select(2) cannot watch descriptors ≥ FD_SETSIZE (1024)"
	}
	return ""
}

// idleModes returns the modes s runs in the idle cell: examples/echo's
// byte echo and -line server both, the others their byte echo.
func idleModes(s *serverSpec) []string {
	if len(s.idleModes) == 0 {
		return []string{"echo"}
	}
	return s.idleModes
}

// forIdle returns s with its idle arguments (-maxconns -1) added.
func forIdle(s *serverSpec) *serverSpec {
	if len(s.idleArgs) == 0 {
		return s
	}
	c := *s
	c.args = func(port int, mode string) []string {
		return append(s.args(port, mode), s.idleArgs...)
	}
	return &c
}

// runIdle runs the idle cell for every server and each of its modes, reps
// times, repetitions outermost.
func runIdle(servers []*serverSpec, inflights []int, idle int, o runOptions) []idleResult {
	hz := clockTicks()
	var out []idleResult
	perRep := 0
	for _, s := range servers {
		perRep += len(idleModes(s))
	}
	total := o.reps * len(inflights) * perRep
	n := 0
	start := time.Now()
	for rep := 1; rep <= o.reps; rep++ {
		for _, k := range inflights {
			for _, s := range servers {
				for _, mode := range idleModes(s) {
					n++
					r := idleResult{Server: s.Name, Mode: mode, Inflight: k, Rep: rep, Idle: idle, Active: idleActive}
					if why := idleSkip(s, idle); why != "" {
						r.Skipped = why
						out = append(out, r)
						continue
					}
					fmt.Fprintf(os.Stderr, "\r\033[K[idle %d/%d] %-16s %s, %d idle + %d active, k%d, rep %d/%d",
						n, total, s.Name, mode, idle, idleActive, k, rep, o.reps)
					if err := idleCell(forIdle(s), &r, o, hz); err != nil {
						r.Err = err.Error()
						fmt.Fprintf(os.Stderr, "\r\033[K%s %s idle k%d: %s\n", s.Name, mode, k, r.Err)
					}
					out = append(out, r)
				}
			}
		}
	}
	fmt.Fprintf(os.Stderr, "\r\033[Kbench: %d idle cells in %s\n", total, time.Since(start).Round(time.Second))
	return out
}

func idleCell(s *serverSpec, r *idleResult, o runOptions, hz int64) error {
	srv, err := startServer(s, r.Mode, o.serverCPU)
	if err != nil {
		return err
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

	spec := loadSpec{Addr: srv.addr, Conns: idleActive, Payload: 64, Inflight: r.Inflight, MaxReqs: o.maxReqs, TLS: o.tls}
	base, err := measureLoad(srv.pid, spec, o, hz)
	if err != nil {
		return fmt.Errorf("without idle connections: %w", err)
	}
	if base.starved > 0 {
		return fmt.Errorf("without idle connections: %d active connections starved", base.starved)
	}
	fds0, err := openFDs(srv.pid)
	if err != nil {
		return err
	}

	conns, err := dialIdle(srv.addr, r.Idle, o.tls)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	if err != nil {
		return err
	}
	// The active connections of the first run are closed; those of the
	// second are not open yet. Every idle one must be a descriptor of the
	// server before the second run starts.
	// A server that accepts slowly (Python's asyncore polls every
	// descriptor once per accept) gets the time it needs as long as it keeps
	// accepting.
	want := fds0 - idleActive + r.Idle
	last, progress := 0, time.Now()
	for {
		fds, err := openFDs(srv.pid)
		if err != nil {
			return err
		}
		if fds >= want {
			break
		}
		if fds > last {
			last, progress = fds, time.Now()
		}
		if time.Since(progress) > 15*time.Second {
			return fmt.Errorf("the server holds %d descriptors and has accepted none for 15s, want at least %d", fds, want)
		}
		time.Sleep(50 * time.Millisecond)
	}

	with, err := measureLoad(srv.pid, spec, o, hz)
	if err != nil {
		return fmt.Errorf("with idle connections: %w", err)
	}
	if with.starved > 0 {
		return fmt.Errorf("with idle connections: %d active connections starved", with.starved)
	}
	if err := pingIdle(conns); err != nil {
		return err
	}

	r.BaseReqPerSec, r.IdleReqPerSec = base.reqPerSec(), with.reqPerSec()
	r.BaseCPUusReq, r.IdleCPUusReq = base.cpuUsPerReq(hz), with.cpuUsPerReq(hz)
	r.BaseP99us, r.IdleP99us = base.p99us, with.p99us
	r.RSSBeforekB, r.RSSWithkB = base.rssKB, with.rssKB
	r.RSSPerIdleB = float64(with.rssKB-base.rssKB) * 1024 / float64(r.Idle)
	return nil
}

// dialIdle opens n connections to addr from a few dialers at once. With a
// TLS configuration each one completes its handshake and one round trip
// (pingIdle's line) before it is left idle: what a TLS server holds for a
// connection that has spoken and gone quiet.
func dialIdle(addr string, n int, cfg *tls.Config) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs error
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, err := net.DialTimeout("tcp", addr, 10*time.Second)
				if err == nil && cfg != nil {
					if c, err = handshake(c, cfg); err == nil {
						if err = pingOne(c); err != nil {
							_ = c.Close()
						}
					}
				}
				if err != nil {
					mu.Lock()
					errs = errors.Join(errs, fmt.Errorf("idle dial %d of %d: %w", i+1, n, err))
					mu.Unlock()
					next.Store(int64(n)) // stop the other dialers
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	var ok []net.Conn
	for _, c := range conns {
		if c != nil {
			ok = append(ok, c)
		}
	}
	return ok, errs
}

// pingIdle sends a short line on every idle connection and checks that the
// same line comes back: the server still serves all of them.
func pingIdle(conns []net.Conn) error {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		bad  atomic.Int64
		mu   sync.Mutex
		last error
	)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(conns) {
					return
				}
				if err := pingOne(conns[i]); err != nil {
					bad.Add(1)
					mu.Lock()
					last = err
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if n := bad.Load(); n > 0 {
		return fmt.Errorf("%d of %d idle connections did not echo afterwards (last: %v)", n, len(conns), last)
	}
	return nil
}

// idlePing is the line pingOne sends.
const idlePing = "idle?\n"

// pingOne sends idlePing on c and checks that it comes back within 10 s.
func pingOne(c net.Conn) error {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	defer func() { _ = c.SetDeadline(time.Time{}) }()
	buf := make([]byte, len(idlePing))
	_, err := io.WriteString(c, idlePing)
	if err == nil {
		_, err = io.ReadFull(c, buf)
	}
	if err == nil && string(buf) != idlePing {
		err = fmt.Errorf("echoed %q", buf)
	}
	return err
}
