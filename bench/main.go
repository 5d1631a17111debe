// Command bench compares this library's servers with evio, gnet, Go's net
// package, a C epoll reference and Python's asyncore, each a separate process
// serving a byte echo or a newline-terminated line protocol on loopback.
//
//	cd bench && go run .            # quick comparison, under 3 minutes
//	go run . -full                  # the whole matrix, 3 repetitions
//	go run . -servers asyncore-epoll,c-epoll -conns 50 -inflight 16
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
		duration    = flag.Duration("duration", 0, "measured time per cell (default 3s quick, 5s full)")
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
	)
	flag.Parse()

	if _, err := os.Stat("servers/asyncore/main.go"); err != nil {
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
			*duration = 5 * time.Second
		}
	}
	if *reps == 0 {
		*reps = 1
		if *full {
			*reps = 3
		}
	}
	cells, err := matrix(*full, *modesFlag, *connsFlag, *payloadFlag, *inflight)
	if err != nil {
		fatalf("%v", err)
	}

	servers, binDir, err := prepare(*serversFlag)
	if err != nil {
		fatalf("%v", err)
	}
	serverCPU := -1
	if pin {
		serverCPU = 0
	}
	results := run(servers, cells, runOptions{
		duration: *duration, warmup: *warmup, reps: *reps, maxReqs: *maxReqs, serverCPU: serverCPU,
	})

	_ = os.RemoveAll(binDir)

	rep := newReport(results, servers, cells, *duration, *reps, pin, cpus)
	md := rep.markdown()
	fmt.Print(md)
	if err := rep.write(*outDir, md); err != nil {
		fatalf("%v", err)
	}
	fmt.Fprintf(os.Stderr, "bench: wrote %s/latest.md and %s/latest.json\n", *outDir, *outDir)
	for _, r := range results {
		if r.Err != "" {
			os.Exit(1)
		}
	}
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
// inflight {1, 16} for echo and conns {1, 50, 1000} × 64 B × {1, 16} for
// lines. Any of -conns, -payload and -inflight replaces that axis everywhere.
func matrix(full bool, modes, connsFlag, payloadFlag, inflightFlag string) ([]cell, error) {
	conns, payloads, inflights := []int{1, 50}, []int{64}, []int{1, 16}
	lineConns, lineInflights := []int{50}, []int{16}
	if full {
		conns, payloads = []int{1, 50, 1000}, []int{64, 4096}
		lineConns, lineInflights = conns, inflights
	}
	linePayloads := []int{64}
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

// prepare builds every selected server into a temporary directory and drops,
// with a note, those that cannot run here (no cc, no Python asyncore).
func prepare(selected string) ([]*serverSpec, string, error) {
	all := allServers()
	if selected != "" {
		byName := map[string]*serverSpec{}
		for _, s := range all {
			byName[s.Name] = s
		}
		all = nil
		for n := range strings.SplitSeq(selected, ",") {
			s, ok := byName[strings.TrimSpace(n)]
			if !ok {
				return nil, "", fmt.Errorf("unknown server %q", n)
			}
			all = append(all, s)
		}
	}
	dir, err := os.MkdirTemp("", "asyncore-bench-")
	if err != nil {
		return nil, "", err
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
		return nil, "", errors.New("no server could be built")
	}
	return ready, dir, nil
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(2)
}
