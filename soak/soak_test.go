//go:build soak

package soak

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	durationFlag = flag.Duration("soak.duration", 10*time.Minute, "how long the clients run (SOAK_DURATION when not given)")
	workersFlag  = flag.Int("soak.workers", 32, "concurrent clients per server (the chatroom gets a quarter)")
	seedFlag     = flag.Uint64("soak.seed", 0, "random seed; 0 picks one")
)

// Bounds on memory. The heap bound is the budget
// docs/failure-modes.md#test-harness-notes sets for any test (512 MiB) less a
// margin; an example's resident set must stay far below it, since each client's
// payload is at most a few MiB.
const (
	maxHeap     = 480 << 20 // HeapInuse, garbage included
	maxLive     = 256 << 20 // the heap live after a collection
	memoryLimit = 320 << 20 // debug.SetMemoryLimit for the run
	maxHeapGain = 64 << 20  // heap in use after the run, over the baseline
	maxRSS      = 256 << 20
	sampleEvery = 2 * time.Second
	checkEvery  = 5 // stats are checked every checkEvery samples
	settle      = 20 * time.Second
)

// soakDuration is -soak.duration if given, else SOAK_DURATION, else the
// flag's default.
func soakDuration(t *testing.T) time.Duration {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "soak.duration" })
	if s := os.Getenv("SOAK_DURATION"); s != "" && !given {
		d, err := time.ParseDuration(s)
		require.NoError(t, err, "SOAK_DURATION")
		return d
	}
	return *durationFlag
}

func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("the soak runs for minutes")
	}
	dur := soakDuration(t)
	if dl, ok := t.Deadline(); ok && time.Until(dl) < dur+3*time.Minute {
		t.Fatalf("go test -timeout leaves %v; the soak needs its duration (%v) plus 3 minutes", time.Until(dl).Round(time.Second), dur)
	}
	workers := max(1, *workersFlag)
	seed := *seedFlag
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("soak: duration %v, %d clients per server, seed %d (-soak.seed to repeat)", dur, workers, seed)

	bin := buildExamples(t)
	root := t.TempDir()
	files := httpFiles{}
	rng := rand.New(rand.NewPCG(seed, 0))
	// In name order, the biggest last: the reset client downloads it.
	names := []string{"index.html", "medium.bin", "small.txt", "z-big.bin"}
	for i, size := range []int{2 << 10, 64 << 10, 100, 3 << 20} {
		files[names[i]] = randBytes(rng, size)
		require.NoError(t, os.WriteFile(filepath.Join(root, names[i]), files[names[i]], 0o644))
	}

	// Baselines, after the Go runtime has opened its own netpoller.
	testutil.WarmUp(t)
	runtime.GC()
	baseFDs, baseGoroutines := testutil.OpenFDs(), runtime.NumGoroutine()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapInuse

	// A soft memory limit makes the collector work harder before the
	// clients' own garbage (payloads of up to a few MiB each) pushes the
	// heap toward the budget; what is live is measured separately.
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(memoryLimit))

	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	r := &run{t: t, ctx: ctx, seed: seed}

	// Part 1: the library's servers in this process.
	lines := &lineServer{}
	lineSrv, err := startInproc(r, "line", func(m *loop.Map) (net.Addr, error) {
		lines.Init(lines, m)
		lines.Logger = quiet
		err := lines.ListenTCP("127.0.0.1:0")
		return lines.Addr(), err
	})
	require.NoError(t, err)
	bytesSrv := &byteServer{}
	byteSrv, err := startInproc(r, "bytes", func(m *loop.Map) (net.Addr, error) {
		bytesSrv.Init(bytesSrv, m)
		bytesSrv.Logger = quiet
		err := bytesSrv.ListenTCP("127.0.0.1:0")
		return bytesSrv.Addr(), err
	})
	require.NoError(t, err)
	inprocs := []*inproc{lineSrv, byteSrv}
	for _, p := range inprocs {
		t.Cleanup(func() { _ = p.stop() }) // after a failed set-up
	}

	// Part 2: the examples.
	procs := map[string]*proc{}
	for _, e := range examples {
		args := []string{"-addr", "127.0.0.1:0"}
		if e == "httpd" {
			args = append(args, "-root", root, "-stats")
		}
		p, err := startProc(t, e, filepath.Join(bin, e), args...)
		require.NoError(t, err)
		t.Cleanup(p.kill)
		n, err := p.fds()
		require.NoError(t, err)
		p.baseFDs, p.baseList = n, p.fdList()
		p.baseKinds, err = p.fdKinds()
		require.NoError(t, err)
		procs[e] = p
	}

	start := time.Now()
	var pools sync.WaitGroup
	pool := func(target string, n int, sc []scenario) {
		pools.Add(1)
		go func() {
			defer pools.Done()
			r.pool(target, n, sc)
		}()
	}
	pool("line", workers, lineScenarios(r, lineSrv.addr))
	pool("bytes", workers, byteScenarios(r, "bytes", byteSrv.addr))
	pool("echo", workers, byteScenarios(r, "echo", procs["echo"].addr))
	pool("resp", workers, respScenarios(r, procs["resp"].addr))
	pool("httpd", workers, httpdScenarios(r, procs["httpd"].addr, files, names))
	pool("chatroom", max(1, workers/4), chatScenarios(r, procs["chatroom"].addr))

	// The monitor samples memory and checks the servers while the clients
	// run.
	var heap, live series
	liveSample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var checker inprocChecker
	clientsDone := make(chan struct{})
	monitorDone := make(chan struct{})
	go func() {
		defer close(monitorDone)
		defer func() {
			if v := recover(); v != nil {
				r.fail("monitor panicked: %v", v)
			}
		}()
		tick := time.NewTicker(sampleEvery)
		defer tick.Stop()
		for n := 1; ; n++ {
			select {
			case <-clientsDone:
				return
			case <-tick.C:
			}
			at := time.Since(start)
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heap.add(at, ms.HeapInuse)
			metrics.Read(liveSample)
			if liveSample[0].Value.Kind() == metrics.KindUint64 {
				live.add(at, liveSample[0].Value.Uint64())
			}
			for _, e := range examples {
				p := procs[e]
				if err := p.alive(); err != nil {
					r.fail("%v", err)
					continue
				}
				if rss, err := p.vmRSS(); err == nil {
					p.rss.add(at, rss)
				}
			}
			if n%checkEvery == 0 {
				monitorCheck(r, inprocs, &checker, procs, workers)
			}
		}
	}()

	pools.Wait()
	close(clientsDone)
	<-monitorDone
	elapsed := time.Since(start)
	t.Logf("clients stopped after %v", elapsed.Round(time.Second))

	// After the clients: every server back to no connections, and the
	// counters agree with what the clients did.
	for _, p := range inprocs {
		finalInproc(r, p, lines, bytesSrv)
	}
	final := finalExamples(r, procs)

	for _, e := range examples {
		p := procs[e]
		assert.Less(t, p.rss.max(), uint64(maxRSS), "%s: peak VmRSS", e)
		assert.NoError(t, p.terminate(), "%s: SIGTERM", e)
	}
	for _, p := range inprocs {
		assert.NoError(t, p.stop(), "%s: stop", p.name)
	}

	// The test process: heap bounded, descriptors and goroutines back.
	runtime.GC()
	runtime.ReadMemStats(&ms)
	endHeap := ms.HeapInuse
	assert.Less(t, heap.max(), uint64(maxHeap), "peak HeapInuse")
	assert.Less(t, live.max(), uint64(maxLive), "peak live heap")
	assert.LessOrEqual(t, endHeap, baseHeap+maxHeapGain, "HeapInuse after the run, over the baseline %d", baseHeap)
	var endFDs, endGoroutines int
	err = eventually(settle, func() error {
		endFDs, endGoroutines = testutil.OpenFDs(), runtime.NumGoroutine()
		if endFDs != baseFDs || endGoroutines > baseGoroutines {
			return fmt.Errorf("descriptors %d (baseline %d), goroutines %d (baseline %d)", endFDs, baseFDs, endGoroutines, baseGoroutines)
		}
		return nil
	})
	if err != nil {
		buf := make([]byte, 1<<20)
		t.Errorf("the test process did not return to its baseline: %v\n%s", err, buf[:runtime.Stack(buf, true)])
	}

	// The summary.
	t.Logf("soak summary: ran %v with %d clients per server, seed %d", elapsed.Round(time.Second), workers, seed)
	t.Logf("connections per kind of client:%s", r.conns.String())
	t.Logf("connections made, stats connections included:%s", r.dials.String())
	t.Logf("honest bytes sent:%s", r.sent.String())
	t.Logf("honest bytes returned and checked:%s", r.good.String())
	t.Logf("refusals and closes confirmed by the clients:%s", r.seen.String())
	t.Logf("the longest connection of each kind, ms:%s", r.slow.String())
	t.Logf("test process: live heap%s", live.String())
	t.Logf("test process: HeapInuse%s; after the run %.1f MiB (baseline %.1f)", heap.String(), float64(endHeap)/(1<<20), float64(baseHeap)/(1<<20))
	t.Logf("test process: descriptors %d (baseline %d), goroutines %d (baseline %d)", endFDs, baseFDs, endGoroutines, baseGoroutines)
	for _, p := range inprocs {
		t.Logf("%s server stats: %+v", p.name, p.last)
	}
	t.Logf("line server handlers: %d PANIC lines, %d recovered panics handled, %d lines too long, %d other errors",
		lines.panics.Load(), lines.caught.Load(), lines.tooLong.Load(), lines.other.Load())
	for _, e := range examples {
		p := procs[e]
		t.Logf("%s: VmRSS%s", e, p.rss.String())
		extra := ""
		if final[e].rtPoller {
			extra = ", 2 of them the Go runtime's netpoller, opened during the run"
		}
		t.Logf("%s: descriptors %d at the end (baseline %d%s); stats: %s", e, final[e].fds, p.baseFDs, extra, final[e].stats)
	}
	t.Logf("failures: %d", r.errs.Load())
}

// monitorCheck holds the servers' counters to the invariants that hold at
// any moment of the run.
func monitorCheck(r *run, inprocs []*inproc, k *inprocChecker, procs map[string]*proc, workers int) {
	for _, p := range inprocs {
		k.check(r, p, workers)
	}
	if info, err := respInfo(r, procs["resp"].addr); err != nil {
		r.fail("resp INFO: %v", err)
	} else {
		if n := infoInt(info, "panics_recovered"); n != 0 {
			r.fail("resp: panics_recovered %d", n)
		}
		if n := infoInt(info, "connected_clients"); n < 1 || n > int64(4*workers) {
			r.fail("resp: connected_clients %d with %d clients", n, workers)
		}
		if infoInt(info, "rejected_connections") != 0 || infoInt(info, "shed_connections") != 0 {
			r.fail("resp: connections refused: %v rejected, %v shed", info["rejected_connections"], info["shed_connections"])
		}
	}
	if st, err := httpdStats(r, procs["httpd"].addr); err != nil {
		r.fail("httpd /_stats: %v", err)
	} else if st.Panics != 0 || st.Conns < 1 || st.Conns > 4*workers || st.Rejected != 0 || st.Shed != 0 {
		r.fail("httpd /_stats: %+v", st)
	}
}

// finalInproc waits for an in-process server to have accepted every
// connection the clients made and closed them all, then checks its counters.
func finalInproc(r *run, p *inproc, lines *lineServer, bytesSrv *byteServer) {
	t := r.t
	var st serverStats
	dials := r.dials.get(p.name)
	err := eventually(settle, func() error {
		var err error
		if st, err = p.stats(); err != nil {
			return err
		}
		if st.Conns != 0 || st.Accepted != uint64(dials) || st.InBuffered != 0 || st.OutBuffered != 0 {
			return fmt.Errorf("%d connections open, %d accepted of %d made, %d bytes buffered in, %d out",
				st.Conns, st.Accepted, dials, st.InBuffered, st.OutBuffered)
		}
		return nil
	})
	p.last = st
	assert.NoError(t, err, "%s: after the clients stopped", p.name)
	assert.Equal(t, 1, st.Channels, "%s: only the listener is left", p.name)
	assert.Zero(t, st.Rejected+st.Shed+st.Timeouts, "%s: rejected, shed or timed out", p.name)
	assert.GreaterOrEqual(t, st.BytesIn, uint64(r.sent.get(p.name)), "%s: BytesIn against the honest bytes sent", p.name)
	assert.GreaterOrEqual(t, st.BytesOut, uint64(r.good.get(p.name)), "%s: BytesOut against the honest bytes echoed", p.name)
	assert.LessOrEqual(t, st.BytesOut, st.BytesIn, "%s: an echo writes no more than it reads", p.name)
	switch p.name {
	case "line":
		assert.Positive(t, st.Panics, "line: some PANIC lines reached the server")
		assert.Equal(t, uint64(lines.panics.Load()), st.Panics, "line: Stats.Panics against PANIC lines handled")
		assert.Equal(t, lines.caught.Load(), lines.panics.Load(), "line: PanicErrors handled against PANIC lines")
		assert.Equal(t, r.seen.get("line/panic"), lines.panics.Load(), "line: PANIC lines the clients saw closed")
		assert.Equal(t, uint64(lines.tooLong.Load()), st.LimitCloses, "line: Stats.LimitCloses against ErrLineTooLong")
		assert.Equal(t, r.seen.get("line/toolong"), lines.tooLong.Load(), "line: long lines the clients saw closed")
		assert.Zero(t, lines.other.Load(), "line: other errors (last: %v)", lines.lastErr.Load())
	case "bytes":
		assert.Zero(t, st.Panics, "bytes: panics")
		assert.Zero(t, st.LimitCloses, "bytes: limit closes")
		assert.Zero(t, bytesSrv.other.Load(), "bytes: errors (last: %v)", bytesSrv.lastErr.Load())
	}
}

// finalStats is what finalExamples found for one example.
type finalStats struct {
	fds      int
	rtPoller bool // the Go runtime opened its netpoller during the run
	stats    string
}

// finalExamples waits for each example to be left with only the connection
// that asks for its stats, checks those, and then that its descriptors are
// back to their baseline.
func finalExamples(r *run, procs map[string]*proc) map[string]finalStats {
	t := r.t
	out := map[string]finalStats{}

	var info map[string]string
	err := eventually(settle, func() error {
		var err error
		if info, err = respInfo(r, procs["resp"].addr); err != nil {
			return err
		}
		// The INFO connection itself is the one client left, and it
		// was counted as made before it asked.
		if c, made := infoInt(info, "connected_clients"), r.dials.get("resp"); c != 1 || infoInt(info, "total_connections_received") != made {
			return fmt.Errorf("connected_clients %d, total_connections_received %s of %d made", c, info["total_connections_received"], made)
		}
		return nil
	})
	assert.NoError(t, err, "resp: after the clients stopped")
	assert.Zero(t, infoInt(info, "panics_recovered"), "resp: panics_recovered")
	assert.Zero(t, infoInt(info, "rejected_connections"), "resp: rejected_connections")
	assert.Zero(t, infoInt(info, "client_output_buffered"), "resp: client_output_buffered")
	assert.GreaterOrEqual(t, infoInt(info, "total_net_input_bytes"), r.sent.get("resp"), "resp: total_net_input_bytes against the honest bytes sent")
	assert.GreaterOrEqual(t, infoInt(info, "total_net_output_bytes"), r.good.get("resp"), "resp: total_net_output_bytes against the values read back")
	out["resp"] = finalStats{stats: fmt.Sprintf("connected_clients %s, total_connections_received %s, total_commands_processed %s, net in %s, out %s, limit_disconnections %s, timeouts %s, panics_recovered %s",
		info["connected_clients"], info["total_connections_received"], info["total_commands_processed"], info["total_net_input_bytes"],
		info["total_net_output_bytes"], info["limit_disconnections"], info["timeouts"], info["panics_recovered"])}

	var st serverStats
	err = eventually(settle, func() error {
		var err error
		if st, err = httpdStats(r, procs["httpd"].addr); err != nil {
			return err
		}
		if made := r.dials.get("httpd"); st.Conns != 1 || st.Accepted != uint64(made) {
			return fmt.Errorf("Conns %d, Accepted %d of %d made", st.Conns, st.Accepted, made)
		}
		return nil
	})
	assert.NoError(t, err, "httpd: after the clients stopped")
	assert.Zero(t, st.Panics, "httpd: Panics")
	assert.Zero(t, st.Rejected+st.Shed, "httpd: Rejected+Shed")
	assert.GreaterOrEqual(t, st.BytesIn, uint64(r.sent.get("httpd")), "httpd: BytesIn against the honest bytes sent")
	assert.GreaterOrEqual(t, st.BytesOut, uint64(r.good.get("httpd")), "httpd: BytesOut against the bodies checked")
	out["httpd"] = finalStats{stats: fmt.Sprintf("%+v", st)}

	var conns, accepted, panics int64
	err = eventually(settle, func() error {
		var err error
		if conns, accepted, panics, err = chatStats(r, procs["chatroom"].addr); err != nil {
			return err
		}
		if made := r.dials.get("chatroom"); conns != 1 || accepted != made {
			return fmt.Errorf("connections %d, accepted %d of %d made", conns, accepted, made)
		}
		return nil
	})
	assert.NoError(t, err, "chatroom: after the clients stopped")
	assert.Zero(t, panics, "chatroom: panics recovered")
	out["chatroom"] = finalStats{stats: fmt.Sprintf("connections %d, accepted %d, panics recovered %d", conns, accepted, panics)}
	out["echo"] = finalStats{stats: "(echo exposes none)"}

	for _, e := range examples {
		p := procs[e]
		var rtPoller bool
		err := eventually(settle, func() error {
			var err error
			rtPoller, err = p.fdsBack()
			return err
		})
		assert.NoError(t, err, "%s: descriptors after the clients stopped\nat the start:%s\nnow:%s", e, p.baseList, p.fdList())
		f := out[e]
		f.fds, _ = p.fds()
		f.rtPoller = rtPoller
		out[e] = f
	}
	return out
}
