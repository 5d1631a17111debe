package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseCompare(t *testing.T) {
	builtin := []string{"asyncore-epoll", "gnet"}
	got, err := parseCompare(" old=/tmp/echo-old , old-poll=bin/echo ", builtin)
	if err != nil {
		t.Fatal(err)
	}
	want := []compareSpec{{"old", "/tmp/echo-old", "epoll"}, {"old-poll", "bin/echo", "poll"}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got, err := parseCompare("", builtin); err != nil || got != nil {
		t.Errorf("empty: %v, %v", got, err)
	}
	for _, bad := range []string{"old", "=/x", "old=", "old=/a,old=/b", "gnet=/x", "a b=/x", "a×2=/x"} {
		if _, err := parseCompare(bad, builtin); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestEchoSpecArgs: examples/echo's command line from the brief's contract.
func TestEchoSpecArgs(t *testing.T) {
	s := echoSpec("asyncore-poll", nil, "poll")
	if got := strings.Join(s.args(7, "echo"), " "); got != "-addr 127.0.0.1:7 -backend poll -nodelay=true" {
		t.Errorf("echo: %q", got)
	}
	if got := strings.Join(s.args(7, "line"), " "); got != "-addr 127.0.0.1:7 -backend poll -nodelay=true -line" {
		t.Errorf("line: %q", got)
	}
	if got := strings.Join(forIdle(s).args(7, "line"), " "); got != "-addr 127.0.0.1:7 -backend poll -nodelay=true -line -maxconns -1" {
		t.Errorf("idle: %q", got)
	}
	if got := strings.Join(s.args(7, "echo"), " "); got != "-addr 127.0.0.1:7 -backend poll -nodelay=true" {
		t.Errorf("forIdle changed the original: %q", got)
	}
	// select's default cap (FD_SETSIZE less 32) is under the c1000 cells.
	sel := echoSpec("asyncore-select", nil, "select")
	if got := strings.Join(sel.args(7, "echo"), " "); got != "-addr 127.0.0.1:7 -backend select -nodelay=true -maxconns -1" {
		t.Errorf("select: %q", got)
	}
	if got := strings.Join(s.withLoops(2).loopArgs(2), " "); got != "-loops 2" {
		t.Errorf("loops: %q", got)
	}
	if !slices.Equal(idleModes(s), []string{"echo", "line"}) {
		t.Errorf("idle modes %v", idleModes(s))
	}
	if idleSkip(s, 10000) != "" || idleSkip(echoSpec("x-select", nil, "select"), 10000) == "" {
		t.Error("idleSkip: only select is skipped")
	}
}

// TestSelectServers: -compare servers sit after our rows, also when
// -servers picks a subset, and a missing or non-executable binary is
// refused by its build.
func TestSelectServers(t *testing.T) {
	names := func(ss []*serverSpec) string {
		var n []string
		for _, s := range ss {
			n = append(n, s.Name)
		}
		return strings.Join(n, ",")
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "echo-old")
	usage := "#!/bin/sh\necho 'Usage of echo:' >&2\n"
	for _, f := range echoFlags {
		usage += "echo '  " + f + " string' >&2\n"
	}
	if err := os.WriteFile(exe, []byte(usage), 0o755); err != nil {
		t.Fatal(err)
	}
	ss, err := selectServers(allServers(), "c-epoll,asyncore-epoll,gnet", "old="+exe)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(ss); got != "c-epoll,asyncore-epoll,old,gnet" {
		t.Errorf("order %s", got)
	}
	if argv, err := ss[2].build(dir); err != nil || !slices.Equal(argv, []string{exe}) {
		t.Errorf("build: %v, %v", argv, err)
	}
	ss, err = selectServers(allServers(), "gnet", "old="+exe)
	if err != nil || names(ss) != "old,gnet" {
		t.Errorf("without ours: %s, %v", names(ss), err)
	}
	if _, err := selectServers(allServers(), "", "asyncore-epoll="+exe); err == nil {
		t.Error("a -compare name may not take a built-in server's")
	}
	// A build from before the command line (no -line, no -maxconns) is
	// refused when it is built, not after a wait in every cell.
	old := filepath.Join(dir, "echo-older")
	if err := os.WriteFile(old, []byte("#!/bin/sh\necho '  -addr string' >&2\necho '  -backend value' >&2\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := (compareSpec{Name: "x", Path: old, Backend: "epoll"}).spec().build(dir); err == nil ||
		!strings.Contains(err.Error(), "-loops, -line, -maxconns, -nodelay") {
		t.Errorf("an older build: %v", err)
	}
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{plain, filepath.Join(dir, "missing"), dir} {
		if _, err := (compareSpec{Name: "x", Path: p, Backend: "epoll"}).spec().build(dir); err == nil {
			t.Errorf("%s: built", p)
		}
	}
}

// TestFullMatrix: -full runs the line cells at both payloads, as issue 14's
// line target names them (c1/c50/c1000 × 64 B/4 KiB × k1/k16).
func TestFullMatrix(t *testing.T) {
	cells, err := matrix(true, "line", "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(cells) != 12 || !slices.Contains(cells, cell{"line", 1000, 4096, 16}) {
		t.Errorf("%d line cells: %v", len(cells), cells)
	}
	quick, _ := matrix(false, "", "", "", "")
	if !slices.Equal(quick, []cell{{"echo", 1, 64, 1}, {"echo", 1, 64, 16}, {"echo", 50, 64, 1},
		{"echo", 50, 64, 16}, {"line", 50, 64, 16}}) {
		t.Errorf("quick: %v", quick)
	}
}

// TestMissingFlags reads the flag package's usage text: examples/echo before
// the harness's command line lacks -line and -maxconns.
func TestMissingFlags(t *testing.T) {
	before := `Usage of /tmp/echo-base:
  -addr string
    	address to listen on (default "127.0.0.1:7007")
  -backend value
    	poller: epoll, kqueue, poll, select or best
  -loops int
    	TCP: event loops, one per thread, sharing the port with SO_REUSEPORT (default 1)
  -udp
    	echo UDP datagrams instead of TCP streams
  -v	log every connection
`
	if got := missingFlags(before); !slices.Equal(got, []string{"-line", "-maxconns", "-nodelay"}) {
		t.Errorf("before: %v", got)
	}
	after := before + "  -line\n    \tAsyncChat line echo\n  -maxconns int\n    \tSetMaxConns\n  -nodelay\n    \tTCP_NODELAY (default true)\n"
	if got := missingFlags(after); len(got) != 0 {
		t.Errorf("after: %v", got)
	}
}
