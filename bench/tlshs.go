package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// The handshake cell: each of hsWorkers client goroutines opens a
// connection, completes a full TLS 1.3 handshake (the client keeps no
// session cache, so nothing is resumed), makes one round trip and closes,
// over and over, through a warm-up and a measured interval that ends after
// the run's -duration or hsMax handshakes, whichever comes first. The
// figures are handshakes per second as the client counts them and the
// server's CPU time per handshake, read around the measured interval.
//
// Two pairs run: examples/httpd over HTTPS against net/http with TLS (one
// GET / with "Connection: close"; issue 15's target is set against this
// pair), and examples/echo against servers/gotls (one echoed line).

// hsWorkers is the number of client goroutines of the handshake cell.
const hsWorkers = 8

// hsPair is one comparison of the handshake cell.
type hsPair struct {
	name      string // "https" or "echo"
	ours, ref string
	// exchange makes the one round trip on a new connection.
	exchange func(f *tlsFiles, addr string) (negotiated string, err error)
}

var hsPairs = []hsPair{
	{name: "https", ours: oursHTTPS, ref: netHTTPS, exchange: httpsExchange},
	{name: "echo", ours: oursTLS, ref: goTLS, exchange: echoExchange},
}

// hsResult is one server's handshake run, one repetition.
type hsResult struct {
	Pair       string  `json:"pair"`
	Server     string  `json:"server"`
	Rep        int     `json:"rep"`
	Handshakes int64   `json:"handshakes"` // completed in the measured interval
	Seconds    float64 `json:"seconds"`
	PerSec     float64 `json:"handshakes_per_sec"`
	CPUusHS    float64 `json:"cpu_us_per_handshake"`
	TLS        string  `json:"tls,omitempty"`
	Err        string  `json:"error,omitempty"`
}

// runHandshakes runs every pair whose two servers were built, reps times,
// repetitions outermost and the two servers of a pair one after the other.
func runHandshakes(st *tlsSetup, o runOptions, hsMax int) []hsResult {
	hz := clockTicks()
	var out []hsResult
	for rep := 1; rep <= o.reps; rep++ {
		for _, p := range hsPairs {
			for _, name := range []string{p.ours, p.ref} {
				s := st.servers[name]
				if s == nil {
					continue
				}
				fmt.Fprintf(os.Stderr, "\r\033[K[handshakes] %-16s rep %d/%d", name, rep, o.reps)
				r := hsResult{Pair: p.name, Server: name, Rep: rep}
				if err := hsCell(s, p, st.files, &r, o, hz, hsMax); err != nil {
					r.Err = err.Error()
					fmt.Fprintf(os.Stderr, "\r\033[K%s handshakes: %s\n", name, oneLine(r.Err))
				}
				out = append(out, r)
			}
		}
	}
	fmt.Fprintf(os.Stderr, "\r\033[K")
	return out
}

func hsCell(s *serverSpec, p hsPair, f *tlsFiles, r *hsResult, o runOptions, hz int64, hsMax int) error {
	srv, err := startServer(s, "", o.serverCPU)
	if err != nil {
		return err
	}
	current.Lock()
	current.r = srv
	current.Unlock()
	defer func() {
		current.Lock()
		current.r = nil
		current.Unlock()
		srv.stop()
	}()
	if r.TLS, err = p.exchange(f, srv.addr); err != nil {
		return fmt.Errorf("first exchange: %w", err)
	}

	var (
		phase   atomic.Int32 // phaseWarmup, phaseMeasure, phaseStop
		count   atomic.Int64
		maxed   = make(chan struct{})
		once    sync.Once
		errMu   sync.Mutex
		first   error
		wg      sync.WaitGroup
		closeMx = func() { once.Do(func() { close(maxed) }) }
	)
	for range hsWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for phase.Load() != phaseStop {
				_, err := p.exchange(f, srv.addr)
				ph := phase.Load()
				if err != nil {
					if ph != phaseStop {
						errMu.Lock()
						first = errors.Join(first, err)
						errMu.Unlock()
						phase.Store(phaseStop)
						closeMx()
					}
					return
				}
				if ph == phaseMeasure && count.Add(1) >= int64(hsMax) {
					closeMx()
				}
			}
		}()
	}
	stop := func() error {
		phase.Store(phaseStop)
		wg.Wait()
		errMu.Lock()
		defer errMu.Unlock()
		return first
	}
	select {
	case <-time.After(o.warmup):
	case <-maxed: // only an error ends the warm-up early
		return stop()
	}
	cpu0, err := cpuTicks(srv.pid)
	if err != nil {
		_ = stop()
		return err
	}
	t0 := time.Now()
	phase.Store(phaseMeasure)
	select {
	case <-time.After(o.duration):
	case <-maxed:
	}
	n := count.Load()
	cpu1, cpuErr := cpuTicks(srv.pid)
	r.Seconds = time.Since(t0).Seconds()
	if err := stop(); err != nil {
		return err
	}
	if cpuErr != nil {
		return cpuErr
	}
	r.Handshakes = n
	if n > 0 {
		r.PerSec = float64(n) / r.Seconds
		r.CPUusHS = float64(cpu1-cpu0) * 1e6 / float64(hz) / float64(n)
	}
	return nil
}

// echoExchange: a new TLS connection, one echoed line, close.
func echoExchange(f *tlsFiles, addr string) (string, error) {
	c, err := f.dialTLS(addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := pingOne(c); err != nil {
		return "", err
	}
	return describeTLS(c.ConnectionState()), nil
}

// httpsRequest is the one request of an HTTPS handshake exchange.
const httpsRequest = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"

// httpsExchange: a new TLS connection, GET / with Connection: close, read
// until the whole file has arrived, close.
func httpsExchange(f *tlsFiles, addr string) (string, error) {
	c, err := f.dialTLS(addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, httpsRequest); err != nil {
		return "", err
	}
	var got []byte
	buf := make([]byte, 4096)
	for !httpReplyDone(got) {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			if httpReplyDone(got) {
				break
			}
			return "", fmt.Errorf("GET / over TLS after %d bytes: %w", len(got), err)
		}
	}
	if !bytes.HasPrefix(got, []byte("HTTP/1.1 200 ")) {
		return "", fmt.Errorf("GET / over TLS: %q", tail(got))
	}
	return describeTLS(c.ConnectionState()), nil
}

// httpReplyDone reports whether b holds a whole reply to httpsRequest: a
// head and then the file, which ends the reply.
func httpReplyDone(b []byte) bool {
	i := bytes.Index(b, []byte("\r\n\r\n"))
	return i >= 0 && bytes.HasSuffix(b[i+4:], []byte(indexHTML))
}
