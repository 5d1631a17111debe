#!/usr/bin/env bash
# realclients.sh: the resp example against the real Redis tools. For each
# poller backend (epoll, poll, select) it starts the server on a free
# loopback port, checks redis-cli round trips byte for byte, runs
# redis-benchmark with and without pipelining, runs hostile_clients.py
# (pipelined large GETs, a million arguments on 20 connections, an 8 GB
# MGET: each delivered or refused within a memory bound), and stops the
# server with SIGTERM, which must end it with status 0.
#
#	bash examples/resp/realclients.sh
#	BACKENDS="epoll" REQUESTS=100000 bash examples/resp/realclients.sh
#
# It needs go, python3, redis-cli and redis-benchmark (apt-get install
# redis-tools).
# Any failure stops it with a message and a non-zero status.
set -euo pipefail

BACKENDS=${BACKENDS:-epoll poll select}
REQUESTS=${REQUESTS:-20000}
TESTS=ping,set,get,incr,mset

die() {
	echo "realclients.sh: FAIL: $*" >&2
	exit 1
}

for tool in go python3 redis-cli redis-benchmark timeout; do
	command -v "$tool" >/dev/null ||
		die "$tool not found (redis-cli and redis-benchmark: apt-get install redis-tools)"
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d)
pid=
cleanup() {
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

echo "building the resp example"
(cd "$here" && go build -o "$work/resp" .)

# start BACKEND: run the server on 127.0.0.1:0 and set port from the
# "listening addr=..." line it logs.
start() {
	: >"$work/log"
	"$work/resp" -addr 127.0.0.1:0 -backend "$1" 2>"$work/log" &
	pid=$!
	port=
	for _ in $(seq 100); do
		port=$(sed -n 's/.*listening addr=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/log")
		[[ -n $port ]] && return
		kill -0 "$pid" 2>/dev/null || die "server exited at start: $(cat "$work/log")"
		sleep 0.1
	done
	die "server did not log its address within 10s: $(cat "$work/log")"
}

# stop: SIGTERM, which must end the server with status 0 and "bye".
stop() {
	kill -TERM "$pid"
	local status=0
	wait "$pid" || status=$?
	pid=
	((status == 0)) || die "server exited with status $status: $(cat "$work/log")"
	grep -q 'INFO bye' "$work/log" || die "no 'bye' in the server log: $(cat "$work/log")"
}

cli() { timeout 10 redis-cli -h 127.0.0.1 -p "$port" "$@"; }

# expect WANT CMD...: CMD's standard output must be exactly WANT.
expect() {
	local want=$1 got
	shift
	got=$("$@") || die "$* failed with status $?"
	[[ $got == "$want" ]] || die "$*: got $(printf %q "$got"), want $(printf %q "$want")"
}

# bench PIPELINE: run redis-benchmark and check that every test reported
# its rate and nothing reported an error.
bench() {
	local out="$work/bench-$1"
	timeout 300 redis-benchmark -h 127.0.0.1 -p "$port" -t "$TESTS" -n "$REQUESTS" -q -P "$1" \
		>"$out" 2>&1 || die "redis-benchmark -P $1 failed: $(cat "$out")"
	# -q overwrites a progress line with CR; keep the final lines.
	tr '\r' '\n' <"$out" | grep -E '^[A-Z_ ()0-9a-z]+: [0-9.]+ requests per second' >"$out.summary" || true
	if tr '\r' '\n' <"$out" | grep -iE 'error|warning|could not' >&2; then
		die "redis-benchmark -P $1 reported errors"
	fi
	for name in PING_INLINE PING_MBULK SET GET INCR 'MSET (10 keys)'; do
		grep -qF "$name: " "$out.summary" || die "redis-benchmark -P $1 printed no rate for $name: $(cat "$out")"
	done
	sed "s/^/    -P $1  /" "$out.summary"
}

for backend in $BACKENDS; do
	echo "== backend $backend"
	start "$backend"
	echo "   listening on 127.0.0.1:$port"

	expect "OK" cli FLUSHALL
	expect "PONG" cli PING
	expect "hi there" cli ECHO "hi there"
	expect "OK" cli SET greeting hello
	expect "hello" cli GET greeting
	expect "" cli GET missing
	expect "1" cli INCR counter
	expect "2" cli INCR counter
	expect "12" cli INCRBY counter 10
	expect "ERR value is not an integer or out of range" cli INCR greeting
	expect "OK" cli MSET a 1 b 2 c 3
	expect $'1\n2\n\n3' cli MGET a b missing c
	expect "2" cli DEL a b missing
	expect "2" cli EXISTS greeting c
	expect "3" cli DBSIZE
	expect "OK" cli SET temp x PX 100000
	expect "100" cli TTL temp
	expect "ERR unknown command 'NOSUCH', with args beginning with: 'x' " cli NOSUCH x
	expect "ERR wrong number of arguments for 'get' command" cli GET a b
	# Several commands on one connection, as redis-cli sends a script.
	expect $'PONG\nOK\nvalue\n1' cli <<<$'PING\nSET k value\nGET k\nDEL k'
	# HELLO 3 is refused with NOPROTO; redis-cli -3 warns and goes on in RESP2.
	expect "hello" cli -3 GET greeting 2>/dev/null
	# redis-cli's pretty printing, as a person sees it.
	expect $'1) "hello"\n2) (nil)' cli --no-raw MGET greeting missing
	expect "OK" cli FLUSHALL
	expect "0" cli DBSIZE
	echo "   redis-cli: all round trips match"

	bench 1
	bench 16

	echo "   hostile clients"
	timeout 300 python3 "$here/hostile_clients.py" "$port" "$pid" || die "hostile_clients.py failed"

	stop
	echo "   stopped cleanly with SIGTERM"
done
echo "realclients.sh: PASS"
