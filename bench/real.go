package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The real-client cells run the library's examples against the programs
// they imitate, driven by the standard clients of each protocol:
//
//   - resp: examples/resp (epoll) and redis-server, each driven by
//     redis-benchmark -c 50 -r 100000 (keys drawn from 100,000, not one
//     hot key) at -P 1 and -P 16 for SET, GET and MSET;
//   - http: examples/httpd (epoll) and Go's net/http (servers/nethttp), both
//     serving the same small index.html, driven by wrk -t1 -c50 without and
//     with pipelining (examples/httpd/pipeline.lua, 16 requests per write).
//     The reference is net/http at its best, a handler writing the file's
//     bytes from memory (net-http); http.FileServer, which reads the disk
//     on every request, runs too as a second, labelled reference
//     (net-http-fileserver).
//
// Servers run on CPU 0 like the others; the clients inherit the harness's
// CPU 1. The server's CPU time is read around each client run, so CPU
// µs/req is measured as in the matrix.

// realResult is one client run against one server.
type realResult struct {
	Suite     string  `json:"suite"` // "resp" or "http"
	Server    string  `json:"server"`
	Test      string  `json:"test"`     // SET, GET, MSET; GET / for http
	Pipeline  int     `json:"pipeline"` // requests per write: -P, or the pipeline.lua depth (1: none)
	Rep       int     `json:"rep"`
	Requests  int64   `json:"requests"`
	Seconds   float64 `json:"seconds"`
	ReqPerSec float64 `json:"req_per_sec"` // as the client reports it
	CPUusReq  float64 `json:"cpu_us_per_req"`
	// ServerBusy and ClientBusy are the CPU time the server and the client
	// (redis-benchmark, wrk) used over the run's wall time: 1.0 is one core
	// fully used. Both pinned to one core, a client near 1.0 bounds the
	// rate, whatever the server costs; compare CPU per request then.
	ServerBusy float64 `json:"server_busy,omitempty"`
	ClientBusy float64 `json:"client_busy,omitempty"`
	Err        string  `json:"error,omitempty"`
	// Skipped says why a suite could not run at all (a TLS suite whose
	// tools lack TLS): a row with a reason and no figures.
	Skipped string `json:"skipped,omitempty"`
}

// realSuite is one protocol's servers and how to drive them: ours, and the
// references it is compared with, the first being the one its target is
// set against.
type realSuite struct {
	name       string
	ours       *serverSpec
	refs       []*serverSpec
	tests      []string
	pipelines  []int
	client     func(addr, test string, pipeline int) (requests int64, rps float64, err error)
	checkReady func(addr string) error // one correct exchange before the load
}

// realOptions sizes the client runs.
type realOptions struct {
	respRequests int           // redis-benchmark -n at -P 1; ×10 at -P 16
	wrkDuration  time.Duration // wrk -d
	tests        []string      // redis-benchmark tests
	reps         int
	serverCPU    int
}

// realTools reports the missing client or server programs of each suite,
// with the package that provides them.
func realTools(suite string) []string {
	need := map[string][][2]string{
		"resp": {{"redis-server", "redis-server"}, {"redis-benchmark", "redis-tools"}},
		"http": {{"wrk", "wrk"}},
	}[suite]
	var missing []string
	for _, t := range need {
		if _, err := exec.LookPath(t[0]); err != nil {
			missing = append(missing, fmt.Sprintf("%s (apt-get install %s)", t[0], t[1]))
		}
	}
	return missing
}

// prepareReal builds what the selected suites need into dir and returns the
// suites that can run, printing one line for each that cannot.
func prepareReal(suites []string, dir string, o realOptions) []*realSuite {
	var ready []*realSuite
	for _, name := range suites {
		if missing := realTools(name); len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "bench: skipping the %s real-client cells: %s not found\n", name, strings.Join(missing, ", "))
			continue
		}
		var (
			s   *realSuite
			err error
		)
		switch name {
		case "resp":
			s, err = respSuite(dir, o)
		case "http":
			s, err = httpSuite(dir)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: skipping the %s real-client cells: %v\n", name, err)
			continue
		}
		ready = append(ready, s)
	}
	return ready
}

// buildExample builds one of the library's examples with go build -o from
// the library's module root.
func buildExample(dir, name string) (string, error) {
	out := filepath.Join(dir, "example-"+name)
	cmd := exec.Command("go", "build", "-o", out, "./examples/"+name)
	cmd.Dir = ".."
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./examples/%s: %v\n%s", name, err, msg)
	}
	return out, nil
}

func respSuite(dir string, o realOptions) (*realSuite, error) {
	bin, err := buildExample(dir, "resp")
	if err != nil {
		return nil, err
	}
	ours := &serverSpec{Name: "asyncore-resp", argv: []string{bin}, dialWait: true,
		args: func(port int, _ string) []string {
			return []string{"-addr", fmt.Sprintf("127.0.0.1:%d", port), "-backend", "epoll"}
		}}
	redis, _ := exec.LookPath("redis-server")
	ref := &serverSpec{Name: "redis", argv: []string{redis}, dialWait: true,
		args: func(port int, _ string) []string {
			return []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
				"--save", "", "--appendonly", "no"}
		}}
	return &realSuite{name: "resp", ours: ours, refs: []*serverSpec{ref}, tests: o.tests, pipelines: []int{1, 16},
		client: func(addr, test string, p int) (int64, float64, error) {
			n := o.respRequests
			if p > 1 {
				n *= 10
			}
			return redisBenchmark(addr, test, n, p)
		},
		checkReady: respCheck}, nil
}

// indexHTML is the file both HTTP servers serve.
const indexHTML = "<!doctype html>\n<title>asyncore-go</title>\n<h1>It works.</h1>\n"

func httpSuite(dir string) (*realSuite, error) {
	bin, err := buildExample(dir, "httpd")
	if err != nil {
		return nil, err
	}
	ref := filepath.Join(dir, "nethttp")
	if msg, err := exec.Command("go", "build", "-o", ref, "./servers/nethttp").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./servers/nethttp: %v\n%s", err, msg)
	}
	root := filepath.Join(dir, "www")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(root, "index.html"), []byte(indexHTML), 0o644); err != nil {
		return nil, err
	}
	script, err := filepath.Abs("../examples/httpd/pipeline.lua")
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(script); err != nil {
		return nil, err
	}
	args := func(extra ...string) func(int, string) []string {
		return func(port int, _ string) []string {
			return append([]string{"-addr", fmt.Sprintf("127.0.0.1:%d", port), "-root", root}, extra...)
		}
	}
	return &realSuite{name: "http",
		ours: &serverSpec{Name: "asyncore-httpd", argv: []string{bin}, dialWait: true, args: args("-backend", "epoll")},
		refs: []*serverSpec{
			{Name: "net-http", argv: []string{ref}, args: args("-mode", "memory")},
			{Name: "net-http-fileserver", argv: []string{ref}, args: args("-mode", "fileserver")},
		},
		tests:     []string{"GET /"},
		pipelines: []int{1, 16},
		client: func(addr, _ string, p int) (int64, float64, error) {
			return runWrk(addr, script, p, wrkDuration)
		},
		checkReady: httpCheck}, nil
}

// wrkDuration is wrk's -d, set from realOptions before the suites run.
var wrkDuration = 5 * time.Second

// runReal runs every suite: per repetition, each server of a suite is
// started once and the tests alternate between them.
func runReal(suites []*realSuite, o realOptions) []realResult {
	hz := clockTicks()
	wrkDuration = o.wrkDuration
	var out []realResult
	start := time.Now()
	for rep := 1; rep <= o.reps; rep++ {
		for _, s := range suites {
			out = append(out, runSuite(s, rep, o, hz)...)
		}
	}
	fmt.Fprintf(os.Stderr, "\r\033[Kbench: real-client cells in %s\n", time.Since(start).Round(time.Second))
	return out
}

func runSuite(s *realSuite, rep int, o realOptions, hz int64) []realResult {
	var out []realResult
	srvs := map[string]*running{}
	errs := map[string]error{}
	all := append([]*serverSpec{s.ours}, s.refs...)
	for _, spec := range all {
		srv, err := startServer(spec, "", o.serverCPU)
		if err == nil {
			if err = s.checkReady(srv.addr); err != nil {
				srv.stop()
			}
		}
		if err != nil {
			errs[spec.Name] = err
			fmt.Fprintf(os.Stderr, "\r\033[K%s: %v\n", spec.Name, err)
			continue
		}
		srvs[spec.Name] = srv
		defer srv.stop()
	}
	for _, p := range s.pipelines {
		for _, test := range s.tests {
			for _, spec := range all {
				r := realResult{Suite: s.name, Server: spec.Name, Test: test, Pipeline: p, Rep: rep}
				srv := srvs[spec.Name]
				if srv == nil {
					r.Err = errs[spec.Name].Error()
					out = append(out, r)
					continue
				}
				fmt.Fprintf(os.Stderr, "\r\033[K[%s] %-15s %-6s pipeline %-2d rep %d/%d", s.name, spec.Name, test, p, rep, o.reps)
				t0 := time.Now()
				cpu0, err := cpuTicks(srv.pid)
				client0 := childrenCPU()
				var n int64
				var rps float64
				if err == nil {
					n, rps, err = s.client(srv.addr, test, p)
				}
				r.Seconds = time.Since(t0).Seconds()
				if err == nil {
					var cpu1 int64
					cpu1, err = cpuTicks(srv.pid)
					if n > 0 {
						r.CPUusReq = float64(cpu1-cpu0) * 1e6 / float64(hz) / float64(n)
					}
					if r.Seconds > 0 {
						r.ServerBusy = float64(cpu1-cpu0) / float64(hz) / r.Seconds
						r.ClientBusy = (childrenCPU() - client0).Seconds() / r.Seconds
					}
				}
				if err == nil && (n <= 0 || rps <= 0) {
					err = errors.New("the client reported no requests")
				}
				r.Requests, r.ReqPerSec = n, rps
				if err != nil {
					r.Err = err.Error()
					fmt.Fprintf(os.Stderr, "\r\033[K%s %s P%d: %s\n", spec.Name, test, p, oneLine(r.Err))
				}
				out = append(out, r)
			}
		}
	}
	return out
}

// redisRate matches the summary line redis-benchmark -q prints per test,
// e.g. "SET: 73260.07 requests per second, p50=0.335 msec".
var redisRate = regexp.MustCompile(`^([A-Z_]+)(?: \([^)]*\))?: ([0-9.]+) requests per second`)

// redisBenchmark runs one test of redis-benchmark and returns the requests
// it made and the rate it reports. Any error line fails the run.
// extra is added to its arguments (the TLS cells' --tls options).
func redisBenchmark(addr, test string, n, pipeline int, extra ...string) (int64, float64, error) {
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := append([]string{"-h", host, "-p", port, "-q",
		"-n", strconv.Itoa(n), "-c", "50", "-r", "100000", "-P", strconv.Itoa(pipeline), "-t", strings.ToLower(test)},
		extra...)
	cmd := exec.CommandContext(ctx, "redis-benchmark", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("redis-benchmark: %v: %s", err, tail(out))
	}
	rate, err := parseRedisBenchmark(string(out), test)
	return int64(n), rate, err
}

// parseRedisBenchmark finds the rate of test in redis-benchmark -q output,
// whose progress lines are overwritten with carriage returns.
func parseRedisBenchmark(out, test string) (float64, error) {
	rate := 0.0
	for _, line := range strings.FieldsFunc(out, func(r rune) bool { return r == '\r' || r == '\n' }) {
		line = strings.TrimSpace(line)
		if strings.Contains(strings.ToLower(line), "error") {
			return 0, fmt.Errorf("redis-benchmark: %s", line)
		}
		if m := redisRate.FindStringSubmatch(line); m != nil && m[1] == test {
			rate, _ = strconv.ParseFloat(m[2], 64)
		}
	}
	if rate <= 0 {
		return 0, fmt.Errorf("redis-benchmark printed no rate for %s: %s", test, tail([]byte(out)))
	}
	return rate, nil
}

// runWrk runs wrk -t1 -c50 against addr, with pipeline.lua when pipeline >
// 1, and returns the replies it counted and their rate. Socket errors and
// non-2xx/3xx replies fail the run.
func runWrk(addr, script string, pipeline int, d time.Duration) (int64, float64, error) {
	return runWrkURL("http://"+addr+"/", script, pipeline, d)
}

// runWrkURL is runWrk for any URL (https:// in the TLS cells).
func runWrkURL(url, script string, pipeline int, d time.Duration) (int64, float64, error) {
	args := []string{"-t1", "-c50", "-d", fmt.Sprintf("%ds", max(1, int(d.Round(time.Second)/time.Second))),
		"--timeout", "5s"}
	if pipeline > 1 {
		args = append(args, "-s", script, url, "--", strconv.Itoa(pipeline))
	} else {
		args = append(args, url)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "wrk", args...).CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("wrk: %v: %s", err, tail(out))
	}
	return parseWrk(string(out))
}

var (
	wrkTotal = regexp.MustCompile(`(?m)^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m)`)
	wrkRate  = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
)

func parseWrk(out string) (int64, float64, error) {
	for _, bad := range []string{"Socket errors", "Non-2xx"} {
		if i := strings.Index(out, bad); i >= 0 {
			line, _, _ := strings.Cut(out[i:], "\n")
			return 0, 0, fmt.Errorf("wrk: %s", strings.TrimSpace(line))
		}
	}
	t, r := wrkTotal.FindStringSubmatch(out), wrkRate.FindStringSubmatch(out)
	if t == nil || r == nil {
		return 0, 0, fmt.Errorf("wrk printed no summary: %s", tail([]byte(out)))
	}
	n, _ := strconv.ParseInt(t[1], 10, 64)
	rate, _ := strconv.ParseFloat(r[1], 64)
	return n, rate, nil
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = "…" + s[len(s)-300:]
	}
	return s
}

// respCheck makes one SET and one GET and checks the replies byte for byte.
func respCheck(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	return respCheckConn(c)
}

// respCheckConn is respCheck on a connection made; it closes c.
func respCheckConn(c net.Conn) error {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	req := "*3\r\n$3\r\nSET\r\n$5\r\nbench\r\n$2\r\nok\r\n*2\r\n$3\r\nGET\r\n$5\r\nbench\r\n"
	want := "+OK\r\n$2\r\nok\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		return err
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(bufio.NewReader(c), got); err != nil {
		return fmt.Errorf("SET/GET check: %w", err)
	}
	if string(got) != want {
		return fmt.Errorf("SET/GET check: got %q, want %q", got, want)
	}
	return nil
}

// httpCheck fetches / and checks it is index.html.
func httpCheck(addr string) error {
	return httpCheckURL(&http.Client{Timeout: 5 * time.Second}, "http://"+addr+"/")
}

// httpCheckURL fetches url with cl and checks it is index.html.
func httpCheckURL(cl *http.Client, url string) error {
	resp, err := cl.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || string(body) != indexHTML {
		return fmt.Errorf("GET %s: status %d, body %q", url, resp.StatusCode, body)
	}
	return nil
}

// childrenCPU is the user and system time of this process's children that
// have ended. The servers of a suite run until the suite ends, so around one
// client run it grows by that client's CPU time alone.
func childrenCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
