package main

import (
	"fmt"
	"math"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/loop"
)

// serverVersion is the Redis version whose commands and replies this server
// imitates, reported by INFO and HELLO.
const serverVersion = "7.0.0"

// command is one entry of the command table. arity follows Redis: n > 0
// means exactly n arguments counting the name, n < 0 at least -n.
type command struct {
	name  string
	arity int
	run   func(c *client, argv [][]byte)
}

// commands maps lower-case names to commands. It is filled in init because
// COMMAND COUNT reads it.
var commands map[string]*command

func init() {
	commands = map[string]*command{}
	for _, cmd := range []*command{
		{"ping", -1, ping},
		{"echo", 2, func(c *client, argv [][]byte) { c.out = appendBulk(c.out, argv[1]) }},
		{"set", -3, set},
		{"get", 2, get},
		{"del", -2, del},
		{"exists", -2, exists},
		{"incr", 2, func(c *client, argv [][]byte) { c.incrBy(argv[1], 1) }},
		{"decr", 2, func(c *client, argv [][]byte) { c.incrBy(argv[1], -1) }},
		{"incrby", 3, func(c *client, argv [][]byte) { incrByArg(c, argv, false) }},
		{"decrby", 3, func(c *client, argv [][]byte) { incrByArg(c, argv, true) }},
		{"mget", -2, mget},
		{"mset", -3, mset},
		{"ttl", 2, func(c *client, argv [][]byte) { ttl(c, argv, time.Second) }},
		{"pttl", 2, func(c *client, argv [][]byte) { ttl(c, argv, time.Millisecond) }},
		{"dbsize", 1, func(c *client, argv [][]byte) { c.out = appendInt(c.out, int64(c.srv.db.keys.len())) }},
		{"flushall", -1, flush},
		{"flushdb", -1, flush},
		{"select", 2, selectDB},
		{"config", -2, config},
		{"command", -1, commandCmd},
		{"hello", -1, hello},
		{"client", -2, clientCmd},
		{"info", -1, info},
		{"quit", -1, quit},
	} {
		commands[cmd.name] = cmd
	}
}

// dispatch runs the request argv, appending its reply to c.out. Looking the
// name up allocates nothing: it is lower-cased into a scratch array, and
// the compiler does not copy a []byte converted to string for a map index.
func (c *client) dispatch(argv [][]byte) {
	cmd := commands[string(lower(c.lname[:], argv[0]))]
	switch {
	case cmd == nil:
		c.errorf("ERR unknown command '%.128s', with args beginning with: %s", argv[0], argsSummary(argv[1:]))
	case cmd.arity > 0 && len(argv) != cmd.arity, cmd.arity < 0 && len(argv) < -cmd.arity:
		c.arityError(cmd.name)
	default:
		c.srv.commands++
		cmd.run(c, argv)
	}
}

// Error replies. Their text is Redis's, which clients and scripts match.
const (
	errSyntax    = "ERR syntax error"
	errNotInt    = "ERR value is not an integer or out of range"
	errOverflow  = "ERR increment or decrement would overflow"
	errDBIndex   = "ERR DB index is out of range"
	errNoProto   = "NOPROTO sorry, this protocol version is not supported"
	errSetExpire = "ERR invalid expire time in 'set' command"
)

func (c *client) error(msg string) { c.out = appendError(c.out, msg) }

func (c *client) errorf(format string, args ...any) { c.error(fmt.Sprintf(format, args...)) }

func (c *client) arityError(name string) {
	c.errorf("ERR wrong number of arguments for '%s' command", name)
}

func (c *client) unknownSubcommand(sub []byte, cmd string) {
	c.errorf("ERR unknown subcommand '%.128s'. Try %s HELP.", sub, cmd)
}

// option lower-cases an option or subcommand name for a switch, which
// compares without converting it to a string on the heap.
func (c *client) option(arg []byte) []byte { return lower(c.lname[:], arg) }

// PING [message]
func ping(c *client, argv [][]byte) {
	switch len(argv) {
	case 1:
		c.out = appendStatus(c.out, "PONG")
	case 2:
		c.out = appendBulk(c.out, argv[1])
	default:
		c.arityError("ping")
	}
}

// SET key value [NX|XX] [EX seconds|PX milliseconds|KEEPTTL]
func set(c *client, argv [][]byte) {
	var nx, xx, keep, expiring bool
	var ttl time.Duration
	for i := 3; i < len(argv); i++ {
		switch opt := string(c.option(argv[i])); {
		case opt == "nx" && !xx:
			nx = true
		case opt == "xx" && !nx:
			xx = true
		case opt == "keepttl" && !expiring:
			keep = true
		case (opt == "ex" || opt == "px") && !expiring && !keep && i+1 < len(argv):
			unit := time.Second
			if opt == "px" {
				unit = time.Millisecond
			}
			i++
			n, ok := parseInt(argv[i])
			if !ok {
				c.error(errNotInt)
				return
			}
			if n <= 0 || n > math.MaxInt64/int64(unit) {
				c.error(errSetExpire)
				return
			}
			ttl, expiring = time.Duration(n)*unit, true
		default:
			c.error(errSyntax)
			return
		}
	}
	db := c.srv.db
	e := db.get(argv[1])
	if nx && e != nil || xx && e == nil {
		c.out = append(c.out, replyNull...)
		return
	}
	e = db.set(e, argv[1], argv[2])
	switch {
	case expiring:
		db.expireAt(e, db.now()+int64(ttl))
	case !keep:
		db.expireAt(e, 0)
	}
	c.out = append(c.out, replyOK...)
}

// GET key
func get(c *client, argv [][]byte) { c.value(argv[1]) }

// value appends key's value as a bulk string, or null if it has none. A
// value of keepBuffer bytes or more is queued on its own rather than
// copied into the reply scratch (see pushValue).
func (c *client) value(key []byte) {
	e := c.srv.db.get(key)
	switch {
	case e == nil:
		c.out = append(c.out, replyNull...)
	case len(e.val) < keepBuffer:
		c.out = appendBulk(c.out, e.val)
	default:
		c.out = appendBulkHeader(c.out, len(e.val))
		c.spill()
		c.pushValue(e)
		c.out = append(c.out, crlf...)
	}
}

// pushValue queues a stored value as part of the reply, by reference
// (chat.PushShared), so that GETs of a large value do not copy it once per
// reply. The entry is marked shared: the value's bytes are not written
// again, a SET of the key gets new memory (see entry.writable), and the
// queued reply sends the value it was asked for. The queue counts the
// value towards OutHighWater and OutLimit like any other output.
func (c *client) pushValue(e *entry) {
	e.shared = true
	c.PushShared(e.val)
}

// spill queues the part of a reply built so far, keeping the scratch's
// memory. A reply that repeats stored values (MGET) is queued as it is
// built, so that it is the chat's output queue, and its OutLimit, that
// bounds it, not the scratch growing to its whole size: an MGET naming a
// large value a thousand times closes the connection at OutLimit instead
// of building gigabytes.
func (c *client) spill() {
	c.Push(c.out)
	c.out = c.out[:0]
}

// gone reports whether the connection has been closed, as it is when a
// reply goes past the chat's OutLimit: what is left of the reply need not
// be built.
func (c *client) gone() bool { return c.Fd() < 0 }

// DEL key [key ...]
func del(c *client, argv [][]byte) {
	n := 0
	for _, key := range argv[1:] {
		if e := c.srv.db.get(key); e != nil {
			c.srv.db.remove(e)
			n++
		}
	}
	c.out = appendInt(c.out, int64(n))
}

// EXISTS key [key ...]: a key named twice counts twice, as in Redis.
func exists(c *client, argv [][]byte) {
	n := 0
	for _, key := range argv[1:] {
		if c.srv.db.get(key) != nil {
			n++
		}
	}
	c.out = appendInt(c.out, int64(n))
}

// INCRBY key increment, DECRBY key decrement
func incrByArg(c *client, argv [][]byte, negate bool) {
	n, ok := parseInt(argv[2])
	switch {
	case !ok:
		c.error(errNotInt)
	case negate && n == math.MinInt64:
		c.error("ERR decrement would overflow")
	case negate:
		c.incrBy(argv[1], -n)
	default:
		c.incrBy(argv[1], n)
	}
}

// incrBy adds delta to the integer stored at key (0 if missing), keeping its
// time to live, and replies with the result. The new value is written over
// the old one's bytes, so counting allocates nothing once the key exists.
func (c *client) incrBy(key []byte, delta int64) {
	db := c.srv.db
	var old int64
	e := db.get(key)
	if e != nil {
		v, ok := parseInt(e.val)
		if !ok {
			c.error(errNotInt)
			return
		}
		old = v
	}
	if delta > 0 && old > math.MaxInt64-delta || delta < 0 && old < math.MinInt64-delta {
		c.error(errOverflow)
		return
	}
	n := old + delta
	if e != nil {
		e.val = strconv.AppendInt(e.writable(20), n, 10)
	} else {
		var digits [20]byte
		db.set(nil, key, strconv.AppendInt(digits[:0], n, 10))
	}
	c.out = appendInt(c.out, n)
}

// MGET key [key ...]
func mget(c *client, argv [][]byte) {
	c.out = appendArray(c.out, len(argv)-1)
	for _, key := range argv[1:] {
		c.value(key)
		if len(c.out) >= keepBuffer {
			c.spill()
		}
		if c.gone() {
			return
		}
	}
}

// MSET key value [key value ...]: each key loses its time to live, as with
// SET.
func mset(c *client, argv [][]byte) {
	if len(argv)%2 == 0 {
		c.arityError("mset")
		return
	}
	db := c.srv.db
	for i := 1; i < len(argv); i += 2 {
		key := argv[i]
		db.expireAt(db.set(db.get(key), key, argv[i+1]), 0)
	}
	c.out = append(c.out, replyOK...)
}

// TTL key, PTTL key: -2 for a missing key, -1 for a key without a deadline.
// TTL rounds to the nearest second, as Redis does.
func ttl(c *client, argv [][]byte, unit time.Duration) {
	db := c.srv.db
	e := db.get(argv[1])
	switch {
	case e == nil:
		c.out = appendInt(c.out, -2)
	case e.expire == 0:
		c.out = appendInt(c.out, -1)
	default:
		left := time.Duration(e.expire - db.now())
		c.out = appendInt(c.out, int64((left+unit/2)/unit))
	}
}

// FLUSHALL [ASYNC|SYNC], FLUSHDB [ASYNC|SYNC]: there is one database, so
// both empty it. It is always done at once.
func flush(c *client, argv [][]byte) {
	if len(argv) > 2 {
		c.error(errSyntax)
		return
	}
	if len(argv) == 2 {
		if opt := string(c.option(argv[1])); opt != "async" && opt != "sync" {
			c.error(errSyntax)
			return
		}
	}
	c.srv.db.flush()
	c.out = append(c.out, replyOK...)
}

// SELECT index: only database 0 exists.
func selectDB(c *client, argv [][]byte) {
	n, ok := parseInt(argv[1])
	switch {
	case !ok:
		c.error(errNotInt)
	case n != 0:
		c.error(errDBIndex)
	default:
		c.out = append(c.out, replyOK...)
	}
}

// configParams are the parameters CONFIG GET knows. redis-benchmark asks
// for save and appendonly when it starts, to warn about persistence.
var configParams = []struct{ name, value string }{
	{"appendonly", "no"},
	{"databases", "1"},
	{"maxmemory", "0"},
	{"proto-max-bulk-len", strconv.Itoa(maxMessage)},
	{"save", ""},
}

// CONFIG GET pattern [pattern ...]: name/value pairs, as a flat array (the
// RESP2 form of a map). Patterns are globs, matched case-insensitively.
func config(c *client, argv [][]byte) {
	if string(c.option(argv[1])) != "get" {
		c.unknownSubcommand(argv[1], "CONFIG")
		return
	}
	if len(argv) < 3 {
		c.arityError("config|get")
		return
	}
	var matched []int
	for i, p := range configParams {
		for _, pattern := range argv[2:] {
			if ok, _ := path.Match(strings.ToLower(string(pattern)), p.name); ok {
				matched = append(matched, i)
				break
			}
		}
	}
	c.out = appendArray(c.out, 2*len(matched))
	for _, i := range matched {
		c.out = appendBulkString(c.out, configParams[i].name)
		c.out = appendBulkString(c.out, configParams[i].value)
	}
}

// COMMAND [subcommand ...]: redis-cli asks for COMMAND DOCS to offer hints.
// This server describes none of its commands, so every listing is empty;
// COMMAND COUNT is honest.
func commandCmd(c *client, argv [][]byte) {
	if len(argv) > 1 && string(c.option(argv[1])) == "count" {
		c.out = appendInt(c.out, int64(len(commands)))
		return
	}
	c.out = appendArray(c.out, 0)
}

// HELLO [protover [SETNAME name]]: only RESP2 is spoken, so HELLO 3 gets
// NOPROTO and a client carries on in RESP2. The reply is the RESP2 form of
// Redis's map: a flat array of names and values.
func hello(c *client, argv [][]byte) {
	if len(argv) > 1 {
		v, ok := parseInt(argv[1])
		if !ok {
			c.error("ERR Protocol version is not an integer or out of range")
			return
		}
		if v != 2 {
			c.error(errNoProto)
			return
		}
	}
	for i := 2; i < len(argv); i++ {
		if string(c.option(argv[i])) == "setname" && i+1 < len(argv) {
			i++
			c.name = string(argv[i])
			continue
		}
		c.errorf("ERR Syntax error in HELLO option '%.128s'", argv[i])
		return
	}
	c.out = appendArray(c.out, 14)
	c.out = appendBulkString(c.out, "server")
	c.out = appendBulkString(c.out, "asyncore-resp")
	c.out = appendBulkString(c.out, "version")
	c.out = appendBulkString(c.out, serverVersion)
	c.out = appendBulkString(c.out, "proto")
	c.out = appendInt(c.out, 2)
	c.out = appendBulkString(c.out, "id")
	c.out = appendInt(c.out, c.id)
	c.out = appendBulkString(c.out, "mode")
	c.out = appendBulkString(c.out, "standalone")
	c.out = appendBulkString(c.out, "role")
	c.out = appendBulkString(c.out, "master")
	c.out = appendBulkString(c.out, "modules")
	c.out = appendArray(c.out, 0)
}

// CLIENT SETNAME name | GETNAME | ID | LIST | SETINFO attr value
func clientCmd(c *client, argv [][]byte) {
	sub := string(c.option(argv[1]))
	arity := 2
	switch sub {
	case "setname":
		arity = 3
	case "setinfo":
		arity = 4
	case "getname", "id", "list":
	default:
		c.unknownSubcommand(argv[1], "CLIENT")
		return
	}
	if len(argv) != arity {
		c.arityError("client|" + sub)
		return
	}
	switch sub {
	case "setname":
		if strings.ContainsFunc(string(argv[2]), func(r rune) bool { return r <= ' ' || r > '~' }) {
			c.error("ERR Client names cannot contain spaces, newlines or special characters.")
			return
		}
		c.name = string(argv[2])
		c.out = append(c.out, replyOK...)
	case "getname":
		if c.name == "" {
			c.out = append(c.out, replyNull...)
		} else {
			c.out = appendBulkString(c.out, c.name)
		}
	case "id":
		c.out = appendInt(c.out, c.id)
	case "list":
		c.out = appendBulkString(c.out, clientList(c.Map()))
	default: // setinfo: lib-name and lib-ver are accepted and forgotten
		c.out = append(c.out, replyOK...)
	}
}

// clientList is CLIENT LIST: one line per connection, in Redis's format,
// from each connection's ChannelStats — qbuf is the input waiting for a
// terminator, omem the output queued — and its own buffers: argv-mem is
// what its request buffers hold (see client.argvMem), tot-mem that and the
// reply scratch, qbuf and omem together.
func clientList(m *loop.Map) string {
	var b strings.Builder
	m.Range(func(fd int, ch loop.Channel) bool {
		cl, ok := ch.(*client)
		if !ok {
			return true
		}
		st := cl.ChannelStats()
		argvMem := cl.argvMem()
		totMem := argvMem + cap(cl.out) + st.InBuffered + st.OutBuffered
		fmt.Fprintf(&b, "id=%d addr=%s fd=%d name=%s qbuf=%d argv-mem=%d omem=%d tot-mem=%d tot-net-in=%d tot-net-out=%d\n",
			cl.id, cl.Socket().RemoteAddr(), fd, cl.name, st.InBuffered, argvMem, st.OutBuffered, totMem, st.BytesIn, st.BytesOut)
		return true
	})
	return b.String()
}

// INFO [section ...]: the server, clients, stats and keyspace sections, in
// Redis's "# Section" and "name:value" lines. The stats section is the
// loop's Stats and the map's connection counters (dispatcher.Stats), under
// Redis's names where Redis has the counter.
func info(c *client, argv [][]byte) {
	want := func(section string) bool {
		if len(argv) == 1 {
			return true
		}
		for _, a := range argv[1:] {
			if s := string(c.option(a)); s == section || s == "all" || s == "default" || s == "everything" {
				return true
			}
		}
		return false
	}
	s, db := c.srv, c.srv.db
	var b strings.Builder
	if want("server") {
		fmt.Fprintf(&b, "# Server\r\nredis_version:%s\r\nredis_mode:standalone\r\n", serverVersion)
		fmt.Fprintf(&b, "multiplexing_api:%s\r\nprocess_id:%d\r\ntcp_port:%d\r\n", s.kind, os.Getpid(), s.port)
		fmt.Fprintf(&b, "uptime_in_seconds:%d\r\n", int64(time.Since(s.started).Seconds()))
	}
	st, cs := c.Map().Loop().Stats(), dispatcher.Stats(c.Map())
	if want("clients") {
		b.WriteString(sectionBreak(&b))
		fmt.Fprintf(&b, "# Clients\r\nconnected_clients:%d\r\nmaxclients:%d\r\n", s.clients, dispatcher.MaxConns(c.Map()))
		fmt.Fprintf(&b, "client_input_buffered:%d\r\nclient_output_buffered:%d\r\n", st.InBuffered, st.OutBuffered)
	}
	if want("stats") {
		b.WriteString(sectionBreak(&b))
		b.WriteString("# Stats\r\n")
		for _, kv := range []struct {
			name string
			v    uint64
		}{
			{"total_connections_received", cs.Accepted + cs.Rejected + cs.Shed},
			{"total_commands_processed", s.commands},
			{"total_net_input_bytes", st.BytesIn},
			{"total_net_output_bytes", st.BytesOut},
			{"rejected_connections", cs.Rejected},
			{"shed_connections", cs.Shed},
			{"accept_pauses", cs.AcceptPauses},
			{"timeouts", cs.Timeouts},
			{"limit_disconnections", cs.LimitCloses},
			{"panics_recovered", st.Panics},
			{"loop_iterations", st.Iterations},
			{"loop_wakeups", st.Wakeups},
			{"loop_events", st.Events},
			{"timers_fired", st.TimersFired},
		} {
			fmt.Fprintf(&b, "%s:%d\r\n", kv.name, kv.v)
		}
	}
	if want("keyspace") {
		b.WriteString(sectionBreak(&b))
		b.WriteString("# Keyspace\r\n")
		if db.keys.len() > 0 {
			fmt.Fprintf(&b, "db0:keys=%d,expires=%d,avg_ttl=0\r\n", db.keys.len(), len(db.expires))
		}
	}
	c.out = appendBulkString(c.out, b.String())
}

// sectionBreak separates INFO sections with an empty line.
func sectionBreak(b *strings.Builder) string {
	if b.Len() == 0 {
		return ""
	}
	return "\r\n"
}

// QUIT: reply +OK, then close once the reply has been written. Requests
// already received after it are not run.
func quit(c *client, argv [][]byte) {
	c.out = append(c.out, replyOK...)
	c.flush()
	c.CloseWhenDone()
}
