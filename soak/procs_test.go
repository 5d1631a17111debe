//go:build soak

package soak

// Part 2: the examples as processes of their own, built for the run.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/internal/testutil"
)

// examples are the servers Part 2 runs.
var examples = []string{"echo", "resp", "httpd", "chatroom"}

// buildExamples builds the example binaries into a temporary directory and
// returns it.
func buildExamples(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, e := range examples {
		args = append(args, "./examples/"+e)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = ".." // the module root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return dir
}

// proc is a running example.
type proc struct {
	name   string
	cmd    *exec.Cmd
	addr   string
	exited chan struct{} // closed once the process has been waited for
	err    error         // Wait's result, once exited is closed

	mu    sync.Mutex
	tail  []string // its last lines of log
	lines int

	baseFDs   int
	baseList  string         // fdList at the start
	baseKinds map[string]int // fdKinds at the start
	rss       series
}

var listeningAddr = regexp.MustCompile(`listening addr=(\S+)`)

// startProc starts bin with args and waits for its "listening addr=..." log
// line.
func startProc(t *testing.T, name, bin string, args ...string) (*proc, error) {
	p := &proc{name: name, cmd: exec.Command(bin, args...), exited: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if m := listeningAddr.FindStringSubmatch(line); m != nil {
				select {
				case ready <- m[1]:
				default:
				}
			}
			p.mu.Lock()
			p.lines++
			p.tail = append(p.tail, line)
			if len(p.tail) > 50 {
				p.tail = p.tail[1:]
			}
			p.mu.Unlock()
		}
		// Every read from the pipe is done: now Wait may close it.
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	select {
	case p.addr = <-ready:
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("%s exited before listening: %v\n%s", name, p.err, p.log())
	case <-time.After(testutil.HangGuard):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return nil, fmt.Errorf("%s did not report its address within %v\n%s", name, testutil.HangGuard, p.log())
	}
}

// log returns the process's last lines of log.
func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("%s: %d log lines, the last %d:\n\t%s", p.name, p.lines, len(p.tail), strings.Join(p.tail, "\n\t"))
}

// alive reports an error if the process has exited.
func (p *proc) alive() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited during the run: %v\n%s", p.name, p.err, p.log())
	default:
		return nil
	}
}

// fds counts the process's open descriptors.
func (p *proc) fds() (int, error) {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
	return len(entries), err
}

// fdList names the process's open descriptors, for a failure message.
func (p *proc) fdList() string {
	dir := fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, e := range entries {
		target, _ := os.Readlink(filepath.Join(dir, e.Name()))
		fmt.Fprintf(&b, " %s->%s", e.Name(), target)
	}
	return b.String()
}

// fdKinds counts the process's descriptors by what they are: the target of
// the /proc link, with a socket's or pipe's inode number left out.
func (p *proc) fdKinds() (map[string]int, error) {
	dir := fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	kinds := map[string]int{}
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed since the listing
		}
		if i := strings.Index(target, ":["); i > 0 && !strings.HasPrefix(target, "anon_inode") {
			target = target[:i]
		}
		kinds[target]++
	}
	return kinds, nil
}

// fdsBack reports whether the process holds the descriptors it held at
// the start. One thing may be added: the Go runtime's own netpoller (an
// epoll instance and its eventfd), which the runtime opens the first time
// it needs it — when a runtime timer is first armed, for one, which a
// garbage collector under load does — and keeps for the life of the
// process. The library's poller and waker are the pair present at the
// start.
func (p *proc) fdsBack() (runtimePoller bool, err error) {
	now, err := p.fdKinds()
	if err != nil {
		return false, err
	}
	const ep, ev = "anon_inode:[eventpoll]", "anon_inode:[eventfd]"
	if now[ep] == p.baseKinds[ep]+1 && now[ev] == p.baseKinds[ev]+1 {
		runtimePoller = true
		now[ep]--
		now[ev]--
	}
	for k, n := range now {
		if n != p.baseKinds[k] {
			return runtimePoller, fmt.Errorf("%d of %s open, %d at the start", n, k, p.baseKinds[k])
		}
	}
	for k, n := range p.baseKinds {
		if now[k] != n {
			return runtimePoller, fmt.Errorf("%d of %s open, %d at the start", now[k], k, n)
		}
	}
	return runtimePoller, nil
}

// vmRSS reads the process's resident set size in bytes.
func (p *proc) vmRSS() (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := strings.Fields(string(rest))
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseUint(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, errors.New("no VmRSS line")
}

// terminate sends SIGTERM and requires the process to exit 0 within 15s.
func (p *proc) terminate() error {
	if err := p.alive(); err != nil {
		return err
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.exited:
	case <-time.After(testutil.HangGuard):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not exit within %v of SIGTERM\n%s", p.name, testutil.HangGuard, p.log())
	}
	if p.err != nil {
		return fmt.Errorf("%s after SIGTERM: %v\n%s", p.name, p.err, p.log())
	}
	return nil
}

// kill ends the process if it is still running (clean-up after a failure).
func (p *proc) kill() {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}
