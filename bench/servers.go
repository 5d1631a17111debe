package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A serverSpec is one server the harness can run. Its command is built once
// per harness run; args gives the arguments for a port and a mode ("echo" or
// "line").
type serverSpec struct {
	Name string
	// build makes the binary in dir and returns the command's argv prefix.
	build func(dir string) ([]string, error)
	args  func(port int, mode string) []string
	argv  []string // set once built
	// loopArgs, for a server that can run several event loops, returns the
	// arguments that ask for n of them.
	loopArgs func(n int) []string
	loops    int  // loops to run; 0 or 1 is the single-loop server
	dialWait bool // ready once its port accepts a connection, not on "ready ADDR"
	// backend is the poller an examples/echo server runs on ("" for the
	// others); the idle cell skips select.
	backend string
	// idleArgs are added to args in the idle cell: examples/echo needs
	// -maxconns -1 to take 10,050 connections.
	idleArgs []string
	// idleModes are the modes the idle cell runs; nil is echo alone.
	idleModes []string
	// baseline, for a -compare server, is our row it is compared with
	// (asyncore-BACKEND).
	baseline string
}

// withLoops returns a copy of s that runs n loops, named "s×n".
func (s *serverSpec) withLoops(n int) *serverSpec {
	c := *s
	c.Name = fmt.Sprintf("%s×%d", s.Name, n)
	c.loops = n
	return &c
}

// allServers lists every server, in the order the table shows them.
func allServers() []*serverSpec {
	goBuild := func(pkg, name string) func(string) ([]string, error) {
		return func(dir string) ([]string, error) {
			out := filepath.Join(dir, name)
			cmd := exec.Command("go", "build", "-o", out, pkg)
			if msg, err := cmd.CombinedOutput(); err != nil {
				return nil, fmt.Errorf("go build %s: %v\n%s", pkg, err, msg)
			}
			return []string{out}, nil
		}
	}
	addrArgs := func(extra ...string) func(int, string) []string {
		return func(port int, mode string) []string {
			return append([]string{"-addr", fmt.Sprintf("127.0.0.1:%d", port), "-mode", mode}, extra...)
		}
	}
	portArgs := func(port int, mode string) []string {
		return []string{"-port", strconv.Itoa(port), "-mode", mode}
	}
	ours := buildOnce(buildEcho) // examples/echo: three backends, one binary
	return []*serverSpec{
		echoSpec("asyncore-epoll", ours, "epoll"),
		echoSpec("asyncore-poll", ours, "poll"),
		echoSpec("asyncore-select", ours, "select"),
		{Name: "gnet", build: goBuild("./servers/gnet", "gnet"), args: portArgs, loopArgs: loopsFlag},
		{Name: "evio", build: goBuild("./servers/evio", "evio"), args: portArgs, loopArgs: loopsFlag},
		// Go's net has no loops: n runs it with GOMAXPROCS=n.
		{Name: "gonet", build: goBuild("./servers/gonet", "gonet"), args: addrArgs(), loopArgs: func(int) []string { return nil }},
		{Name: "c-epoll", build: buildC, args: func(port int, mode string) []string {
			return []string{strconv.Itoa(port), mode}
		}},
		{Name: "python-asyncore", build: findPython, args: func(port int, mode string) []string {
			return []string{strconv.Itoa(port), mode}
		}},
	}
}

func loopsFlag(n int) []string { return []string{"-loops", strconv.Itoa(n)} }

// echoSpec is a server that takes examples/echo's command line:
//
//	-addr HOST:PORT -backend B -nodelay=true [-loops N] [-line] [-maxconns N]
//
// and prints "ready ADDR" once it accepts connections: our examples/echo,
// or a saved build of it given with -compare. The echo cells run its byte
// echo, the line cells its -line mode (the README's AsyncChat), and the idle
// cell both, with -maxconns -1 (the library caps a listener at 10,000
// connections by default; the idle cell opens 10,050). On the select
// backend every cell runs with -maxconns -1: its default cap, 992, is under
// the 1,000 connections of the c1000 cells.
func echoSpec(name string, build func(string) ([]string, error), backend string) *serverSpec {
	return &serverSpec{Name: name, build: build, backend: backend,
		args: func(port int, mode string) []string {
			a := []string{"-addr", fmt.Sprintf("127.0.0.1:%d", port), "-backend", backend, "-nodelay=true"}
			if mode == "line" {
				a = append(a, "-line")
			}
			if backend == "select" {
				// The library's default cap on select is FD_SETSIZE less
				// 32 (992 connections), under the 1,000 of the c1000
				// cells; descriptors from FD_SETSIZE up stay refused.
				a = append(a, "-maxconns", "-1")
			}
			return a
		},
		loopArgs: loopsFlag, idleArgs: []string{"-maxconns", "-1"}, idleModes: []string{"echo", "line"}}
}

// buildEcho builds examples/echo, the server the README teaches, from the
// library's module (the bench module's replace directive points there).
func buildEcho(dir string) ([]string, error) {
	out := filepath.Join(dir, "echo")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = filepath.Join("..", "examples", "echo")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ../examples/echo: %v\n%s", err, msg)
	}
	if err := checkEchoFlags(out); err != nil {
		return nil, err
	}
	return []string{out}, nil
}

// echoFlags are the flags of examples/echo's command line the harness
// passes; -addr, -backend and -loops are older than the harness.
var echoFlags = []string{"-addr", "-backend", "-loops", "-line", "-maxconns", "-nodelay"}

// checkEchoFlags asks bin for its usage (-h) and refuses a binary without
// the command line the harness uses, at build time rather than with a
// 15-second wait for a "ready" line in every cell.
func checkEchoFlags(bin string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "-h").CombinedOutput() // the flag package's -h may exit 0 or 2
	if missing := missingFlags(string(out)); len(missing) > 0 {
		return fmt.Errorf("%s has no %s: it predates the command line the harness needs (bench/README.md, \"What the harness needs of examples/echo\")",
			bin, strings.Join(missing, ", "))
	}
	return nil
}

// missingFlags returns the echoFlags a Go flag package usage text lacks.
func missingFlags(usage string) []string { return missingOf(usage, echoFlags) }

// missingOf returns the flags of want a Go flag package usage text lacks.
func missingOf(usage string, want []string) []string {
	have := map[string]bool{}
	for line := range strings.Lines(usage) {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "-") {
			have[f[0]] = true
		}
	}
	var missing []string
	for _, f := range want {
		if !have[f] {
			missing = append(missing, f)
		}
	}
	return missing
}

// A compareSpec is one -compare entry: a prebuilt binary that takes
// examples/echo's command line, run beside ours under its own name.
type compareSpec struct {
	Name, Path, Backend string
}

// parseCompare parses -compare: name=PATH[,name=PATH...]. The server runs
// on epoll unless its name ends in -poll or -select. A name may not repeat
// or take a built-in server's name (or the ×N form of the loop rows).
func parseCompare(s string, builtin []string) ([]compareSpec, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []compareSpec
	seen := map[string]bool{}
	for _, n := range builtin {
		seen[n] = true
	}
	for f := range strings.SplitSeq(s, ",") {
		name, path, ok := strings.Cut(strings.TrimSpace(f), "=")
		name, path = strings.TrimSpace(name), strings.TrimSpace(path)
		if !ok || name == "" || path == "" {
			return nil, fmt.Errorf("-compare: %q is not name=PATH", f)
		}
		if strings.ContainsAny(name, "×| \t") {
			return nil, fmt.Errorf("-compare: name %q may not hold spaces, '|' or '×'", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("-compare: the name %q is taken", name)
		}
		seen[name] = true
		backend := "epoll"
		for _, b := range []string{"poll", "select"} {
			if strings.HasSuffix(name, "-"+b) {
				backend = b
			}
		}
		out = append(out, compareSpec{Name: name, Path: path, Backend: backend})
	}
	return out, nil
}

// spec returns the server for a -compare entry. Its build only checks that
// the binary is there and executable, and runs it by its absolute path.
func (c compareSpec) spec() *serverSpec {
	s := echoSpec(c.Name, func(string) ([]string, error) {
		abs, err := filepath.Abs(c.Path)
		if err != nil {
			return nil, err
		}
		st, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("-compare %s: %w", c.Name, err)
		}
		if st.IsDir() || st.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("-compare %s: %s is not an executable file", c.Name, abs)
		}
		if err := checkEchoFlags(abs); err != nil {
			return nil, fmt.Errorf("-compare %s: %w", c.Name, err)
		}
		return []string{abs}, nil
	}, c.Backend)
	s.baseline = "asyncore-" + c.Backend
	return s
}

// buildOnce memoizes a build shared by several servers.
func buildOnce(build func(string) ([]string, error)) func(string) ([]string, error) {
	var (
		once sync.Once
		argv []string
		err  error
	)
	return func(dir string) ([]string, error) {
		once.Do(func() { argv, err = build(dir) })
		return argv, err
	}
}

// buildC compiles the C reference with the system's cc.
func buildC(dir string) ([]string, error) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		return nil, errors.New("no C compiler (cc) on PATH: install gcc or clang (apt-get install gcc)")
	}
	out := filepath.Join(dir, "epoll_echo")
	if msg, err := exec.Command(cc, "-O2", "-o", out, "servers/c/epoll_echo.c").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("cc: %v\n%s", err, msg)
	}
	return []string{out}, nil
}

// findPython returns the Python reference's command if python3 has asyncore
// (it was removed in Python 3.12).
func findPython(string) ([]string, error) {
	py, err := exec.LookPath("python3")
	if err != nil {
		return nil, errors.New("no python3 on PATH")
	}
	if err := exec.Command(py, "-W", "ignore", "-c", "import asyncore, asynchat").Run(); err != nil {
		return nil, errors.New("python3 has no asyncore (removed in 3.12; use Python 3.11)")
	}
	abs, err := filepath.Abs("servers/python/echo_asyncore.py")
	if err != nil {
		return nil, err
	}
	return []string{py, "-W", "ignore", abs}, nil
}

// running is a started server process.
type running struct {
	cmd    *exec.Cmd
	pid    int
	addr   string
	stderr *tailBuffer
	exited chan struct{}
}

// startServer starts spec on a free port, pinned to cpu when cpu >= 0, and
// waits for its "ready ADDR" line (or, for a dialWait server, for its port to
// accept a connection). A server with n > 1 loops is pinned to CPUs
// cpu..cpu+n-1 and runs with GOMAXPROCS=n.
func startServer(spec *serverSpec, mode string, cpu int) (*running, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	argv := append(append([]string{}, spec.argv...), spec.args(port, mode)...)
	cpus, env := strconv.Itoa(cpu), os.Environ()
	if spec.loops > 1 {
		argv = append(argv, spec.loopArgs(spec.loops)...)
		cpus = fmt.Sprintf("%d-%d", cpu, cpu+spec.loops-1)
		env = append(env, "GOMAXPROCS="+strconv.Itoa(spec.loops))
	}
	if cpu >= 0 {
		// taskset execs the server, so the PID is the server's own.
		argv = append([]string{"taskset", "-c", cpus}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	r := &running{cmd: cmd, stderr: &tailBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = r.stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r.pid = cmd.Process.Pid
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "ready "); ok && !spec.dialWait {
				ready <- a
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { _ = cmd.Wait(); close(r.exited) }()
	if spec.dialWait {
		go func() {
			a := fmt.Sprintf("127.0.0.1:%d", port)
			for {
				c, err := net.DialTimeout("tcp", a, time.Second)
				if err == nil {
					_ = c.Close()
					ready <- a
					return
				}
				select {
				case <-r.exited:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
	}
	select {
	case r.addr = <-ready:
		return r, nil
	case <-r.exited:
		return nil, fmt.Errorf("%s exited before it was ready: %s", spec.Name, r.stderr.String())
	case <-time.After(15 * time.Second):
		r.stop()
		return nil, fmt.Errorf("%s not ready after 15s: %s", spec.Name, r.stderr.String())
	}
}

// stop sends SIGTERM to the server's PID, then SIGKILL if it lingers.
func (r *running) stop() {
	_ = syscall.Kill(r.pid, syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(r.pid, syscall.SIGKILL)
		<-r.exited
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last 2 KiB written to it, for error messages.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = t.b[len(t.b)-2048:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.b))
}

// cpuTicks returns the process's user+system CPU time in clock ticks, from
// fields 14 and 15 of /proc/PID/stat (proc(5)); threads are included.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields resume after ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	st, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return ut + st, nil
}

// peakRSS returns VmHWM from /proc/PID/status, in KiB.
func peakRSS(pid int) (int64, error) { return procStatusKB(pid, "VmHWM") }

// residentKB returns VmRSS from /proc/PID/status, in KiB.
func residentKB(pid int) (int64, error) { return procStatusKB(pid, "VmRSS") }

func procStatusKB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc status", field)
}

// openFDs counts the descriptors the process holds, from /proc/PID/fd.
func openFDs(pid int) (int, error) {
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(es), err
}

// clockTicks is sysconf(_SC_CLK_TCK), the unit of /proc CPU times: asked of
// getconf, else 100, which Linux uses on every common architecture.
func clockTicks() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && v > 0 {
			return v
		}
	}
	return 100
}
