// Command bench compares this library's examples/echo — the server its README
// teaches, run as it is — with evio, gnet, Go's net package, a C epoll
// reference and Python's asyncore, each a separate process serving a byte
// echo or a newline-terminated line protocol on loopback. It
// also measures what 10,000 idle connections cost 50 active ones (-cells
// idle), and runs the resp and httpd examples against redis-server and Go's
// net/http under redis-benchmark and wrk (-cells resp,http). The TLS cells
// (-cells tls) measure the same examples over TLS against Go's crypto/tls
// servers and redis-server --tls-port (tls.go).
//
//	cd bench && go run .            # quick comparison, under 3 minutes
//	go run . -full                  # everything, 3 repetitions
//	go run . -servers asyncore-epoll,c-epoll -conns 50 -inflight 16
//	go run . -cells matrix -loops 1,2
//	go run . -compare old=/tmp/echo-old   # a saved build of examples/echo beside this one
//
// The report opens with issue 14's and issue 15's (TLS) targets, pass or
// fail, computed from the run.
//
// On a machine with two or more CPUs and taskset(1), every server runs pinned
// to CPU 0 and the harness — which is also the load generator — re-executes
// itself pinned to CPU 1, so the two never share a core. See README.md for how
// to read the table.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A cell is one point of the matrix.
type cell struct {
	Mode     string `json:"mode"` // "echo" or "line"
	Conns    int    `json:"conns"`
	Payload  int    `json:"payload"`
	Inflight int    `json:"inflight"`
}

func (c cell) String() string {
	return fmt.Sprintf("%s c%d p%d k%d", c.Mode, c.Conns, c.Payload, c.Inflight)
}

// pinnedEnv marks the re-executed, pinned harness.
const pinnedEnv = "ASYNCORE_BENCH_PINNED"

func main() {
	var (
		serversFlag = flag.String("servers", "", "comma-separated servers to run (default all available)")
		duration    = flag.Duration("duration", 0, "measured time per cell (default 3s)")
		warmup      = flag.Duration("warmup", 500*time.Millisecond, "traffic before each measurement")
		reps        = flag.Int("reps", 0, "repetitions of every cell (default 1 quick, 3 full)")
		full        = flag.Bool("full", false, "run the whole matrix")
		connsFlag   = flag.String("conns", "", "comma-separated connection counts (overrides the matrix)")
		payloadFlag = flag.String("payload", "", "comma-separated payload sizes in bytes (overrides the matrix)")
		inflight    = flag.String("inflight", "", "comma-separated requests in flight per connection (overrides the matrix)")
		modesFlag   = flag.String("modes", "", "comma-separated cell sets: echo, line (default both)")
		maxReqs     = flag.Int64("maxreqs", 50_000_000, "stop a cell early after this many replies")
		outDir      = flag.String("out", "results", "directory for latest.md and latest.json")
		noPin       = flag.Bool("nopin", false, "do not pin the servers and the load generator to CPUs")
		cellsFlag   = flag.String("cells", "", "comma-separated cell groups: matrix, idle, resp, http, real, tls (or tls-echo, tls-idle, tls-handshake, tls-resp, tls-http) (default matrix,resp,http quick; all with -full)")
		loopsFlag   = flag.String("loops", "1", "comma-separated loop counts; N > 1 runs the multi-loop servers with N loops on CPUs 0..N-1")
		idleConns   = flag.Int("idle", 10000, "idle connections in the idle cell")
		renderFlag  = flag.String("render", "", "run nothing: rebuild latest.md and the charts in -out from this saved latest.json (its targets judged again)")
		compareFlag = flag.String("compare", "", "extra servers: name=PATH[,name=PATH...], prebuilt binaries taking examples/echo's arguments")
	)
	flag.Parse()
	if *renderFlag != "" {
		if err := render(*renderFlag, *outDir); err != nil {
			fatalf("-render: %v", err)
		}
		return
	}

	if _, err := os.Stat("servers/c/epoll_echo.c"); err != nil {
		fatalf("run the harness from the bench directory (cd bench && go run .)")
	}
	cpus := runtime.NumCPU()
	pin := !*noPin && cpus >= 2
	if v := os.Getenv(pinnedEnv); v != "" {
		// The pinned child sees one CPU; its parent passed the real count.
		pin = true
		cpus, _ = strconv.Atoi(v)
	} else {
		if _, err := exec.LookPath("taskset"); err != nil && pin {
			fmt.Fprintln(os.Stderr, "bench: taskset not found (apt-get install util-linux); running unpinned")
			pin = false
		}
		if pin {
			reexecPinned(cpus)
		}
	}
	raiseFileLimit()

	if *duration == 0 {
		*duration = 3 * time.Second
		if *full {
			*duration = 3 * time.Second
		}
	}
	reps0 := *reps // as given: the quick real-client cells use it only if set
	if *reps == 0 {
		*reps = 1
		if *full {
			*reps = 3
		}
	}
	groups, err := cellGroups(*cellsFlag, *full)
	if err != nil {
		fatalf("%v", err)
	}
	loops, err := ints(*loopsFlag)
	if err != nil {
		fatalf("-loops: %v", err)
	}
	if !pin && slices.ContainsFunc(loops, func(n int) bool { return n > 1 }) {
		fmt.Fprintln(os.Stderr, "bench: -loops N > 1 without pinning: the loops are not tied to CPUs")
	}
	if pin && slices.Max(loops) > cpus {
		fatalf("-loops %d: this machine has %d CPUs", slices.Max(loops), cpus)
	}
	var cells []cell
	if groups["matrix"] {
		if cells, err = matrix(*full, *modesFlag, *connsFlag, *payloadFlag, *inflight); err != nil {
			fatalf("%v", err)
		}
	}

	var servers []*serverSpec
	binDir, err := os.MkdirTemp("", "asyncore-bench-")
	if err != nil {
		fatalf("%v", err)
	}
	defer os.RemoveAll(binDir)
	var notes []string
	if groups["matrix"] || groups["idle"] {
		built, err := prepare(*serversFlag, *compareFlag, binDir)
		if err != nil {
			_ = os.RemoveAll(binDir)
			fatalf("%v", err)
		}
		var single []string
		servers, single = withLoops(built, loops)
		if slices.Max(loops) > 1 {
			note := "×N rows run N loops on CPUs 0..N−1 with GOMAXPROCS=N and SO_REUSEPORT listeners (gonet×N: GOMAXPROCS=N)"
			if len(single) > 0 {
				note += "; single-loop: " + strings.Join(single, ", ")
			}
			notes = append(notes, note+"; the load generator shares CPU 1 with them.")
		}
	}
	serverCPU := -1
	if pin {
		serverCPU = 0
	}
	o := runOptions{duration: *duration, warmup: *warmup, reps: *reps, maxReqs: *maxReqs, serverCPU: serverCPU}

	var results []result
	if len(cells) > 0 {
		results = run(servers, cells, o)
	}
	var idle []idleResult
	if groups["idle"] {
		ks := []int{1}
		if *full {
			ks = []int{1, 16}
		}
		if *inflight != "" {
			ks, _ = ints(*inflight)
		}
		idle = runIdle(servers, ks, *idleConns, o)
	}
	var real []realResult
	var suites []string
	for _, g := range []string{"resp", "http"} {
		if groups[g] {
			suites = append(suites, g)
		}
	}
	ro := realOptions{respRequests: 10000, wrkDuration: time.Second, tests: []string{"SET", "GET"},
		reps: 1, serverCPU: serverCPU}
	if *full {
		ro = realOptions{respRequests: 100000, wrkDuration: *duration, tests: []string{"SET", "GET", "MSET"},
			reps: *reps, serverCPU: serverCPU}
	} else if reps0 > 0 {
		// Quick, but with -reps given: the repetitions the spread of
		// the ratios needs.
		ro.reps = reps0
	}
	if len(suites) > 0 {
		if ss := prepareReal(suites, binDir, ro); len(ss) > 0 {
			real = runReal(ss, ro)
		}
	}

	var tr tlsRun
	if slices.ContainsFunc(tlsGroups, func(g string) bool { return groups[g] }) {
		st, err := prepareTLS(groups, binDir)
		if err != nil {
			_ = os.RemoveAll(binDir)
			fatalf("%v", err)
		}
		var conns, payloads, ks []int
		if *connsFlag != "" {
			conns, _ = ints(*connsFlag)
		}
		if *payloadFlag != "" {
			payloads, _ = ints(*payloadFlag)
		}
		idleKs := []int{1}
		if *inflight != "" {
			ks, _ = ints(*inflight)
			idleKs = ks
		}
		tr = runTLS(groups, st, tlsCells(conns, payloads, ks), idleKs, *idleConns, o, ro,
			int(min(*maxReqs, hsMaxDefault)))
		idle = append(idle, tr.Idle...)
		real = append(real, tr.Real...)
		notes = append(notes, tr.Notes...)
	}

	rep := newReport(results, servers, cells, *duration, *reps, pin, cpus, idle, real, notes)
	rep.addTLS(tr)
	charts := rep.charts()
	for name := range charts {
		rep.Charts = append(rep.Charts, name)
	}
	slices.Sort(rep.Charts)
	md := rep.markdown()
	fmt.Print(md)
	if err := rep.write(*outDir, md); err != nil {
		fatalf("%v", err)
	}
	if err := writeCharts(*outDir, charts); err != nil {
		fatalf("%v", err)
	}
	fmt.Fprintf(os.Stderr, "bench: wrote %s/latest.md, %s/latest.json and %d charts\n", *outDir, *outDir, len(charts))
	failed := false
	for _, r := range results {
		failed = failed || r.Err != ""
	}
	for _, r := range idle {
		failed = failed || r.Err != ""
	}
	for _, r := range real {
		failed = failed || r.Err != ""
	}
	for _, r := range tr.Echo {
		failed = failed || r.Err != ""
	}
	for _, r := range tr.Handshakes {
		failed = failed || r.Err != ""
	}
	if failed {
		_ = os.RemoveAll(binDir)
		os.Exit(1)
	}
}

// cellGroups parses -cells. The default is the matrix and the real-client
// cells; -full adds the idle cell and the TLS cells. "tls" is every TLS
// group (tls-echo, tls-idle, tls-handshake, tls-resp, tls-http).
func cellGroups(s string, full bool) (map[string]bool, error) {
	if s == "" {
		s = "matrix,resp,http"
		if full {
			s = "matrix,idle,resp,http,tls"
		}
	}
	g := map[string]bool{}
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		switch {
		case slices.Contains([]string{"matrix", "idle", "resp", "http"}, f), slices.Contains(tlsGroups, f):
			g[f] = true
		case f == "real":
			g["resp"], g["http"] = true, true
		case f == "tls":
			for _, t := range tlsGroups {
				g[t] = true
			}
		default:
			return nil, fmt.Errorf("unknown cell group %q (matrix, idle, resp, http, real, tls, %s)", f,
				strings.Join(tlsGroups, ", "))
		}
	}
	return g, nil
}

// withLoops returns the servers to run for the loop counts: each server as
// it is for 1, and for n > 1 a copy with n loops of every server that can run
// several. Servers that cannot (the C and Python references) run once, with
// one loop, and are returned in single as well.
func withLoops(built []*serverSpec, loops []int) (servers []*serverSpec, single []string) {
	seen := map[string]bool{}
	for _, n := range loops {
		for _, s := range built {
			if n > 1 && s.loopArgs != nil {
				servers = append(servers, s.withLoops(n))
				continue
			}
			if !seen[s.Name] {
				servers = append(servers, s)
				seen[s.Name] = true
			}
			if n > 1 && !slices.Contains(single, s.Name) {
				single = append(single, s.Name)
			}
		}
	}
	return servers, single
}

// reexecPinned runs this same program again under taskset -c 1 and exits with
// its status: the simplest way to pin every thread of the load generator,
// since the Go runtime starts threads before main could pin them.
func reexecPinned(cpus int) {
	exe, err := os.Executable()
	if err != nil {
		fatalf("%v", err)
	}
	cmd := exec.Command("taskset", append([]string{"-c", "1", exe}, os.Args[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), pinnedEnv+"="+strconv.Itoa(cpus))
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			os.Exit(ee.ExitCode())
		}
		fatalf("re-exec under taskset: %v", err)
	}
	os.Exit(0)
}

// raiseFileLimit lifts the soft descriptor limit to the hard one. Setting it
// explicitly (rather than relying on the Go runtime's own raise) makes the
// servers the harness starts inherit it too.
func raiseFileLimit() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}

// matrix returns the cells to run. The quick matrix is the echo cells
// conns {1, 50} × payload {64} × inflight {1, 16} plus one line-protocol cell
// (50 × 64 B × 16); -full has conns {1, 50, 1000} × payload {64, 4096} ×
// inflight {1, 16} for echo and for lines (issue 14 wants the line target
// in every one of those cells). Any of -conns, -payload and -inflight replaces that axis everywhere.
func matrix(full bool, modes, connsFlag, payloadFlag, inflightFlag string) ([]cell, error) {
	conns, payloads, inflights := []int{1, 50}, []int{64}, []int{1, 16}
	lineConns, linePayloads, lineInflights := []int{50}, []int{64}, []int{16}
	if full {
		conns, payloads = []int{1, 50, 1000}, []int{64, 4096}
		lineConns, linePayloads, lineInflights = conns, payloads, inflights
	}
	override := func(s string, axes ...*[]int) error {
		if s == "" {
			return nil
		}
		v, err := ints(s)
		for _, a := range axes {
			*a = v
		}
		return err
	}
	if err := errors.Join(
		override(connsFlag, &conns, &lineConns),
		override(payloadFlag, &payloads, &linePayloads),
		override(inflightFlag, &inflights, &lineInflights),
	); err != nil {
		return nil, err
	}
	want := map[string]bool{"echo": true, "line": true}
	if modes != "" {
		want = map[string]bool{}
		for m := range strings.SplitSeq(modes, ",") {
			if m != "echo" && m != "line" {
				return nil, fmt.Errorf("unknown cell set %q (echo, line)", m)
			}
			want[m] = true
		}
	}
	var cells []cell
	add := func(mode string, cs, ps, ks []int) {
		if !want[mode] {
			return
		}
		for _, c := range cs {
			for _, p := range ps {
				for _, k := range ks {
					cells = append(cells, cell{Mode: mode, Conns: c, Payload: p, Inflight: k})
				}
			}
		}
	}
	add("echo", conns, payloads, inflights)
	add("line", lineConns, linePayloads, lineInflights)
	return cells, nil
}

func ints(s string) ([]int, error) {
	var v []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad number %q in %q", f, s)
		}
		v = append(v, n)
	}
	return v, nil
}

// prepare builds every selected server and every -compare server into a
// temporary directory and drops, with a note, those that cannot run here (no
// cc, no Python asyncore, no such binary).
func prepare(selected, compare, dir string) ([]*serverSpec, error) {
	all, err := selectServers(allServers(), selected, compare)
	if err != nil {
		return nil, err
	}
	var ready []*serverSpec
	for _, s := range all {
		fmt.Fprintf(os.Stderr, "\rbench: building %-20s", s.Name)
		argv, err := s.build(dir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "\rbench: skipping %s: %v\n", s.Name, err)
			continue
		}
		s.argv = argv
		ready = append(ready, s)
	}
	fmt.Fprintf(os.Stderr, "\r%40s\r", "")
	if len(ready) == 0 {
		return nil, errors.New("no server could be built")
	}
	return ready, nil
}

// selectServers returns the servers -servers names (all when empty), in
// the order given, with the -compare servers placed after the last of ours
// (asyncore-*) so that each sits beside what it is compared with.
func selectServers(all []*serverSpec, selected, compare string) ([]*serverSpec, error) {
	var names []string
	for _, s := range all {
		names = append(names, s.Name)
	}
	cmp, err := parseCompare(compare, names)
	if err != nil {
		return nil, err
	}
	if selected != "" {
		byName := map[string]*serverSpec{}
		for _, s := range all {
			byName[s.Name] = s
		}
		all = nil
		for n := range strings.SplitSeq(selected, ",") {
			s, ok := byName[strings.TrimSpace(n)]
			if !ok {
				return nil, fmt.Errorf("unknown server %q", n)
			}
			all = append(all, s)
		}
	}
	at := 0
	for i, s := range all {
		if strings.HasPrefix(s.Name, "asyncore-") {
			at = i + 1
		}
	}
	var extra []*serverSpec
	for _, c := range cmp {
		extra = append(extra, c.spec())
	}
	return slices.Insert(all, at, extra...), nil
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(2)
}
