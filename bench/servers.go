package main

import (
	"bufio"
	"bytes"
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
	ours := buildOnce(goBuild("./servers/asyncore", "asyncore")) // three backends, one binary
	return []*serverSpec{
		{Name: "asyncore-epoll", build: ours, args: addrArgs("-backend", "epoll")},
		{Name: "asyncore-poll", build: ours, args: addrArgs("-backend", "poll")},
		{Name: "asyncore-select", build: ours, args: addrArgs("-backend", "select")},
		{Name: "gnet", build: goBuild("./servers/gnet", "gnet"), args: portArgs},
		{Name: "evio", build: goBuild("./servers/evio", "evio"), args: portArgs},
		{Name: "gonet", build: goBuild("./servers/gonet", "gonet"), args: addrArgs()},
		{Name: "c-epoll", build: buildC, args: func(port int, mode string) []string {
			return []string{strconv.Itoa(port), mode}
		}},
		{Name: "python-asyncore", build: findPython, args: func(port int, mode string) []string {
			return []string{strconv.Itoa(port), mode}
		}},
	}
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
// waits for its "ready ADDR" line.
func startServer(spec *serverSpec, mode string, cpu int) (*running, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	argv := append(append([]string{}, spec.argv...), spec.args(port, mode)...)
	if cpu >= 0 {
		// taskset execs the server, so the PID is the server's own.
		argv = append([]string{"taskset", "-c", strconv.Itoa(cpu)}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
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
			if a, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
				ready <- a
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { _ = cmd.Wait(); close(r.exited) }()
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
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
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
