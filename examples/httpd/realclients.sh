#!/usr/bin/env bash
# realclients.sh runs examples/httpd against real HTTP clients — curl,
# ApacheBench (ab) and wrk — once per poller backend, on 127.0.0.1 only.
#
#   bash examples/httpd/realclients.sh                # epoll, poll, select
#   BACKENDS="poll" bash examples/httpd/realclients.sh
#
# For each backend it starts the server on a free port (port 0; the address
# comes from the server's "listening addr=..." log line), then checks:
#   - curl downloads of a 3 MiB random file, byte for byte (cmp), also two
#     on one kept-alive connection; curl -I; POST /echo; a 404;
#   - ab -k -n 2000 -c 20: 2000 complete, 0 failed, no non-2xx;
#   - wrk -t1 -c50 -d3s, plain and pipelined (pipeline.lua, 8 requests per
#     write): no socket errors, no non-2xx/3xx replies;
#   - SIGTERM: the server exits with status 0 and logged nothing at WARN or
#     ERROR level;
#   - hostile clients against a server of its own (TestBinaryAttacks in
#     binary_test.go): 600 pipelined GETs of a cached 64 KiB file all
#     delivered, a GET of a FIFO answered 404 at once, and a 3 s flood of 50
#     connections writing 500 pipelined GETs each without reading, during
#     which the server's peak RSS stays under 128 MiB and an honest GET is
#     answered.
# Every load is bounded in requests or time. Any failure stops the script
# with a non-zero status.
set -euo pipefail

cd "$(dirname "$0")/../.."
here=examples/httpd
backends=${BACKENDS:-epoll poll select}

for tool in go curl ab wrk cmp; do
	if ! command -v "$tool" >/dev/null; then
		echo "realclients.sh: $tool not found; install it: apt-get install curl apache2-utils wrk" >&2
		exit 1
	fi
done

tmp=$(mktemp -d)
server_pid=
cleanup() {
	if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -KILL "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

backend=build
fail() {
	echo "realclients.sh: FAIL [$backend]: $*" >&2
	if [[ -s $tmp/server.log ]]; then
		echo "--- server log (last 20 lines)" >&2
		tail -n 20 "$tmp/server.log" >&2
	fi
	exit 1
}

go build -o "$tmp/httpd" ./$here
mkdir "$tmp/root"
head -c $((3 << 20)) /dev/urandom >"$tmp/root/random.bin"
head -c $((500 << 10)) /dev/urandom >"$tmp/post.bin"
printf '<!doctype html>\n<title>asyncore-go</title>\n<h1>It works.</h1>\n' >"$tmp/root/index.html"

# start_server starts the server for $backend and sets $server_pid and $url.
start_server() {
	: >"$tmp/server.log"
	"$tmp/httpd" -addr 127.0.0.1:0 -root "$tmp/root" -backend "$backend" 2>"$tmp/server.log" &
	server_pid=$!
	local addr=
	for _ in $(seq 100); do
		addr=$(sed -n 's/.* listening addr=\([0-9.]*:[0-9]*\).*/\1/p' "$tmp/server.log")
		[[ -n $addr ]] && break
		kill -0 "$server_pid" 2>/dev/null || fail "the server exited at start-up"
		sleep 0.05
	done
	[[ -n $addr ]] || fail "the server did not log its address within 5s"
	url=http://$addr
	echo "== $backend: server pid $server_pid on $url"
}

# stop_server sends SIGTERM and requires a clean exit within 5s.
stop_server() {
	kill -TERM "$server_pid"
	for _ in $(seq 100); do
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$server_pid" 2>/dev/null && fail "the server did not exit within 5s of SIGTERM"
	local rc=0
	wait "$server_pid" || rc=$?
	server_pid=
	((rc == 0)) || fail "the server exited with status $rc"
	grep -q ' INFO bye' "$tmp/server.log" || fail "the server did not log its clean shutdown"
	if grep -E ' (WARN|ERROR) ' "$tmp/server.log"; then
		fail "the server logged warnings or errors"
	fi
	echo "   server exited 0 after SIGTERM"
}

check_curl() {
	local c=(curl -sS --fail --max-time 20)
	"${c[@]}" -o "$tmp/got.bin" "$url/random.bin"
	cmp "$tmp/root/random.bin" "$tmp/got.bin" || fail "curl download differs"
	rm -f "$tmp/got"*.bin
	# Two downloads in one curl: the second reuses the connection.
	"${c[@]}" -v -o "$tmp/got1.bin" "$url/random.bin" -o "$tmp/got2.bin" "$url/random.bin" 2>"$tmp/curl.err"
	cmp "$tmp/root/random.bin" "$tmp/got1.bin" || fail "first kept-alive download differs"
	cmp "$tmp/root/random.bin" "$tmp/got2.bin" || fail "second kept-alive download differs"
	grep -q 'Re-using existing connection' "$tmp/curl.err" || fail "curl did not reuse the connection"

	"${c[@]}" -I "$url/random.bin" >"$tmp/head.txt"
	grep -q '^HTTP/1.1 200 OK' "$tmp/head.txt" || fail "curl -I: no 200"
	grep -qi "^Content-Length: $((3 << 20))" "$tmp/head.txt" || fail "curl -I: wrong Content-Length"
	grep -qi '^Server: asyncore-go' "$tmp/head.txt" || fail "curl -I: no Server header"

	"${c[@]}" --data-binary "@$tmp/post.bin" -H 'Content-Type: application/octet-stream' \
		-o "$tmp/echo.bin" "$url/echo"
	cmp "$tmp/post.bin" "$tmp/echo.bin" || fail "POST /echo: body differs"

	local code
	code=$(curl -sS --max-time 20 -o /dev/null -w '%{http_code}' "$url/missing")
	[[ $code == 404 ]] || fail "GET /missing: status $code, want 404"
	echo "   curl: 3 MiB downloads identical (cmp), keep-alive reused, -I ok, POST /echo ok, 404 ok"
}

check_ab() {
	timeout 60 ab -k -n 2000 -c 20 -s 10 "$url/" >"$tmp/ab.txt" 2>&1 || {
		cat "$tmp/ab.txt" >&2
		fail "ab failed"
	}
	grep -Eq '^Complete requests: +2000$' "$tmp/ab.txt" || fail "ab: not 2000 complete requests"
	grep -Eq '^Failed requests: +0$' "$tmp/ab.txt" || fail "ab: failed requests"
	if grep -q 'Non-2xx responses' "$tmp/ab.txt"; then
		fail "ab: non-2xx responses"
	fi
	grep -E '^(Complete requests|Failed requests|Keep-Alive requests|Requests per second):' "$tmp/ab.txt" |
		sed 's/^/   ab: /'
}

# check_attacks runs TestBinaryAttacks against the built binary.
check_attacks() {
	HTTPD_BIN=$tmp/httpd HTTPD_BACKEND=$backend HTTPD_FLOOD=3s \
		timeout 180 go test -count=1 -run '^TestBinaryAttacks$' -v ./$here/ >"$tmp/attacks.txt" 2>&1 || {
		cat "$tmp/attacks.txt" >&2
		fail "attacks failed"
	}
	grep -E 'binary_test.go:[0-9]+: ' "$tmp/attacks.txt" | sed 's/^ *binary_test.go:[0-9]*: /   attacks: /'
}

# check_wrk runs wrk with the given extra arguments and a label.
check_wrk() {
	local label=$1
	shift
	timeout 30 wrk -t1 -c50 -d3s --timeout 5s "$@" >"$tmp/wrk.txt" 2>&1 || {
		cat "$tmp/wrk.txt" >&2
		fail "wrk ($label) failed"
	}
	if grep -E 'Socket errors|Non-2xx' "$tmp/wrk.txt"; then
		fail "wrk ($label): errors"
	fi
	grep -Eq 'requests in' "$tmp/wrk.txt" || fail "wrk ($label): no summary"
	grep -E 'requests in|Requests/sec|Transfer/sec' "$tmp/wrk.txt" | sed "s/^ */   wrk $label: /"
}

for backend in $backends; do
	start_server
	check_curl
	check_ab
	check_wrk plain "$url/"
	check_wrk pipelined -s "$here/pipeline.lua" "$url/" -- 8
	stop_server
	check_attacks
done
backend=all
echo "realclients.sh: all checks passed ($backends)"
