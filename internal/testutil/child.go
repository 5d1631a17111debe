//go:build linux

package testutil

// Child processes for the tests that need a resource limit of their own
// (docs/failure-modes.md#test-harness-notes): the test binary runs itself
// again, with one test selected and an environment variable naming the role the
// copy plays. A lowered RLIMIT_NOFILE then applies to the server alone, and the
// clients' descriptors stay out of its table.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ChildEnv is the environment variable that tells a copy of the test binary
// started by StartChild which role to play.
const ChildEnv = "ASYNCORE_TEST_CHILD"

// childPrefix marks the lines a child writes for its parent, so that they
// stand apart from what the testing package prints.
const childPrefix = "child: "

// childWait bounds each wait on a child: for a line it was asked for, and
// for it to exit once its input is closed. It is a hang guard: a child on
// a busy machine can take seconds to answer.
const childWait = HangGuard

// ChildRole returns the role this process was started to play by
// StartChild, or "" in an ordinary test run. A helper test returns at once
// when it is "".
func ChildRole() string { return os.Getenv(ChildEnv) }

// ChildSay writes one line for the parent to read with Child.Expect. It is
// one write(2), so lines written from different goroutines do not mix.
func ChildSay(format string, args ...any) {
	_, _ = os.Stdout.WriteString(childPrefix + fmt.Sprintf(format, args...) + "\n")
}

// ChildCommands calls handle with each line the parent sends with
// Child.Send, on a goroutine of its own, and calls done when the parent
// closes the child's input (Child.Stop) or the input fails.
func ChildCommands(handle func(cmd string), done func()) {
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			handle(strings.TrimSpace(sc.Text()))
		}
		done()
	}()
}

// LimitFDs sets both the soft and the hard RLIMIT_NOFILE of this process
// to n. The Go runtime raises the soft limit to the hard one at start-up
// (go.dev/issue/46279), so a limit inherited from the parent would not
// hold; lowering the hard limit too keeps the process from raising it back.
func LimitFDs(n uint64) error {
	return unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: n, Max: n})
}

// Child is a running copy of the test binary. Its lines marked by ChildSay
// are read with Expect; everything else it prints is kept and logged when
// the test ends, to explain a failure.
type Child struct {
	t     testing.TB
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	// Pid is the child's process id, for ProcCPU and ProcFDs.
	Pid int

	mu     sync.Mutex
	output bytes.Buffer // everything the child printed
	exited chan struct{}
	err    error // from Wait, once exited is closed
}

// StartChild runs the test binary again with only the test named test
// selected, ChildEnv set to role and env added to the environment. The
// child is killed, if it is still running, when the test ends; Stop ends
// it cleanly before.
func StartChild(t testing.TB, test, role string, env ...string) *Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), ChildEnv+"="+role), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("child stdin: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("child stdout: %v", err)
	}
	c := &Child{t: t, cmd: cmd, stdin: stdin, lines: make(chan string, 64), exited: make(chan struct{})}
	cmd.Stderr = writerFunc(func(p []byte) (int, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.output.Write(p)
	})
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	c.Pid = cmd.Process.Pid
	read := make(chan struct{})
	go func() {
		defer close(read)
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, childPrefix); ok {
				c.lines <- rest
				continue
			}
			c.mu.Lock()
			c.output.WriteString(line + "\n")
			c.mu.Unlock()
		}
	}()
	go func() {
		<-read // Wait closes stdout: read it to the end first
		c.err = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			_ = cmd.Process.Kill()
			<-c.exited
		}
		if t.Failed() {
			c.mu.Lock()
			t.Logf("child %s output:\n%s", role, c.output.String())
			c.mu.Unlock()
		}
	})
	return c
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// Send writes one command line to the child's input.
func (c *Child) Send(cmd string) {
	c.t.Helper()
	if _, err := io.WriteString(c.stdin, cmd+"\n"); err != nil {
		c.t.Fatalf("send %q to child: %v", cmd, err)
	}
}

// Expect waits up to HangGuard for the child's next line and returns what
// follows word and a space in it, failing the test if the line does not
// start with word or none comes.
func (c *Child) Expect(word string) string {
	c.t.Helper()
	select {
	case line, ok := <-c.lines:
		if !ok {
			c.t.Fatalf("child exited while %q was expected", word)
		}
		rest, found := strings.CutPrefix(line, word+" ")
		if !found {
			c.t.Fatalf("child said %q, want %q", line, word+" …")
		}
		return rest
	case <-time.After(childWait):
		c.t.Fatalf("child did not say %q within %v", word, childWait)
	}
	return ""
}

// Ask sends cmd and returns the child's answer, a line starting with cmd,
// as an integer.
func (c *Child) Ask(cmd string) int {
	c.t.Helper()
	c.Send(cmd)
	s := c.Expect(cmd)
	n, err := strconv.Atoi(s)
	if err != nil {
		c.t.Fatalf("child answered %q to %q", s, cmd)
	}
	return n
}

// Stop closes the child's input, which tells it to shut down, and waits up
// to HangGuard for it to exit; the test fails unless it exits with status 0.
func (c *Child) Stop() {
	c.t.Helper()
	_ = c.stdin.Close()
	select {
	case <-c.exited:
		if c.err != nil {
			c.t.Errorf("child: %v", c.err)
		}
	case <-time.After(childWait):
		_ = c.cmd.Process.Kill()
		c.t.Errorf("child did not exit within %v of being told to", childWait)
	}
}

// clockTick is the unit of the CPU times in /proc/<pid>/stat: USER_HZ,
// which is 100 on every Linux architecture (proc(5), "sysconf(_SC_CLK_TCK)").
const clockTick = 10 * time.Millisecond

// ProcCPU returns the CPU time (user and system) used so far by process
// pid, from fields 14 and 15 of /proc/<pid>/stat. Its resolution is 10ms.
func ProcCPU(pid int) (time.Duration, error) {
	return statCPU("/proc/" + strconv.Itoa(pid) + "/stat")
}

// ThreadCPU returns the CPU time used so far by thread tid of this
// process (unix.Gettid), from /proc/self/task/<tid>/stat.
func ThreadCPU(tid int) (time.Duration, error) {
	return statCPU("/proc/self/task/" + strconv.Itoa(tid) + "/stat")
}

func statCPU(path string) (time.Duration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces
	// and parentheses itself: the fields after it start after the last
	// ')'. There they are field 3 (state) onwards.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%s: no command name", path)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("%s: %d fields after the name", path, len(f))
	}
	var ticks int64
	for _, s := range f[11:13] { // utime (14) and stime (15)
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// ProcFDs counts the open descriptors of process pid (/proc/<pid>/fd); -1
// if they cannot be listed.
func ProcFDs(pid int) int {
	entries, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return -1
	}
	return len(entries)
}

// ProcFDsFrom counts the open descriptors of process pid numbered from
// upwards; -1 if they cannot be listed. A child whose RLIMIT_NOFILE was
// lowered to n can still hold descriptors above n - 1 that were open before
// (an inherited one, say): they do not take any of its n slots.
func ProcFDsFrom(pid, from int) int {
	entries, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return -1
	}
	n := 0
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd >= from {
			n++
		}
	}
	return n
}
