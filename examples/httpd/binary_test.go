//go:build linux

package main

// The attacks of the hostile-client tests, against the built binary, with
// the process's resident memory measured from /proc. It runs only when
// HTTPD_BIN names the binary (realclients.sh sets it):
//
//	go build -o /tmp/httpd ./examples/httpd
//	HTTPD_BIN=/tmp/httpd go test -run TestBinaryAttacks -v ./examples/httpd/
//
// HTTPD_FLOOD sets how long the flood lasts (default 8s); HTTPD_BACKEND
// the poller.

import (
	"bufio"
	"bytes"
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
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// rssKiB reads a field (VmRSS, VmHWM) of /proc/pid/status, in KiB.
func rssKiB(t *testing.T, pid int, field string) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^` + field + `:\s+(\d+) kB`).FindSubmatch(data)
	require.NotNil(t, m, field)
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// timedGET does one GET on a new connection and returns how long the
// whole reply took, and whether it was a 200 with want as its body.
func timedGET(addr, target string, want []byte) (time.Duration, error) {
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.WriteString(c, "GET "+target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
		return 0, fmt.Errorf("status %d, %d bytes", resp.StatusCode, len(body))
	}
	return time.Since(start), nil
}

func TestBinaryAttacks(t *testing.T) {
	bin := os.Getenv("HTTPD_BIN")
	if bin == "" {
		t.Skip("HTTPD_BIN not set: the attacks run against the built binary (see realclients.sh)")
	}
	flood := 8 * time.Second
	if d, err := time.ParseDuration(os.Getenv("HTTPD_FLOOD")); err == nil {
		flood = d
	}
	root, c64, c60 := floodRoot(t)
	fifo := filepath.Join(root, "fifo")
	require.NoError(t, unix.Mkfifo(fifo, 0o644))
	t.Cleanup(func() { unblockFIFOs([]string{fifo}) })

	args := []string{"-addr", "127.0.0.1:0", "-root", root}
	if b := os.Getenv("HTTPD_BACKEND"); b != "" {
		args = append(args, "-backend", b)
	}
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addrCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`listening addr=([0-9.]+:[0-9]+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addrCh <- m[1]
			}
			if strings.Contains(sc.Text(), " ERROR ") {
				t.Errorf("server logged an error: %s", sc.Text())
			}
		}
	}()
	var addr string
	select {
	case addr = <-addrCh:
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not log its address")
	}
	pid := cmd.Process.Pid
	before := rssKiB(t, pid, "VmRSS")

	t.Run("600 pipelined GETs", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.SetDeadline(time.Now().Add(120*time.Second)))
		const n = 600
		go func() { _, _ = io.WriteString(c, strings.Repeat("GET /c64.bin HTTP/1.1\r\nHost: x\r\n\r\n", n)) }()
		br := bufio.NewReader(c)
		total := 0
		for i := range n {
			resp, err := http.ReadResponse(br, nil)
			require.NoError(t, err, "reply %d", i+1)
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.True(t, bytes.Equal(c64, body), "reply %d", i+1)
			total += len(body)
		}
		t.Logf("600 pipelined GETs of 64 KiB: all delivered, %d body bytes", total)
	})

	t.Run("FIFO", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.SetDeadline(time.Now().Add(30*time.Second)))
		_, err = io.WriteString(c, "GET /fifo HTTP/1.1\r\nHost: x\r\n\r\n")
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
		d, err := timedGET(addr, "/c60.bin", c60)
		require.NoError(t, err, "served after the FIFO")
		t.Logf("GET of a FIFO: %d; a GET after it took %v", resp.StatusCode, d)
	})

	t.Run("flood", func(t *testing.T) {
		const conns, reqs = 50, 500
		payload := strings.Repeat("GET /c60.bin HTTP/1.1\r\nHost: x\r\n\r\n", reqs)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var rounds atomic.Int64
		wg.Add(1)
		go func() { // 50 connections that write 500 GETs and never read, every second
			defer wg.Done()
			for {
				var open []net.Conn
				for range conns {
					c, err := net.DialTimeout("tcp", addr, 5*time.Second)
					if err != nil {
						continue
					}
					_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
					_, _ = io.WriteString(c, payload)
					open = append(open, c)
				}
				rounds.Add(1)
				select {
				case <-stop:
				case <-time.After(time.Second):
				}
				for _, c := range open {
					_ = c.Close()
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
		var peak int
		var lat []time.Duration
		var fails int
		deadline := time.Now().Add(flood)
		for time.Now().Before(deadline) {
			d, err := timedGET(addr, "/c60.bin", c60)
			if err != nil {
				fails++
			} else {
				lat = append(lat, d)
			}
			peak = max(peak, rssKiB(t, pid, "VmRSS"))
			time.Sleep(100 * time.Millisecond) // the honest client's pace
		}
		close(stop)
		wg.Wait()
		var worst time.Duration
		for _, d := range lat {
			worst = max(worst, d)
		}
		// After the flood: the connections are closed; memory the
		// process keeps is what the Go runtime has not returned yet.
		time.Sleep(2 * time.Second)
		after := rssKiB(t, pid, "VmRSS")
		hwm := rssKiB(t, pid, "VmHWM")
		t.Logf("flood %v, %d rounds of %d conns × %d GETs: RSS before %d KiB, peak sampled %d KiB, VmHWM %d KiB, after %d KiB",
			flood, rounds.Load(), conns, reqs, before, peak, hwm, after)
		t.Logf("honest GETs during the flood: %d served, %d failed, slowest %v", len(lat), fails, worst)
		assert.Zero(t, fails, "honest GETs failed")
		assert.LessOrEqual(t, hwm, 128<<10, "peak RSS (KiB)")
		assert.LessOrEqual(t, worst, 5*time.Second, "slowest honest GET")
		d, err := timedGET(addr, "/c60.bin", c60)
		require.NoError(t, err)
		t.Logf("GET after the flood: %v", d)
	})
}
