package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// The load generator is a closed loop: each of Conns connections keeps
// Inflight requests of Payload bytes outstanding, and sends a new request
// each time a reply completes. Every request is newline-terminated printable
// text, so the same traffic serves the byte-echo and the line-protocol
// servers: the reply to a request is the request itself. Every byte that
// comes back is compared with what was sent; a mismatch is a hard error.

// loadSpec is one cell's load.
type loadSpec struct {
	Addr     string
	Conns    int
	Payload  int // bytes per request, the final '\n' included
	Inflight int
	MaxReqs  int64 // stop early after this many measured replies
	// TLS, when set, makes every connection a crypto/tls client with this
	// configuration; the handshake completes before the load starts.
	TLS *tls.Config
}

// Phases of a run. Replies are counted and timed only while measuring.
const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseStop
)

// loadRun is a running load generator. The harness moves it through the
// phases and reads the result once it stops.
type loadRun struct {
	spec    loadSpec
	phase   atomic.Int32
	count   atomic.Int64 // measured replies, all connections
	maxed   chan struct{}
	maxOnce sync.Once
	conns   []net.Conn
	wg      sync.WaitGroup
	errMu   sync.Mutex
	err     error
	hists   []*histogram
	// negotiated describes the first connection's TLS parameters
	// (describeTLS); "" without TLS.
	negotiated string
}

// template holds the printable pattern every request is cut from: request
// seq on connection c is template[(seq+c)%26:][:Payload-1] followed by '\n'.
func template(payload int) []byte {
	t := make([]byte, payload+26)
	for i := range t {
		t[i] = 'a' + byte(i%26)
	}
	return t
}

// request returns the bytes of request seq on connection c.
func request(tmpl []byte, c int, seq uint64, payload int) []byte {
	off := int((seq + uint64(c)) % 26)
	return tmpl[off : off+payload-1]
}

// startLoad dials every connection and starts the traffic in the warm-up
// phase.
func startLoad(spec loadSpec) (*loadRun, error) {
	if spec.Payload < 2 {
		return nil, errors.New("payload must be at least 2 bytes")
	}
	r := &loadRun{spec: spec, maxed: make(chan struct{})}
	for i := 0; i < spec.Conns; i++ {
		c, err := net.DialTimeout("tcp", spec.Addr, 5*time.Second)
		if err == nil && spec.TLS != nil {
			var tc *tls.Conn
			if tc, err = handshake(c, spec.TLS); err == nil && i == 0 {
				r.negotiated = describeTLS(tc.ConnectionState())
			}
			c = tc
		}
		if err != nil {
			r.stop()
			return nil, fmt.Errorf("dial %d of %d: %w", i+1, spec.Conns, err)
		}
		r.conns = append(r.conns, c)
		r.hists = append(r.hists, new(histogram))
	}
	tmpl := template(spec.Payload)
	for i, c := range r.conns {
		r.wg.Add(1)
		go r.drive(i, c, tmpl)
	}
	return r, nil
}

// handshake makes c a TLS client connection and completes its handshake
// within 10 s. On failure c is closed.
func handshake(c net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	tc := tls.Client(c, cfg)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	_ = c.SetDeadline(time.Time{})
	return tc, nil
}

func (r *loadRun) fail(err error) {
	r.errMu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.errMu.Unlock()
	r.maxOnce.Do(func() { close(r.maxed) })
}

// drive runs one connection: Inflight requests out, then one more for each
// reply that completes. Writes are batched per read.
func (r *loadRun) drive(id int, c net.Conn, tmpl []byte) {
	defer r.wg.Done()
	p, k := r.spec.Payload, r.spec.Inflight
	sent := make([]time.Time, k) // ring of send times, oldest at done%k
	var next, done uint64        // requests sent, replies completed
	var got int                  // bytes of the current reply received
	out := make([]byte, 0, k*p)
	in := make([]byte, 16<<10)
	hist := r.hists[id]

	send := func(now time.Time) {
		out = append(out, request(tmpl, id, next, p)...)
		out = append(out, '\n')
		sent[next%uint64(k)] = now
		next++
	}
	now := time.Now()
	for range k {
		send(now)
	}
	for {
		if len(out) > 0 {
			if _, err := c.Write(out); err != nil {
				if r.phase.Load() != phaseStop {
					r.fail(fmt.Errorf("conn %d: write: %w", id, err))
				}
				return
			}
			out = out[:0]
		}
		n, err := c.Read(in)
		if n == 0 && err != nil {
			if r.phase.Load() != phaseStop {
				r.fail(fmt.Errorf("conn %d: read after %d replies: %w", id, done, err))
			}
			return
		}
		now = time.Now()
		phase := r.phase.Load()
		completed := int64(0)
		data := in[:n]
		for len(data) > 0 {
			want := request(tmpl, id, done, p)
			var exp []byte
			if got < p-1 {
				exp = want[got:]
			}
			m := min(len(data), p-got)
			// Compare the body part, then the newline.
			body := min(m, len(exp))
			if !bytes.Equal(data[:body], exp[:body]) || (m > body && data[body] != '\n') {
				r.fail(fmt.Errorf("conn %d: reply %d: byte mismatch at offset %d", id, done, got))
				return
			}
			data = data[m:]
			got += m
			if got == p {
				if phase == phaseMeasure {
					hist.record(now.Sub(sent[done%uint64(k)]))
					completed++
				}
				done++
				got = 0
				if phase != phaseStop {
					send(now)
				}
			}
		}
		if completed > 0 && r.count.Add(completed) >= r.spec.MaxReqs && r.spec.MaxReqs > 0 {
			r.maxOnce.Do(func() { close(r.maxed) })
		}
		if phase == phaseStop {
			return
		}
	}
}

// stop ends the traffic, closes every connection and waits for the drivers.
func (r *loadRun) stop() error {
	r.phase.Store(phaseStop)
	for _, c := range r.conns {
		_ = c.Close()
	}
	r.wg.Wait()
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.err
}

// starved counts the connections that completed no reply while measuring.
func (r *loadRun) starved() int {
	n := 0
	for _, h := range r.hists {
		if h.n == 0 {
			n++
		}
	}
	return n
}

// latencies merges the per-connection histograms.
func (r *loadRun) latencies() *histogram {
	h := new(histogram)
	for _, c := range r.hists {
		h.merge(c)
	}
	return h
}

// histogram is a log-linear latency histogram in nanoseconds: values below
// 2^subBits land in exact buckets, larger ones in one of 2^subBits buckets
// per power of two, so any recorded value is off by less than 1/32 (3%).
type histogram struct {
	n       int64
	buckets [64 << subBits]int64
}

const subBits = 5

func bucketOf(v uint64) int {
	if v < 1<<subBits {
		return int(v)
	}
	e := bits.Len64(v) - 1 - subBits // how far v is shifted to keep subBits+1 bits
	return (e+1)<<subBits + int(v>>uint(e)) - 1<<subBits
}

// lowest returns the smallest value that lands in bucket b.
func lowest(b int) uint64 {
	if b < 1<<subBits {
		return uint64(b)
	}
	e := b>>subBits - 1
	return uint64(b&(1<<subBits-1)+1<<subBits) << uint(e)
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.buckets[bucketOf(uint64(d))]++
	h.n++
}

func (h *histogram) merge(o *histogram) {
	h.n += o.n
	for i, c := range o.buckets {
		h.buckets[i] += c
	}
}

// quantile returns the q-quantile (0..1), as the lower edge of its bucket.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(q*float64(h.n-1)) + 1
	var seen int64
	for b, c := range h.buckets {
		seen += c
		if seen >= rank {
			return time.Duration(lowest(b))
		}
	}
	return 0
}
