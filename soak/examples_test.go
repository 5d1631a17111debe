//go:build soak

package soak

// The clients of the resp, httpd and chatroom examples, and readers of the
// statistics each one exposes.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// --- resp -------------------------------------------------------------

// respCommand encodes a RESP2 multibulk request.
func respCommand(b *bytes.Buffer, args ...[]byte) {
	fmt.Fprintf(b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(b, "$%d\r\n", len(a))
		b.Write(a)
		b.WriteString("\r\n")
	}
}

// respReply reads one reply: kind is its first byte, line the rest of its
// first line, bulk the payload of a bulk string (nil for a null one).
func respReply(br *bufio.Reader, slow bool, rng *rand.Rand) (kind byte, line string, bulk []byte, err error) {
	s, err := br.ReadString('\n')
	if err != nil {
		return 0, "", nil, err
	}
	if len(s) < 3 || !strings.HasSuffix(s, "\r\n") {
		return 0, "", nil, fmt.Errorf("malformed reply line %q", s)
	}
	kind, line = s[0], s[1:len(s)-2]
	if kind != '$' {
		return kind, line, nil, nil
	}
	n, err := strconv.Atoi(line)
	if err != nil || n < -1 {
		return 0, "", nil, fmt.Errorf("bad bulk length %q", line)
	}
	if n == -1 {
		return kind, line, nil, nil
	}
	buf := make([]byte, n+2)
	if err := readFull(br, buf, slow, rng); err != nil {
		return 0, "", nil, err
	}
	if !bytes.HasSuffix(buf, []byte("\r\n")) {
		return 0, "", nil, errors.New("bulk string not ended by CRLF")
	}
	return kind, line, buf[:n], nil
}

func respScenarios(r *run, addr string) []scenario {
	const target = "resp"
	// honest pipelines 1 to 8 SET/GET pairs on keys of its own and checks
	// every reply; halfClose sends them with the FIN behind them.
	honest := func(slow, halfClose bool) func(*rand.Rand) error {
		return func(rng *rand.Rand) error {
			c, err := r.dial(target, addr)
			if err != nil {
				return err
			}
			defer c.Close()
			if slow {
				_ = c.SetDeadline(time.Now().Add(slowTimeout))
			}
			br := bufio.NewReader(c)
			rounds, pairs := 1+rng.IntN(4), 8
			if slow {
				rounds, pairs = 1, 3
			}
			for round := range rounds {
				last := halfClose && round == rounds-1
				var req bytes.Buffer
				var values [][]byte
				for range 1 + rng.IntN(pairs) {
					key := fmt.Appendf(nil, "soak:%d:%d", rng.Uint64()%1e6, rng.IntN(1e6))
					size := randSize(rng, 1<<20)
					if slow {
						size = 64<<10 + rng.IntN(192<<10)
					}
					v := randBytes(rng, size)
					respCommand(&req, []byte("SET"), key, v)
					respCommand(&req, []byte("GET"), key)
					respCommand(&req, []byte("DEL"), key)
					values = append(values, v)
				}
				data := req.Bytes()
				werr := writeAsync(c, data, rng, last)
				var rerr error
				for _, v := range values {
					k1, l1, _, err := respReply(br, false, rng)
					if err != nil || k1 != '+' || l1 != "OK" {
						rerr = fmt.Errorf("SET: %c%s %v", k1, l1, err)
						break
					}
					k2, _, got, err := respReply(br, slow, rng)
					if err != nil || k2 != '$' || !bytes.Equal(got, v) {
						rerr = fmt.Errorf("GET of a %d-byte value: kind %q, %d bytes, equal %v, %v", len(v), k2, len(got), bytes.Equal(got, v), err)
						break
					}
					k3, l3, _, err := respReply(br, false, rng)
					if err != nil || k3 != ':' || l3 != "1" {
						rerr = fmt.Errorf("DEL: %c%s %v", k3, l3, err)
						break
					}
					r.good.add(target, int64(len(v)))
				}
				if err := <-werr; err != nil {
					return fmt.Errorf("write: %v", err)
				}
				if rerr != nil {
					return rerr
				}
				r.sent.add(target, int64(len(data)))
				if last {
					return expectEOF(br2conn{br, c})
				}
			}
			return nil
		}
	}
	return []scenario{
		{"honest", 30, honest(false, false)},
		{"halfclose", 10, honest(false, true)},
		{"slowread", 5, honest(true, false)},
		{"partial", 10, func(rng *rand.Rand) error {
			c, err := r.dial(target, addr)
			if err != nil {
				return err
			}
			var req bytes.Buffer
			respCommand(&req, []byte("SET"), []byte("soak:partial"), randBytes(rng, rng.IntN(64<<10)))
			_ = writeSplit(c, req.Bytes()[:rng.IntN(req.Len())], rng)
			return c.Close()
		}},
		{"reset", 10, func(rng *rand.Rand) error {
			c, err := r.dial(target, addr)
			if err != nil {
				return err
			}
			var req bytes.Buffer
			for range rng.IntN(20) {
				respCommand(&req, []byte("SET"), []byte("soak:reset"), randBytes(rng, rng.IntN(32<<10)))
				respCommand(&req, []byte("GET"), []byte("soak:reset"))
			}
			respCommand(&req, []byte("SET"), []byte("soak:reset"), randBytes(rng, rng.IntN(32<<10)))
			werr := writeAsync(c, req.Bytes()[:rng.IntN(req.Len())], rng, false)
			if rng.IntN(2) == 0 {
				// Read a little of the replies, if there are any.
				_ = c.SetReadDeadline(time.Now().Add(time.Duration(rng.IntN(500)) * time.Millisecond))
				var b [512]byte
				_, _ = c.Read(b[:])
			}
			reset(c)
			<-werr
			return nil
		}},
		{"badproto", 5, func(rng *rand.Rand) error {
			// Redis answers a protocol error and closes.
			c, err := r.dial(target, addr)
			if err != nil {
				return err
			}
			defer c.Close()
			bad := [][]byte{[]byte("*abc\r\n"), []byte("*1\r\n$x\r\n"), []byte("*1\r\n+PING\r\n"), []byte("SET \"a b\r\n")}
			if err := writeSplit(c, bad[rng.IntN(len(bad))], rng); err != nil {
				return err
			}
			got, err := expectClosed(c)
			if err != nil {
				return fmt.Errorf("after a protocol error: %v", err)
			}
			if !bytes.HasPrefix(got, []byte("-ERR")) {
				return fmt.Errorf("a protocol error was answered with %q", got)
			}
			r.seen.add("resp/badproto", 1)
			return nil
		}},
		{"toolong", 3, func(rng *rand.Rand) error {
			// An inline command over the 64 KiB line limit.
			c, err := r.dial(target, addr)
			if err != nil {
				return err
			}
			defer c.Close()
			werr := writeAsync(c, randText(rng, 64<<10+1+rng.IntN(64<<10)), rng, false)
			_, err = expectClosed(c)
			<-werr
			if err != nil {
				return fmt.Errorf("an inline command over the line limit: %v", err)
			}
			r.seen.add("resp/toolong", 1)
			return nil
		}},
	}
}

// br2conn reads through a bufio.Reader but is otherwise the connection,
// so expectEOF sees the bytes already buffered.
type br2conn struct {
	*bufio.Reader
	net.Conn
}

func (b br2conn) Read(p []byte) (int, error) { return b.Reader.Read(p) }

// respInfo sends INFO on a new connection and returns its fields.
func respInfo(r *run, addr string) (map[string]string, error) {
	c, err := r.dial("resp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var req bytes.Buffer
	respCommand(&req, []byte("INFO"))
	if _, err := c.Write(req.Bytes()); err != nil {
		return nil, err
	}
	kind, _, body, err := respReply(bufio.NewReader(c), false, nil)
	if err != nil || kind != '$' {
		return nil, fmt.Errorf("INFO: %c %v", kind, err)
	}
	info := make(map[string]string)
	for _, line := range strings.Split(string(body), "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			info[k] = v
		}
	}
	return info, nil
}

// infoInt reads a numeric INFO field.
func infoInt(info map[string]string, name string) int64 {
	v, err := strconv.ParseInt(info[name], 10, 64)
	if err != nil {
		return -1
	}
	return v
}

// --- httpd ------------------------------------------------------------

// httpFiles are the files put in httpd's root: name and content.
type httpFiles map[string][]byte

func getRequest(path string, close bool) []byte {
	s := "GET " + path + " HTTP/1.1\r\nHost: soak\r\n"
	if close {
		s += "Connection: close\r\n"
	}
	return []byte(s + "\r\n")
}

func postEcho(body []byte) []byte {
	head := fmt.Sprintf("POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", len(body))
	return append([]byte(head), body...)
}

// httpResponse reads one response and its body.
func httpResponse(br *bufio.Reader, slow bool, rng *rand.Rand) (int, []byte, error) {
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if resp.ContentLength < 0 {
		return resp.StatusCode, nil, errors.New("response without Content-Length")
	}
	body := make([]byte, resp.ContentLength)
	if err := readFull(resp.Body, body, slow, rng); err != nil {
		return resp.StatusCode, nil, err
	}
	return resp.StatusCode, body, nil
}

func httpdScenarios(r *run, addr string, files httpFiles, names []string) []scenario {
	const target = "httpd"
	// honest sends 1 to 3 batches of 1 to 6 pipelined requests on one
	// kept-alive connection: GETs of the root's files and POSTs to /echo,
	// each answer checked byte for byte.
	honest := func(slow, halfClose bool) func(*rand.Rand) error {
		return func(rng *rand.Rand) error {
			c, err := r.dial(target, addr)
			if err != nil {
				return err
			}
			defer c.Close()
			if slow {
				_ = c.SetDeadline(time.Now().Add(slowTimeout))
			}
			br := bufio.NewReader(c)
			batches, most := 1+rng.IntN(3), 6
			if slow {
				// One response, read slowly: the 3 MiB file takes
				// about 10 s.
				batches, most = 1, 1
			}
			for batch := range batches {
				last := halfClose && batch == batches-1
				var req bytes.Buffer
				var want [][]byte
				for range 1 + rng.IntN(most) {
					if rng.IntN(2) == 0 {
						name := names[rng.IntN(len(names))]
						req.Write(getRequest("/"+name, false))
						want = append(want, files[name])
					} else {
						body := randBytes(rng, randSize(rng, 1<<20))
						req.Write(postEcho(body))
						want = append(want, body)
					}
				}
				data := req.Bytes()
				werr := writeAsync(c, data, rng, last)
				var rerr error
				for i, w := range want {
					status, body, err := httpResponse(br, slow, rng)
					if err != nil || status != http.StatusOK || !bytes.Equal(body, w) {
						rerr = fmt.Errorf("response %d of %d: status %d, %d bytes for %d, equal %v, %v",
							i+1, len(want), status, len(body), len(w), bytes.Equal(body, w), err)
						break
					}
					r.good.add(target, int64(len(w)))
				}
				if err := <-werr; err != nil {
					return fmt.Errorf("write: %v", err)
				}
				if rerr != nil {
					return rerr
				}
				r.sent.add(target, int64(len(data)))
				if last {
					return expectEOF(br2conn{br, c})
				}
			}
			return nil
		}
	}
	// refused sends a request the server must refuse with status and a
	// close.
	refused := func(seen string, status int, req func(*rand.Rand) []byte) func(*rand.Rand) error {
		return func(rng *rand.Rand) error {
			c, err := r.dial(target, addr)
			if err != nil {
				return err
			}
			defer c.Close()
			werr := writeAsync(c, req(rng), rng, false)
			got, err := expectClosed(c)
			<-werr
			if err != nil {
				return fmt.Errorf("want %d and a close: %v", status, err)
			}
			if want := fmt.Sprintf("HTTP/1.1 %d ", status); !bytes.HasPrefix(got, []byte(want)) {
				return fmt.Errorf("want %q, got %.60q", want, got)
			}
			r.seen.add(seen, 1)
			return nil
		}
	}
	return []scenario{
		{"honest", 30, honest(false, false)},
		{"halfclose", 10, honest(false, true)},
		{"slowread", 5, honest(true, false)},
		{"partial", 10, func(rng *rand.Rand) error {
			c, err := r.dial(target, addr)
			if err != nil {
				return err
			}
			req := postEcho(randBytes(rng, rng.IntN(64<<10)))
			_ = writeSplit(c, req[:rng.IntN(len(req))], rng)
			return c.Close()
		}},
		{"reset", 10, func(rng *rand.Rand) error {
			// Reset in the middle of downloading the biggest file.
			c, err := r.dial(target, addr)
			if err != nil {
				return err
			}
			if err := writeSplit(c, getRequest("/"+names[len(names)-1], false), rng); err == nil {
				var b [4096]byte
				for range rng.IntN(16) {
					if _, err := c.Read(b[:]); err != nil {
						break
					}
				}
			}
			reset(c)
			return nil
		}},
		{"malformed", 3, refused("httpd/400", http.StatusBadRequest, func(rng *rand.Rand) []byte {
			return []byte("GET /x HTTP/1.1\r\nHost : soak\r\n\r\n")
		})},
		{"toolong", 2, refused("httpd/431", http.StatusRequestHeaderFieldsTooLarge, func(rng *rand.Rand) []byte {
			return append([]byte("GET / HTTP/1.1\r\nHost: soak\r\nX-Pad: "), randText(rng, 64<<10+rng.IntN(32<<10))...)
		})},
	}
}

// httpdStats fetches GET /_stats on a new connection.
func httpdStats(r *run, addr string) (serverStats, error) {
	var st serverStats
	c, err := r.dial("httpd", addr)
	if err != nil {
		return st, err
	}
	defer c.Close()
	if _, err := c.Write(getRequest("/_stats", false)); err != nil {
		return st, err
	}
	status, body, err := httpResponse(bufio.NewReader(c), false, nil)
	if err != nil || status != http.StatusOK {
		return st, fmt.Errorf("GET /_stats: %d %v", status, err)
	}
	return st, json.Unmarshal(body, &st)
}

// --- chatroom ---------------------------------------------------------

// chatMember is one joined chatroom connection.
type chatMember struct {
	c    *net.TCPConn
	br   *bufio.Reader
	nick string
}

// chatJoin connects and chooses nick.
func chatJoin(r *run, addr, nick string) (*chatMember, error) {
	c, err := r.dial("chatroom", addr)
	if err != nil {
		return nil, err
	}
	m := &chatMember{c: c, br: bufio.NewReader(c), nick: nick}
	if _, err := c.Write([]byte(nick + "\n")); err != nil {
		_ = c.Close()
		return nil, err
	}
	if _, err := m.waitFor("* Hello " + nick + "!"); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("joining as %s: %v", nick, err)
	}
	return m, nil
}

// waitFor reads lines until one starts with prefix and returns it.
func (m *chatMember) waitFor(prefix string) (string, error) {
	for {
		line, err := m.br.ReadString('\n')
		if err != nil {
			return "", err
		}
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(line, prefix) {
			return line, nil
		}
	}
}

// quit sends /quit and requires the goodbye and EOF.
func (m *chatMember) quit() error {
	defer m.c.Close()
	if _, err := m.c.Write([]byte("/quit\n")); err != nil {
		return err
	}
	if _, err := m.waitFor("* Bye, " + m.nick + "!"); err != nil {
		return fmt.Errorf("/quit: %v", err)
	}
	// The goodbye is the last thing the server sends: the member has left
	// the room, so no broadcast can follow it.
	return expectEOF(br2conn{m.br, m.c})
}

func chatScenarios(r *run, addr string) []scenario {
	const target = "chatroom"
	nick := func(rng *rand.Rand, p string) string { return fmt.Sprintf("%s%x", p, rng.Uint64()%(1<<56)) }
	return []scenario{
		{"honest", 30, func(rng *rand.Rand) error {
			// A speaks, B must hear every line, in order.
			a, err := chatJoin(r, addr, nick(rng, "a"))
			if err != nil {
				return err
			}
			defer a.c.Close()
			b, err := chatJoin(r, addr, nick(rng, "b"))
			if err != nil {
				return err
			}
			defer b.c.Close()
			// A reads what the room says to it while it talks, so its
			// queue never grows.
			drained := make(chan error, 1)
			go func() {
				_, err := a.waitFor("* Bye, " + a.nick + "!")
				drained <- err
			}()
			var said bytes.Buffer
			var lines []string
			for range 1 + rng.IntN(10) {
				line := string(randText(rng, 1+rng.IntN(1000)))
				lines = append(lines, line)
				said.WriteString(line + "\n")
			}
			said.WriteString("/quit\n")
			werr := writeAsync(a.c, said.Bytes(), rng, false)
			var rerr error
			for _, line := range lines {
				if _, err := b.waitFor("<" + a.nick + "> " + line); err != nil {
					rerr = fmt.Errorf("%s did not hear %s's %d-byte line: %v", b.nick, a.nick, len(line), err)
					break
				}
				r.good.add(target, int64(len(line)))
			}
			if err := <-werr; err != nil {
				return fmt.Errorf("write: %v", err)
			}
			if err := <-drained; err != nil {
				return fmt.Errorf("%s's /quit: %v", a.nick, err)
			}
			if rerr != nil {
				return rerr
			}
			r.sent.add(target, int64(said.Len()))
			if err := expectEOF(br2conn{a.br, a.c}); err != nil {
				return fmt.Errorf("%s after /quit: %v", a.nick, err)
			}
			return b.quit()
		}},
		{"halfclose", 10, func(rng *rand.Rand) error {
			// A last line and EOF: the room must still get the line.
			a, err := chatJoin(r, addr, nick(rng, "h"))
			if err != nil {
				return err
			}
			defer a.c.Close()
			b, err := chatJoin(r, addr, nick(rng, "w"))
			if err != nil {
				return err
			}
			defer b.c.Close()
			line := string(randText(rng, 1+rng.IntN(500)))
			werr := writeAsync(a.c, []byte(line+"\n"), rng, true)
			if err := <-werr; err != nil {
				return err
			}
			if _, err := b.waitFor("<" + a.nick + "> " + line); err != nil {
				return fmt.Errorf("a line sent before a half-close was not heard: %v", err)
			}
			if _, err := b.waitFor("* " + a.nick + " has left"); err != nil {
				return fmt.Errorf("a half-closed member did not leave: %v", err)
			}
			r.sent.add(target, int64(len(line)+1))
			r.good.add(target, int64(len(line)))
			return b.quit()
		}},
		{"partial", 10, func(rng *rand.Rand) error {
			c, err := r.dial(target, addr)
			if err != nil {
				return err
			}
			msg := []byte(nick(rng, "p") + "\n" + string(randText(rng, rng.IntN(2000))))
			_ = writeSplit(c, msg[:rng.IntN(len(msg))], rng)
			return c.Close()
		}},
		{"reset", 10, func(rng *rand.Rand) error {
			m, err := chatJoin(r, addr, nick(rng, "r"))
			if err != nil {
				return err
			}
			_ = writeSplit(m.c, randText(rng, rng.IntN(3000)), rng)
			reset(m.c)
			return nil
		}},
		{"toolong", 3, func(rng *rand.Rand) error {
			m, err := chatJoin(r, addr, nick(rng, "l"))
			if err != nil {
				return err
			}
			defer m.c.Close()
			werr := writeAsync(m.c, randText(rng, 4097+rng.IntN(8192)), rng, false)
			_, err = m.waitFor("* line too long")
			if err == nil {
				_, err = expectClosed(br2conn{m.br, m.c})
			}
			<-werr
			if err != nil {
				return fmt.Errorf("a line over 4 KiB: %v", err)
			}
			r.seen.add("chatroom/toolong", 1)
			return nil
		}},
	}
}

var chatStatsLine = regexp.MustCompile(`(?s)connections (\d+) .*accepted (\d+), rejected (\d+), shed (\d+).*panics recovered (\d+)`)

// chatStats joins, asks /stats and returns connections, accepted and
// panics recovered.
func chatStats(r *run, addr string) (conns, accepted, panics int64, err error) {
	m, err := chatJoin(r, addr, fmt.Sprintf("stats%d", time.Now().UnixNano()%1e9))
	if err != nil {
		return 0, 0, 0, err
	}
	defer m.c.Close()
	if _, err := m.c.Write([]byte("/stats\n")); err != nil {
		return 0, 0, 0, err
	}
	var text strings.Builder
	first, err := m.waitFor("* members ")
	if err != nil {
		return 0, 0, 0, err
	}
	text.WriteString(first)
	for !strings.HasPrefix(text.String()[strings.LastIndex(text.String(), "\n")+1:], "* you:") {
		line, err := m.br.ReadString('\n')
		if err != nil {
			return 0, 0, 0, err
		}
		text.WriteString("\n" + strings.TrimRight(line, "\r\n"))
	}
	f := chatStatsLine.FindStringSubmatch(text.String())
	if f == nil {
		return 0, 0, 0, fmt.Errorf("cannot parse /stats: %q", text.String())
	}
	n := func(s string) int64 { v, _ := strconv.ParseInt(s, 10, 64); return v }
	_ = m.quit()
	return n(f[1]), n(f[2]), n(f[5]), nil
}
