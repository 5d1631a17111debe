package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/loop"
)

// The workload of redis-benchmark -c 50 -r 100000 -t set,get,mset -P 1|16,
// the figure the bench harness compares with redis-server, driven in the
// test's goroutine over a socket pair: no client process, no scheduler, so
// that a profile or an allocation count shows the server's own work.

// benchKeys is redis-benchmark's -r: keys are "key:" and 12 digits of a
// random number below it.
const benchKeys = 100000

// benchValue is what redis-benchmark stores: -d 3 bytes of 'x'.
const benchValue = "xxx"

// benchKey is redis-benchmark's key:__rand_int__ for n.
func benchKey(n int) string { return fmt.Sprintf("key:%012d", n) }

// benchBatch is one write of redis-benchmark: pipeline requests of one test
// with random keys, and the length of their replies.
type benchBatch struct {
	req      []byte
	replyLen int
}

// benchBatches makes count batches of test ("SET", "GET" or "MSET"), each of
// pipeline requests, as redis-benchmark sends them. Every key exists (see
// benchConn), so a GET's reply is the value.
func benchBatches(test string, pipeline, count int) []benchBatch {
	r := rand.New(rand.NewPCG(1, 2))
	key := func() string { return benchKey(r.IntN(benchKeys)) }
	batches := make([]benchBatch, count)
	for i := range batches {
		b := &batches[i]
		for range pipeline {
			switch test {
			case "SET":
				b.req = append(b.req, encode("SET", key(), benchValue)...)
				b.replyLen += len("+OK\r\n")
			case "GET":
				b.req = append(b.req, encode("GET", key())...)
				b.replyLen += len("$3\r\nxxx\r\n")
			case "MSET":
				args := []string{"MSET"}
				for range 10 {
					args = append(args, key(), benchValue)
				}
				b.req = append(b.req, encode(args...)...)
				b.replyLen += len("+OK\r\n")
			default:
				panic("no such test: " + test)
			}
		}
	}
	return batches
}

// benchConn is one client connection of the server, driven by hand.
type benchConn struct {
	l    *loop.Loop
	srv  *server
	peer int
	buf  []byte
}

// newBenchConn makes a server on its own loop with every key of the workload
// set, and one connection to it over a socket pair.
func newBenchConn(tb testing.TB) *benchConn {
	tb.Helper()
	m := loop.NewMap()
	l, err := loop.New(loop.Options{Map: m, Timeout: -1})
	if err != nil {
		tb.Fatal(err)
	}
	fds, err := testutil.NewSocketpair()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = unix.Close(fds[1])
		_ = dispatcher.CloseAll(m, true)
		_ = l.Close()
	})
	srv := &server{db: newStore(), started: time.Now(), maxRequest: 64 << 20}
	srv.Init(srv, m)
	for i := range benchKeys {
		key := []byte(benchKey(i))
		srv.db.set(srv.db.get(key), key, []byte(benchValue))
	}
	srv.HandleAccepted(fds[0], nil)
	return &benchConn{l: l, srv: srv, peer: fds[1], buf: make([]byte, 64<<10)}
}

// roundTrip writes b's requests and runs the loop until their replies have
// all been read.
func (c *benchConn) roundTrip(tb testing.TB, b *benchBatch) {
	if _, err := unix.Write(c.peer, b.req); err != nil {
		tb.Fatal(err) // a batch is far smaller than the socket buffer
	}
	for got, i := 0, 0; got < b.replyLen; i++ {
		if i == 1000 {
			tb.Fatalf("%d of %d bytes of replies after 1000 loop iterations", got, b.replyLen)
		}
		if err := c.l.RunOnce(0); err != nil {
			tb.Fatal(err)
		}
		for got < b.replyLen {
			n, err := unix.Read(c.peer, c.buf)
			if errors.Is(err, unix.EAGAIN) {
				break
			}
			if err != nil || n == 0 {
				tb.Fatalf("read: %d, %v", n, err)
			}
			got += n
		}
	}
}

// TestBenchmarkWorkloadAllocs checks that redis-benchmark's SET and GET,
// and MSET, of keys that exist allocate nothing, one request per write or
// sixteen: the server's own work, counted as mallocs over many batches.
func TestBenchmarkWorkloadAllocs(t *testing.T) {
	for _, test := range []string{"SET", "GET", "MSET"} {
		for _, p := range []int{1, 16} {
			t.Run(fmt.Sprintf("%s/P%d", test, p), func(t *testing.T) {
				c := newBenchConn(t)
				batches := benchBatches(test, p, 64)
				for i := range batches { // grow every buffer
					c.roundTrip(t, &batches[i])
				}
				i := 0
				allocs := testing.AllocsPerRun(len(batches)*4, func() {
					c.roundTrip(t, &batches[i%len(batches)])
					i++
				})
				if allocs != 0 {
					t.Errorf("%.3f allocations per batch of %d %s requests, want 0", allocs, p, test)
				}
			})
		}
	}
}

// BenchmarkWorkload is redis-benchmark's workload served in-process: ns/req
// is the server's time per request, with the client's writes and reads of
// the socket pair (small next to it) counted in; cpu-ns/req is the same in
// the process's CPU time, which other processes on a shared machine do not
// inflate as they do the wall-clock time.
func BenchmarkWorkload(b *testing.B) {
	for _, test := range []string{"SET", "GET", "MSET"} {
		for _, p := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/P%d", test, p), func(b *testing.B) {
				c := newBenchConn(b)
				batches := benchBatches(test, p, 4096)
				for i := range batches {
					c.roundTrip(b, &batches[i])
				}
				runtime.GC() // the set-up's garbage, not to be collected on the clock
				b.ReportAllocs()
				b.ResetTimer()
				cpu0 := cpuTime(b)
				i := 0
				for b.Loop() {
					c.roundTrip(b, &batches[i%len(batches)])
					i++
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i*p), "ns/req")
				b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(i*p), "cpu-ns/req")
			})
		}
	}
}

// TestSmallEntryOneObject checks that a new key with a small value is one
// object on the heap: its key and value live inside the entry, so that a
// lookup, which compares the key, has already brought the entry's deadline
// and value into the cache.
func TestSmallEntryOneObject(t *testing.T) {
	db := newStore()
	key, val := []byte(benchKey(42)), []byte(benchValue)
	allocs := testing.AllocsPerRun(100, func() {
		db.remove(db.set(nil, key, val))
	})
	if allocs != 1 {
		t.Errorf("a new key of %d bytes with a value of %d takes %.1f allocations, want 1", len(key), len(val), allocs)
	}
	e := db.set(nil, key, val)
	if e.key != string(key) || string(e.val) != benchValue || db.get(key) != e {
		t.Fatalf("entry %q = %q", e.key, e.val)
	}
}

// cpuTime is the CPU time the process has used, user and system, in
// nanoseconds.
func cpuTime(tb testing.TB) int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
