//go:build soak

package soak

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// opTimeout bounds every client connection: its whole conversation must end
// within it, or the client fails (honest) or gives up (chaos).
const opTimeout = 30 * time.Second

// slowTimeout replaces opTimeout for clients that read slowly: their pace
// is set by sleeps, which stretch when the machine is busy.
const slowTimeout = 90 * time.Second

// tally is a set of named counters that many goroutines add to.
type tally struct {
	mu sync.Mutex
	n  map[string]int64
}

func (t *tally) add(name string, d int64) {
	t.mu.Lock()
	if t.n == nil {
		t.n = make(map[string]int64)
	}
	t.n[name] += d
	t.mu.Unlock()
}

// most raises name to v if v is larger.
func (t *tally) most(name string, v int64) {
	t.mu.Lock()
	if t.n == nil {
		t.n = make(map[string]int64)
	}
	t.n[name] = max(t.n[name], v)
	t.mu.Unlock()
}

func (t *tally) get(name string) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n[name]
}

// String lists the counters in name order, prefix grouped.
func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	names := make([]string, 0, len(t.n))
	for k := range t.n {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		fmt.Fprintf(&b, "\n\t%-28s %d", k, t.n[k])
	}
	return b.String()
}

// run is one soak run's shared state: the test, the clients' deadline and
// what the clients counted.
type run struct {
	t    *testing.T
	ctx  context.Context // done when the clients should stop
	seed uint64

	conns tally // connections per "target/kind"
	dials tally // successful dials per target, stats connections included
	sent  tally // bytes honest clients sent, per target
	good  tally // bytes honest clients got back and checked, per target
	seen  tally // confirmed outcomes: "line/panic", "line/toolong", ...
	slow  tally // the longest connection of each kind, in milliseconds

	errs atomic.Int64
}

// fail records a broken invariant. It may be called from any goroutine
// until the test's goroutines have been joined; only the first failures are
// printed, so that one broken server does not bury the log.
func (r *run) fail(format string, args ...any) {
	if r.errs.Add(1) <= 40 {
		r.t.Errorf(format, args...)
	}
}

// dial connects to addr and counts the connection for target. The whole
// connection must be over within opTimeout.
func (r *run) dial(target, addr string) (*net.TCPConn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	r.dials.add(target, 1)
	tc := c.(*net.TCPConn)
	_ = tc.SetDeadline(time.Now().Add(opTimeout))
	return tc, nil
}

// scenario is one kind of client: it runs one connection's worth of
// behaviour and returns an error only when the server broke a promise.
// Errors a chaos client causes itself (a reset, a closed socket) are not
// returned.
type scenario struct {
	name   string
	weight int
	run    func(rng *rand.Rand) error
}

// pool runs workers goroutines that pick scenarios at random, by weight,
// until r.ctx is done, and returns once they have all stopped. A failed
// scenario fails the test; a panic in a client goroutine is recovered and
// fails it too.
func (r *run) pool(target string, workers int, scenarios []scenario) {
	total := 0
	for _, s := range scenarios {
		total += s.weight
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if v := recover(); v != nil {
					r.fail("%s client %d panicked: %v", target, w, v)
				}
			}()
			rng := rand.New(rand.NewPCG(r.seed, uint64(w)<<32|uint64(len(target))<<16|uint64(target[0])))
			for r.ctx.Err() == nil {
				k := rng.IntN(total)
				s := scenarios[0]
				for _, c := range scenarios {
					if k < c.weight {
						s = c
						break
					}
					k -= c.weight
				}
				r.conns.add(target+"/"+s.name, 1)
				began := time.Now()
				if err := s.run(rng); err != nil {
					r.fail("%s/%s: %v", target, s.name, err)
				}
				r.slow.most(target+"/"+s.name, time.Since(began).Milliseconds())
				// Pacing, not synchronisation: leave the other
				// processes on this machine some CPU and ports.
				time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
			}
		}()
	}
	wg.Wait()
}

// cuts splits n bytes into 1 to 32 pieces at random points.
func cuts(rng *rand.Rand, n int) []int {
	if n <= 1 {
		return []int{n}
	}
	pieces := 1 + rng.IntN(min(32, n))
	at := make([]int, 0, pieces+1)
	for range pieces - 1 {
		at = append(at, 1+rng.IntN(n-1))
	}
	at = append(at, n)
	slices.Sort(at)
	at = slices.Compact(at)
	return at
}

// writeSplit writes data in pieces split at random points: the server must
// frame it the same whatever the reads it gets.
func writeSplit(c net.Conn, data []byte, rng *rand.Rand) error {
	prev := 0
	for _, at := range cuts(rng, len(data)) {
		if _, err := c.Write(data[prev:at]); err != nil {
			return err
		}
		prev = at
	}
	return nil
}

// writeAsync runs writeSplit, then CloseWrite if halfClose, on a goroutine
// with its own generator, and returns the channel its error arrives on, so
// the caller can read the replies while the request is still going out.
func writeAsync(c *net.TCPConn, data []byte, rng *rand.Rand, halfClose bool) <-chan error {
	wrng := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
	done := make(chan error, 1)
	go func() {
		err := writeSplit(c, data, wrng)
		if err == nil && halfClose {
			err = c.CloseWrite()
		}
		done <- err
	}()
	return done
}

// readFull fills buf from r; slow makes it read a little at a time with a
// pause in between, as a client on a slow link would.
func readFull(r io.Reader, buf []byte, slow bool, rng *rand.Rand) error {
	if !slow {
		_, err := io.ReadFull(r, buf)
		return err
	}
	began := time.Now()
	for off := 0; off < len(buf); {
		n, err := r.Read(buf[off:min(len(buf), off+1024+rng.IntN(16<<10))])
		off += n
		if err != nil && off < len(buf) {
			return fmt.Errorf("slow read, %d of %d bytes in %v: %w", off, len(buf), time.Since(began).Round(time.Millisecond), err)
		}
		time.Sleep(time.Duration(1+rng.IntN(3)) * time.Millisecond)
	}
	return nil
}

// expectEOF reads from c until EOF and fails if anything else arrives.
func expectEOF(c net.Conn) error {
	var b [64]byte
	n, err := c.Read(b[:])
	if n > 0 {
		return fmt.Errorf("%d unexpected bytes after the replies: %q", n, b[:n])
	}
	if !errors.Is(err, io.EOF) {
		return fmt.Errorf("want EOF after the replies, got %v", err)
	}
	return nil
}

// expectClosed reads and drops input until the server ends the connection
// (EOF or a reset) and returns what it read; it fails if the connection
// is still open when its deadline passes.
func expectClosed(c net.Conn) ([]byte, error) {
	var got bytes.Buffer
	var b [4096]byte
	for {
		n, err := c.Read(b[:])
		if got.Len() < 1<<16 {
			got.Write(b[:n])
		}
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return got.Bytes(), fmt.Errorf("server did not close the connection: %v", err)
		}
		return got.Bytes(), nil // EOF or a reset: closed either way
	}
}

// reset closes c with SO_LINGER 0, so the peer gets an RST.
func reset(c *net.TCPConn) {
	_ = c.SetLinger(0)
	_ = c.Close()
}

// randBytes returns n random bytes.
func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := rng.Uint64()
		for j := i; j < min(n, i+8); j++ {
			b[j] = byte(v)
			v >>= 8
		}
	}
	return b
}

// randText returns n printable ASCII bytes: no space, CR or LF, and no
// slash in front, which the chatroom would take for a command.
func randText(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(' ' + 1 + rng.IntN('~'-' '))
	}
	if n > 0 && b[0] == '/' {
		b[0] = '.'
	}
	return b
}

// randSize picks a payload size: mostly small, sometimes up to most.
func randSize(rng *rand.Rand, most int) int {
	switch p := rng.IntN(100); {
	case p < 70:
		return rng.IntN(min(most, 1024) + 1)
	case p < 95:
		return rng.IntN(min(most, 64<<10) + 1)
	default:
		return rng.IntN(most + 1)
	}
}

// series is a sampled value over time, for a bound and the summary.
type series struct {
	mu   sync.Mutex
	at   []time.Duration
	v    []uint64
	peak uint64
}

func (s *series) add(at time.Duration, v uint64) {
	s.mu.Lock()
	s.at = append(s.at, at)
	s.v = append(s.v, v)
	s.peak = max(s.peak, v)
	s.mu.Unlock()
}

func (s *series) max() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// String shows up to 16 evenly spaced samples in MiB.
func (s *series) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.v) == 0 {
		return "no samples"
	}
	step := max(1, len(s.v)/16)
	var b strings.Builder
	for i := 0; i < len(s.v); i += step {
		fmt.Fprintf(&b, " %v:%.1f", s.at[i].Round(time.Second), float64(s.v[i])/(1<<20))
	}
	fmt.Fprintf(&b, " (MiB; peak %.1f, %d samples)", float64(s.peak)/(1<<20), len(s.v))
	return b.String()
}

// eventually polls cond every 50ms until it returns nil or timeout passes,
// and returns its last error.
func eventually(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
