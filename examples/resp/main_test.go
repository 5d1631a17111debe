package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/asyncore-go/asyncore/internal/testutil"

	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/poller"
)

// onLoopback is serve on 127.0.0.1:0, for testutil.Serve.
func onLoopback(kind poller.Kind) testutil.ServeFunc {
	return func(ctx context.Context, ready func(net.Addr)) error {
		return serve(ctx, "127.0.0.1:0", kind, loop.DefaultGrace, nil, ready)
	}
}

// start runs the server, waits until it listens, and stops it when the test
// ends. It returns the address the server listens on.
func start(t *testing.T, kind poller.Kind) net.Addr {
	t.Helper()
	addr, _ := testutil.Serve(t, onLoopback(kind))
	return addr
}

// check is a reply test that is not one exact value.
type check func(t *testing.T, got any)

// step is one request of a conversation and its expected reply.
type step struct {
	args []string
	want any // a reply value (see resp_client_test.go) or a check
}

func argv(args ...string) []string { return args }

// run sends each step's request in turn and compares the replies.
func (rc *respClient) run(t *testing.T, steps []step) {
	t.Helper()
	for _, st := range steps {
		got := rc.do(st.args...)
		if c, ok := st.want.(check); ok {
			c(t, got)
			continue
		}
		assert.Equal(t, st.want, got, "%q", st.args)
	}
}

func arity(name string) respError {
	return respError("ERR wrong number of arguments for '" + name + "' command")
}

const (
	errNotIntReply  = respError(errNotInt)
	errSyntaxReply  = respError(errSyntax)
	errExpireReply  = respError(errSetExpire)
	errOverflowRply = respError(errOverflow)
)

func TestCommands(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		addr := start(t, kind)
		rc := dial(t, addr)

		t.Run("strings", func(t *testing.T) {
			rc.run(t, []step{
				{argv("PING"), status("PONG")},
				{argv("ping", "hello"), "hello"},
				{argv("PING", "a", "b"), arity("ping")},
				{argv("ECHO", "hi there"), "hi there"},
				{argv("ECHO", ""), ""},
				{argv("ECHO"), arity("echo")},
				{argv("GET", "k"), nil},
				{argv("SET", "k", "v"), status("OK")},
				{argv("gEt", "k"), "v"},
				{argv("SET", "k", "v2", "NX"), nil},
				{argv("GET", "k"), "v"},
				{argv("SET", "k", "v3", "xx"), status("OK")},
				{argv("GET", "k"), "v3"},
				{argv("SET", "new", "v", "XX"), nil},
				{argv("EXISTS", "new"), int64(0)},
				{argv("SET", "new", "v", "NX"), status("OK")},
				{argv("SET", "bin", "a\r\nb\x00c\n"), status("OK")},
				{argv("GET", "bin"), "a\r\nb\x00c\n"},
				{argv("GET"), arity("get")},
				{argv("GET", "a", "b"), arity("get")},
				{argv("SET", "k"), arity("set")},
				{argv("SET", "k", "v", "NX", "XX"), errSyntaxReply},
				{argv("SET", "k", "v", "EX"), errSyntaxReply},
				{argv("SET", "k", "v", "EX", "abc"), errNotIntReply},
				{argv("SET", "k", "v", "EX", "0"), errExpireReply},
				{argv("SET", "k", "v", "PX", "-5"), errExpireReply},
				{argv("SET", "k", "v", "EX", "10", "PX", "10"), errSyntaxReply},
				{argv("SET", "k", "v", "KEEPTTL", "EX", "1"), errSyntaxReply},
				{argv("SET", "k", "v", "BOGUS"), errSyntaxReply},
				{argv("GET", "k"), "v3"},
				{argv("DEL", "k", "new", "missing", "k"), int64(2)},
				{argv("DEL"), arity("del")},
				{argv("EXISTS", "k", "bin", "bin"), int64(2)},
				{argv("EXISTS"), arity("exists")},
			})
		})

		t.Run("ttl", func(t *testing.T) {
			rc.run(t, []step{
				{argv("TTL", "missing"), int64(-2)},
				{argv("SET", "t", "v", "EX", "100"), status("OK")},
				{argv("TTL", "t"), int64(100)},
				{argv("PTTL", "t"), check(func(t *testing.T, got any) {
					ms, ok := got.(int64)
					assert.True(t, ok && ms > 90_000 && ms <= 100_000, "PTTL %v", got)
				})},
				{argv("SET", "t", "v2", "KEEPTTL"), status("OK")},
				{argv("TTL", "t"), int64(100)},
				{argv("SET", "t", "v3", "px", "50000", "NX"), nil},
				{argv("SET", "t", "v3", "px", "50000", "XX"), status("OK")},
				{argv("TTL", "t"), int64(50)},
				{argv("SET", "t", "v4"), status("OK")},
				{argv("TTL", "t"), int64(-1)},
				{argv("TTL"), arity("ttl")},
			})
		})

		t.Run("counters", func(t *testing.T) {
			rc.run(t, []step{
				{argv("INCR", "n"), int64(1)},
				{argv("INCR", "n"), int64(2)},
				{argv("DECR", "n"), int64(1)},
				{argv("INCRBY", "n", "10"), int64(11)},
				{argv("DECRBY", "n", "20"), int64(-9)},
				{argv("GET", "n"), "-9"},
				{argv("DECR", "m"), int64(-1)},
				{argv("INCRBY", "n", "x"), errNotIntReply},
				{argv("INCRBY", "n", "1.5"), errNotIntReply},
				{argv("INCRBY", "n"), arity("incrby")},
				{argv("SET", "s", "hello"), status("OK")},
				{argv("INCR", "s"), errNotIntReply},
				{argv("SET", "s", "007"), status("OK")},
				{argv("INCR", "s"), errNotIntReply},
				{argv("SET", "s", " 7"), status("OK")},
				{argv("INCR", "s"), errNotIntReply},
				{argv("SET", "s", "99999999999999999999"), status("OK")},
				{argv("INCR", "s"), errNotIntReply},
				{argv("SET", "max", "9223372036854775807"), status("OK")},
				{argv("INCR", "max"), errOverflowRply},
				{argv("DECRBY", "max", "-1"), errOverflowRply},
				{argv("SET", "min", "-9223372036854775808"), status("OK")},
				{argv("DECR", "min"), errOverflowRply},
				{argv("DECRBY", "n", "-9223372036854775808"), respError("ERR decrement would overflow")},
				{argv("INCR"), arity("incr")},
				{argv("SET", "e", "5", "EX", "100"), status("OK")},
				{argv("INCR", "e"), int64(6)},
				{argv("TTL", "e"), int64(100)}, // INCR keeps the time to live
			})
		})

		t.Run("multi", func(t *testing.T) {
			rc.run(t, []step{
				{argv("MSET", "a", "1", "b", "2", "c", "3"), status("OK")},
				{argv("MGET", "a", "b", "missing", "c"), []any{"1", "2", nil, "3"}},
				{argv("MSET", "a"), arity("mset")},
				{argv("MSET", "a", "1", "b"), arity("mset")},
				{argv("MGET"), arity("mget")},
				{argv("SET", "a", "x", "EX", "100"), status("OK")},
				{argv("MSET", "a", "y"), status("OK")},
				{argv("TTL", "a"), int64(-1)},
			})
		})

		t.Run("keyspace", func(t *testing.T) {
			rc.run(t, []step{
				{argv("FLUSHALL"), status("OK")},
				{argv("DBSIZE"), int64(0)},
				{argv("MSET", "a", "1", "b", "2"), status("OK")},
				{argv("DBSIZE"), int64(2)},
				{argv("DBSIZE", "x"), arity("dbsize")},
				{argv("FLUSHDB"), status("OK")},
				{argv("DBSIZE"), int64(0)},
				{argv("SET", "a", "1"), status("OK")},
				{argv("FLUSHALL", "ASYNC"), status("OK")},
				{argv("EXISTS", "a"), int64(0)},
				{argv("FLUSHALL", "bogus"), errSyntaxReply},
				{argv("SELECT", "0"), status("OK")},
				{argv("SELECT", "1"), respError("ERR DB index is out of range")},
				{argv("SELECT", "x"), errNotIntReply},
			})
		})

		t.Run("start-up", func(t *testing.T) {
			helloReply := check(func(t *testing.T, got any) {
				a, ok := got.([]any)
				require.True(t, ok, "HELLO reply %v", got)
				require.Len(t, a, 14)
				assert.Equal(t, []any{"server", "asyncore-resp", "version", serverVersion, "proto", int64(2)}, a[:6])
				assert.Equal(t, []any{"modules", []any{}}, a[12:])
			})
			rc.run(t, []step{
				{argv("CONFIG", "GET", "save"), []any{"save", ""}},
				{argv("CONFIG", "GET", "appendonly"), []any{"appendonly", "no"}},
				{argv("config", "get", "SAVE", "appendonly"), []any{"appendonly", "no", "save", ""}},
				{argv("CONFIG", "GET", "nosuch"), []any{}},
				{argv("CONFIG", "GET", "*"), check(func(t *testing.T, got any) {
					assert.Len(t, got, 2*len(configParams))
				})},
				{argv("CONFIG", "GET"), arity("config|get")},
				{argv("CONFIG"), arity("config")},
				{argv("CONFIG", "SET", "save", ""), respError("ERR unknown subcommand 'SET'. Try CONFIG HELP.")},
				{argv("COMMAND"), []any{}},
				{argv("COMMAND", "DOCS"), []any{}},
				{argv("COMMAND", "DOCS", "get", "set"), []any{}},
				{argv("COMMAND", "COUNT"), int64(len(commands))},
				{argv("HELLO"), helloReply},
				{argv("HELLO", "2"), helloReply},
				{argv("HELLO", "3"), respError("NOPROTO sorry, this protocol version is not supported")},
				{argv("HELLO", "x"), respError("ERR Protocol version is not an integer or out of range")},
				{argv("HELLO", "2", "SETNAME", "h"), helloReply},
				{argv("HELLO", "2", "AUTH", "u", "p"), respError("ERR Syntax error in HELLO option 'AUTH'")},
				{argv("CLIENT", "GETNAME"), "h"},
				{argv("CLIENT", "SETNAME", "cli"), status("OK")},
				{argv("CLIENT", "GETNAME"), "cli"},
				{argv("CLIENT", "SETNAME", "a b"), respError("ERR Client names cannot contain spaces, newlines or special characters.")},
				{argv("CLIENT", "SETNAME"), arity("client|setname")},
				{argv("CLIENT", "SETINFO", "lib-name", "redis-py"), status("OK")},
				{argv("CLIENT", "SETINFO", "lib-ver", "5.0"), status("OK")},
				{argv("CLIENT", "ID"), check(func(t *testing.T, got any) { assert.IsType(t, int64(0), got) })},
				{argv("CLIENT", "KILL", "x"), respError("ERR unknown subcommand 'KILL'. Try CLIENT HELP.")},
				{argv("CLIENT"), arity("client")},
			})
		})

		t.Run("info", func(t *testing.T) {
			rc.run(t, []step{
				{argv("SET", "a", "1"), status("OK")},
				{argv("SET", "b", "1", "EX", "100"), status("OK")},
				{argv("INFO"), check(func(t *testing.T, got any) {
					info, _ := got.(string)
					assert.Contains(t, info, "# Server\r\nredis_version:"+serverVersion+"\r\n")
					assert.Contains(t, info, "multiplexing_api:"+kind.String()+"\r\n")
					assert.Contains(t, info, "tcp_port:"+strconv.Itoa(addr.(*net.TCPAddr).Port)+"\r\n")
					assert.Contains(t, info, "\r\n\r\n# Clients\r\nconnected_clients:1\r\n")
					assert.Contains(t, info, "# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n")
				})},
				{argv("INFO", "keyspace"), "# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n"},
				{argv("INFO", "nosuch"), ""},
			})
		})

		t.Run("stats", func(t *testing.T) {
			stat := func(info, name string) int64 {
				t.Helper()
				for _, line := range strings.Split(info, "\r\n") {
					if v, ok := strings.CutPrefix(line, name+":"); ok {
						n, err := strconv.ParseInt(v, 10, 64)
						require.NoError(t, err)
						return n
					}
				}
				t.Fatalf("INFO has no %s in %q", name, info)
				return 0
			}
			first, _ := rc.do("INFO", "stats").(string)
			rc.do("PING")
			second, _ := rc.do("INFO", "stats").(string)
			assert.Equal(t, stat(first, "total_commands_processed")+2, stat(second, "total_commands_processed"),
				"PING and INFO were counted")
			assert.Greater(t, stat(second, "total_net_input_bytes"), stat(first, "total_net_input_bytes"))
			assert.Greater(t, stat(second, "total_net_output_bytes"), stat(first, "total_net_output_bytes"))
			assert.Positive(t, stat(second, "total_connections_received"))
			assert.Zero(t, stat(second, "panics_recovered"))

			list, _ := rc.do("CLIENT", "LIST").(string)
			assert.Regexp(t, `(?m)^id=\d+ addr=127\.0\.0\.1:\d+ fd=\d+ name=cli qbuf=0 argv-mem=\d+ omem=0 tot-mem=\d+ tot-net-in=\d+ tot-net-out=\d+$`, list)
		})

		t.Run("unknown", func(t *testing.T) {
			rc.run(t, []step{
				{argv("FOO"), respError("ERR unknown command 'FOO', with args beginning with: ")},
				{argv("foo", "a", "b c"), respError("ERR unknown command 'foo', with args beginning with: 'a' 'b c' ")},
				{argv("foo\r\nbar", "x\ny"), respError("ERR unknown command 'foo  bar', with args beginning with: 'x y' ")},
				{argv(strings.Repeat("x", 200)), respError("ERR unknown command '" + strings.Repeat("x", 128) + "', with args beginning with: ")},
				{argv("PING"), status("PONG")}, // errors leave the connection usable
			})
		})
	})
}

// TestExpiry waits for keys to expire, both when they are read (lazy
// expiry) and when nobody reads them (the periodic sweep), by polling with
// a deadline.
func TestExpiry(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		addr := start(t, kind)
		rc := dial(t, addr)

		// Long enough to read the key back before it goes.
		require.Equal(t, status("OK"), rc.do("SET", "lazy", "v", "PX", "300"))
		assert.Equal(t, "v", rc.do("GET", "lazy"))
		assert.Equal(t, int64(1), rc.do("EXISTS", "lazy"))
		waitFor(t, rc, []string{"GET", "lazy"}, nil)
		assert.Equal(t, int64(-2), rc.do("TTL", "lazy"))

		// Keys never read again: DBSIZE counts keys without touching them,
		// so only the sweep can bring it back to 1.
		require.Equal(t, status("OK"), rc.do("SET", "stays", "v"))
		for i := range 50 {
			require.Equal(t, status("OK"), rc.do("SET", fmt.Sprint("k", i), "v", "PX", "20"))
		}
		waitFor(t, rc, []string{"DBSIZE"}, int64(1))
		assert.Equal(t, "v", rc.do("GET", "stays"))
	})
}

// waitFor repeats a request until it gets the wanted reply (or one a
// func(got any) bool accepts), for at most testutil.HangGuard.
// Each round trip yields to the server, so the loop does not spin alone.
func waitFor(t *testing.T, rc *respClient, args []string, want any) {
	t.Helper()
	deadline := time.Now().Add(testutil.HangGuard)
	for {
		got := rc.do(args...)
		ok := assert.ObjectsAreEqual(want, got)
		if f, isFunc := want.(func(got any) bool); isFunc {
			ok = f(got)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q still replies %v after 5s, want %v", args, got, want)
		}
	}
}

// TestInline sends commands the way a person types them into nc: words on
// a line, ended by CRLF or a bare LF.
func TestInline(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		addr := start(t, kind)
		rc := dial(t, addr)
		for _, tc := range []struct{ in, want string }{
			{"PING\r\n", "+PONG\r\n"},
			{"ping\n", "+PONG\r\n"},
			{"\r\n\n   \r\nPING\r\n", "+PONG\r\n"}, // empty lines are ignored
			{"SET q \"hello world\"\r\n", "+OK\r\n"},
			{"GET q\r\n", "$11\r\nhello world\r\n"},
		} {
			rc.write([]byte(tc.in))
			got := make([]byte, len(tc.want))
			_, err := io.ReadFull(rc.r, got)
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(got), "%q", tc.in)
		}
		for _, tc := range []struct {
			line string
			want any
		}{
			{`ECHO "a\x41\n\t\"\\"`, "aA\n\t\"\\"},
			{`ECHO 'don\'t'`, "don't"},
			{`ECHO "" `, ""},
			{`SET "a key" 'a value'`, status("OK")},
			{`MGET "a key" q`, []any{"a value", "hello world"}},
			{"INCR", arity("incr")},
			{"nosuch x", respError("ERR unknown command 'nosuch', with args beginning with: 'x' ")},
		} {
			rc.write([]byte(tc.line + "\r\n"))
			assert.Equal(t, tc.want, rc.read(), "%s", tc.line)
		}
	})
}

// TestInlineWhitespace checks which bytes separate the words of an inline
// command, against what redis-server 7.0 answers to the same bytes: a CR
// ends a word like a space or a tab does, so "PING\rfoo" is PING with an
// argument, not a command named "PING\rfoo"; a vertical tab or form feed is
// skipped between words and after a closing quote, but is part of a word
// that it is inside.
func TestInlineWhitespace(t *testing.T) {
	tests := []struct{ in, want string }{
		{"PING\rfoo\r\n", "$3\r\nfoo\r\n"},
		{"ECHO a\rb\r\n", "-ERR wrong number of arguments for 'echo' command\r\n"},
		{"SET k\rv\r\nGET k\r\n", "+OK\r\n$1\r\nv\r\n"},
		{"\rPING\r\n", "+PONG\r\n"},
		{"PING\r\r\n", "+PONG\r\n"},
		{"ECHO a\r\r\n", "$1\r\na\r\n"},
		{"\x0bPING\r\n", "+PONG\r\n"},
		{"ECHO \x0b a\r\n", "$1\r\na\r\n"},
		{"ECHO \x0c\ta\r\n", "$1\r\na\r\n"},
		{"ECHO a\x0bb\r\n", "$3\r\na\x0bb\r\n"},
		{"ECHO a\x0cb\r\n", "$3\r\na\x0cb\r\n"},
		{"ECHO \"a\"\x0b\r\n", "$1\r\na\r\n"},
		{"ECHO 'a'\r\r\n", "$1\r\na\r\n"},
		{"ECHO \"a\"\rb\r\n", "-ERR wrong number of arguments for 'echo' command\r\n"},
		{"ECHO \"a\rb\"\r\n", "$3\r\na\rb\r\n"}, // quoted, a CR is data
		{"\r\x0b\r\nPING\r\n", "+PONG\r\n"},     // only white space: ignored
	}
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		addr := start(t, kind)
		rc := dial(t, addr)
		for _, tc := range tests {
			rc.write([]byte(tc.in))
			got := make([]byte, len(tc.want))
			_, err := io.ReadFull(rc.r, got)
			require.NoError(t, err, "%q", tc.in)
			require.Equal(t, tc.want, string(got), "%q", tc.in)
		}
		assert.Equal(t, status("PONG"), rc.do("PING"))
	})
}

// TestPipeline sends 100 requests in one write and expects 100 replies, in
// order.
func TestPipeline(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		addr := start(t, kind)
		rc := dial(t, addr)
		var req []byte
		var want []any
		for i := range 100 {
			switch i % 4 {
			case 0:
				req = append(req, encode("INCR", "p")...)
				want = append(want, int64(i/4+1))
			case 1:
				req = append(req, encode("SET", fmt.Sprint("k", i), fmt.Sprint("v", i))...)
				want = append(want, status("OK"))
			case 2:
				req = append(req, encode("GET", fmt.Sprint("k", i-1))...)
				want = append(want, fmt.Sprint("v", i-1))
			case 3:
				req = append(req, fmt.Sprintf("ECHO m%d\r\n", i)...) // inline, mixed in
				want = append(want, fmt.Sprint("m", i))
			}
		}
		rc.write(req)
		for i, w := range want {
			assert.Equal(t, w, rc.read(), "reply %d", i)
		}
	})
}

// TestChunks sends a conversation a few bytes per write, so that every
// header, argument and CRLF is split across reads somewhere.
func TestChunks(t *testing.T) {
	var req []byte
	req = append(req, encode("SET", "bin", "x\r\n$3\r\n*1\r\n")...)
	req = append(req, encode("GET", "bin")...)
	req = append(req, "ECHO inline\r\n"...)
	req = append(req, encode("MSET", "a", "", "b", strings.Repeat("b", 300))...)
	req = append(req, encode("MGET", "a", "b")...)
	want := []any{status("OK"), "x\r\n$3\r\n*1\r\n", "inline", status("OK"), []any{"", strings.Repeat("b", 300)}}

	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		addr := start(t, kind)
		for _, size := range []int{1, 2, 3, 5, 8, 13} {
			t.Run(fmt.Sprint(size), func(t *testing.T) {
				rc := dial(t, addr)
				for b := req; len(b) > 0; b = b[min(size, len(b)):] {
					rc.write(b[:min(size, len(b))])
				}
				for i, w := range want {
					assert.Equal(t, w, rc.read(), "reply %d", i)
				}
			})
		}
	})
}

// TestBigValues stores values spread over many reads, up to the largest
// argument the server takes; one byte more is a protocol error.
func TestBigValues(t *testing.T) {
	first := true
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		addr := start(t, kind)
		rc := dial(t, addr)
		// The largest value the server takes costs seconds under the race
		// detector; the framing is the backends' common code, so one
		// backend checks it, except in the long runs.
		sizes := []int{100_000}
		if first || testutil.Long() {
			sizes = append(sizes, maxMessage-2)
		}
		first = false
		for _, n := range sizes {
			val := strings.Repeat("v", n-1) + "!"
			send(t, rc, encode("SET", "big", val))
			require.Equal(t, status("OK"), rc.read())
			assert.True(t, val == rc.do("GET", "big"), "GET of %d bytes", n)
		}
		// Refused on its header, before the data is sent: a server that
		// closes while data is still arriving resets the connection.
		header := "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$" + strconv.Itoa(maxMessage-1) + "\r\n"
		assert.Equal(t, "-ERR Protocol error: invalid bulk length\r\n", protocolError(t, addr, []byte(header)))
	})
}

// send writes b on its own goroutine, so a request larger than the socket
// buffers cannot deadlock against a server that waits for us to read; it
// fails the test if the write fails.
func send(t *testing.T, rc *respClient, b []byte) {
	done := make(chan error, 1)
	go func() {
		_, err := rc.conn.Write(b)
		done <- err
	}()
	t.Cleanup(func() { assert.NoError(t, <-done, "write") })
}

// protocolError sends input on a new connection and returns everything the
// server sends back before it closes the connection.
func protocolError(t *testing.T, addr net.Addr, input []byte) string {
	t.Helper()
	rc := dial(t, addr)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The server may close before it has read everything: a failed
		// write is expected then.
		_, _ = rc.conn.Write(input)
	}()
	got, err := io.ReadAll(rc.r)
	assert.NoError(t, err, "the server should close the connection cleanly")
	<-done
	return string(got)
}

// TestProtocolErrors sends malformed requests: each gets Redis's protocol
// error and the connection is closed, without running what follows.
func TestProtocolErrors(t *testing.T) {
	const follow = "*1\r\n$4\r\nPING\r\n" // must not be answered
	tests := []struct {
		name, in, want string
	}{
		{"not a count", "*abc\r\n" + follow, "invalid multibulk length"},
		{"count too large", "*1048577\r\n" + follow, "invalid multibulk length"},
		{"count overflows", "*99999999999999999999\r\n", "invalid multibulk length"},
		{"negative bulk", "*2\r\n$-5\r\n" + follow, "invalid bulk length"},
		{"null bulk in array", "*1\r\n$-1\r\n" + follow, "invalid bulk length"},
		{"bulk not a number", "*1\r\n$x\r\n", "invalid bulk length"},
		{"bulk over proto-max-bulk-len", "*1\r\n$536870913\r\n", "invalid bulk length"},
		{"bulk over MaxMessage", "*1\r\n$100000000\r\n" + follow, "invalid bulk length"},
		{"bulk of a billion", "*2\r\n$3\r\nSET\r\n$1000000000\r\n", "invalid bulk length"},
		{"not a bulk", "*1\r\n+PING\r\n" + follow, "expected '$', got '+'"},
		{"empty header", "*1\r\n\r\n", `expected '$', got '\r'`},
		{"bulk without CRLF", "*1\r\n$4\r\nPINGxx" + follow, `expected '\r\n' after bulk data`},
		{"unbalanced quotes", "ECHO \"abc\r\n" + follow, "unbalanced quotes in request"},
		{"quote not ending an argument", "ECHO \"a\"b\r\n", "unbalanced quotes in request"},
		{"inline too long", strings.Repeat("a", 70000), "too big inline request"},
		{"bulk header too long", "*1\r\n$" + strings.Repeat("1", 70000), "too big bulk count string"},
		// "$", the digits and the CR: MaxLine bytes are a line, one more
		// is not, wherever in the request the line starts.
		{"bulk header at MaxLine", "*2\r\n$3\r\nGET\r\n$" + strings.Repeat("1", maxLine-2) + "\r\n", "invalid bulk length"},
		{"bulk header over MaxLine", "*2\r\n$3\r\nGET\r\n$" + strings.Repeat("1", maxLine-1) + "\r\n", "too big bulk count string"},
		{"bulk without CRLF, later", "*3\r\n$3\r\nGET\r\n$1\r\nk\r\n$1\r\nvv\r\n" + follow, `expected '\r\n' after bulk data`},
		{"not a bulk, later", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n:1\r\n" + follow, "expected '$', got ':'"},
		{"bulk over MaxMessage, later", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$" + strconv.Itoa(maxMessage-1) + "\r\n", "invalid bulk length"},
	}
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		addr := start(t, kind)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got := protocolError(t, addr, []byte(tc.in))
				assert.Equal(t, "-ERR Protocol error: "+tc.want+"\r\n", got)
			})
		}
		rc := dial(t, addr)
		assert.Equal(t, status("PONG"), rc.do("PING"), "the server still serves others")
	})
}

// TestHugeLengthsAllocateNothing checks that an announced length is not
// allocated before the data arrives: the server refuses a billion-byte
// argument and a million-argument request having allocated almost nothing.
func TestHugeLengthsAllocateNothing(t *testing.T) {
	addr := start(t, 0)
	dial(t, addr).do("PING") // warm up: the first connection's buffers
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		assert.Equal(t, "-ERR Protocol error: invalid bulk length\r\n",
			protocolError(t, addr, []byte("*1\r\n$400000000\r\n")))
		assert.Equal(t, "-ERR Protocol error: invalid bulk length\r\n",
			protocolError(t, addr, []byte("*1048576\r\n$3\r\nGET\r\n$1000000000\r\n")))
	}
	runtime.ReadMemStats(&after)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(8<<20), "bytes allocated for 20 refused requests")
}

func TestQuit(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		addr := start(t, kind)
		rc := dial(t, addr)
		assert.Equal(t, status("OK"), rc.do("SET", "a", "1"))
		// QUIT and more requests in one write: only QUIT is answered.
		rc.write(append(encode("QUIT"), encode("SET", "a", "2")...))
		rest, err := io.ReadAll(rc.r)
		require.NoError(t, err)
		assert.Equal(t, "+OK\r\n", string(rest))

		rc = dial(t, addr)
		assert.Equal(t, "1", rc.do("GET", "a"), "requests after QUIT are not run")
		rc.write([]byte("quit\r\n"))
		rest, err = io.ReadAll(rc.r)
		require.NoError(t, err)
		assert.Equal(t, "+OK\r\n", string(rest))
	})
}

// TestShutdown runs concurrent clients, leaves some connected — one of them
// in the middle of a request — and checks that stopping the server closes
// them all and leaves no descriptor open.
func TestShutdown(t *testing.T) {
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		checkFDs := testutil.FDCheck(t)
		addr, stop := testutil.Serve(t, onLoopback(kind))

		const clients = 8
		var wg sync.WaitGroup
		for i := range clients {
			wg.Go(func() {
				conn, err := net.Dial("tcp", addr.String())
				if !assert.NoError(t, err) {
					return
				}
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(testutil.HangGuard))
				r := bufio.NewReader(conn)
				for j := range 50 {
					_, err := conn.Write(encode("INCR", fmt.Sprint("c", i)))
					if !assert.NoError(t, err) {
						return
					}
					got, err := readReply(r)
					if !assert.NoError(t, err) || !assert.Equal(t, int64(j+1), got) {
						return
					}
				}
			})
		}
		wg.Wait()

		idle := dial(t, addr)
		assert.Equal(t, "50", idle.do("GET", "c3"))
		// A request cut short, behind one that is answered: once PONG is
		// back, the server has read the rest of the write too. (Closing a
		// socket with unread input would send a reset, not EOF.)
		partial := dial(t, addr)
		partial.write(append(encode("PING"), "*2\r\n$3\r\nGET\r\n$10\r\nabc"...))
		assert.Equal(t, status("PONG"), partial.read())
		waitFor(t, idle, []string{"INFO", "clients"}, func(got any) bool {
			info, _ := got.(string)
			return strings.HasPrefix(info, "# Clients\r\nconnected_clients:2\r\n")
		})

		stop()
		for _, rc := range []*respClient{idle, partial} {
			n, err := rc.conn.Read(make([]byte, 1))
			assert.Equal(t, 0, n)
			assert.ErrorIs(t, err, io.EOF, "the server should close open connections on shutdown")
			require.NoError(t, rc.conn.Close())
		}
		checkFDs()
	})
}

// TestServeErrors checks that a context cancelled before the loop starts
// still stops it, and that set-up errors are returned, not hidden.
func TestServeErrors(t *testing.T) {
	testutil.ServeCancelled(t, onLoopback(0))
	assert.Error(t, serve(context.Background(), "127.0.0.1:notaport", 0, loop.DefaultGrace, nil, nil))
	assert.Error(t, serve(context.Background(), testutil.BusyAddr(t), 0, loop.DefaultGrace, nil, nil), "port in use")
}

// steadyState is a pipelined batch of the commands a benchmark sends most —
// PING, SET and GET of existing keys, INCR — with the request that creates
// its counters (at 100000, so that their replies keep their length for a
// while) and the length of its replies.
func steadyState() (setup, req []byte, replyLen int) {
	mset := []string{"MSET"}
	for i := range 100 {
		key := fmt.Sprintf("key:%06d", i)
		req = append(req, encode("PING")...)
		req = append(req, encode("SET", key, "xxx")...)
		req = append(req, encode("GET", key)...)
		req = append(req, encode("INCR", "counter:"+key)...)
		replyLen += len("+PONG\r\n+OK\r\n$3\r\nxxx\r\n:100000\r\n")
		mset = append(mset, "counter:"+key, "100000")
	}
	return encode(mset...), req, replyLen
}

// roundTrip sends a batch of requests and reads its replies into buf.
func roundTrip(conn net.Conn, req, buf []byte) error {
	if _, err := conn.Write(req); err != nil {
		return err
	}
	_, err := io.ReadFull(conn, buf)
	return err
}

// TestSteadyStateAllocs checks that serving PING, SET and GET of existing
// keys and INCR allocates nothing per command once the connection and the
// keys exist. The count is process-wide, so it is an average with room for
// the odd allocation elsewhere (a read buffer the GC took from its pool).
func TestSteadyStateAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("counts allocations over many round trips")
	}
	looptest.ForEachBackend(t, func(t *testing.T, kind poller.Kind) {
		addr := start(t, kind)
		rc := dial(t, addr)
		setup, req, n := steadyState()
		require.NoError(t, roundTrip(rc.conn, setup, make([]byte, len("+OK\r\n"))))
		buf := make([]byte, n)
		for range 5 { // create the keys and grow every buffer
			require.NoError(t, roundTrip(rc.conn, req, buf))
		}
		const rounds = 50
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range rounds {
			require.NoError(t, roundTrip(rc.conn, req, buf))
		}
		runtime.ReadMemStats(&after)
		perCommand := float64(after.Mallocs-before.Mallocs) / (rounds * 400)
		t.Logf("%.4f allocations per command", perCommand)
		assert.Less(t, perCommand, 0.05)
		assert.True(t, bytes.HasPrefix(buf, []byte("+PONG\r\n+OK\r\n$3\r\nxxx\r\n:")), "%q", buf[:40])
	})
}

// BenchmarkPipeline measures a pipelined batch of 400 commands (PING, SET,
// GET, INCR) per operation over loopback, on the best backend.
func BenchmarkPipeline(b *testing.B) {
	addr, _ := testutil.Serve(b, onLoopback(0))
	conn, err := net.Dial("tcp", addr.String())
	require.NoError(b, err)
	defer conn.Close()
	setup, req, n := steadyState()
	require.NoError(b, roundTrip(conn, setup, make([]byte, len("+OK\r\n"))))
	buf := make([]byte, n)
	require.NoError(b, roundTrip(conn, req, buf))
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	for b.Loop() {
		if err := roundTrip(conn, req, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMaxClients runs the server with -maxclients 2: a third client is
// told "-ERR max number of clients reached", as Redis says it, and closed;
// INFO counts it in rejected_connections, and once a client leaves a new
// one is served.
func TestMaxClients(t *testing.T) {
	saved := *maxClients
	*maxClients = 2
	t.Cleanup(func() { *maxClients = saved })
	addr := start(t, 0)
	a, b := dial(t, addr), dial(t, addr)
	require.Equal(t, status("PONG"), a.do("PING"))
	require.Equal(t, status("PONG"), b.do("PING"))

	third, err := net.Dial("tcp", addr.String())
	require.NoError(t, err)
	defer third.Close()
	require.NoError(t, third.SetDeadline(time.Now().Add(testutil.HangGuard)))
	got, err := io.ReadAll(third)
	require.NoError(t, err)
	assert.Equal(t, "-ERR max number of clients reached\r\n", string(got))

	info, _ := a.do("INFO", "stats").(string)
	assert.Contains(t, info, "\r\nrejected_connections:1\r\n")
	clients, _ := a.do("INFO", "clients").(string)
	assert.Contains(t, clients, "\r\nmaxclients:2\r\n")

	require.NoError(t, b.conn.Close())
	// The server notices b is gone in its own time: retry until a new
	// client is served rather than refused.
	deadline := time.Now().Add(testutil.HangGuard)
	for {
		c := dial(t, addr)
		if reply := c.do("PING"); reply == status("PONG") {
			break
		}
		require.True(t, time.Now().Before(deadline), "no client served after one left")
	}
}
