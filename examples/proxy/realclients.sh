#!/usr/bin/env bash
# realclients.sh puts the proxy in front of real servers and drives it with
# real clients, on each poller backend:
#
#   - examples/echo behind the proxy: four nc clients at once send 1 MiB
#     each and must get the same bytes back;
#   - socat running sha256sum behind the proxy: nc -N and socat send 1 MiB
#     and half-close; the backend answers only after that EOF, so the answer
#     proves both that every byte arrived and that the half-close passed
#     through (and the answer's EOF back);
#   - the same proxy once that backend is gone: a client is closed at once
#     (connect refused);
#
# then stops every process with SIGTERM, by PID, and checks it exits 0.
# Everything runs on 127.0.0.1 with ports the kernel picks, and every step
# is bounded in time. Run it from anywhere:
#
#	examples/proxy/realclients.sh            # epoll, poll and select
#	examples/proxy/realclients.sh poll       # just one backend
set -euo pipefail

die() {
	echo "realclients: FAIL: $*" >&2
	exit 1
}
need() {
	command -v "$1" >/dev/null 2>&1 || die "$1 not found; install it with: sudo apt-get install $2"
}
need go golang-go
need nc netcat-openbsd
need socat socat
need sha256sum coreutils
need timeout coreutils
nc -h 2>&1 | grep -q OpenBSD ||
	die "nc is not OpenBSD netcat (this script needs -N and -q); install it with: sudo apt-get install netcat-openbsd"

cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

echo "realclients: building examples/echo and examples/proxy"
go build -o "$tmp/echo" ./examples/echo
go build -o "$tmp/proxy" ./examples/proxy

# wait_for FILE PATTERN: wait up to 10 s for PATTERN to appear in FILE.
wait_for() {
	for _ in $(seq 100); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "--- $1:" >&2
	cat "$1" >&2 || true
	die "timed out waiting for '$2' in $1"
}

# port_of LOG: the port in the first "addr=127.0.0.1:PORT" of LOG.
port_of() {
	grep -o 'addr=127\.0\.0\.1:[0-9]*' "$1" | head -1 | cut -d: -f2
}

# stop PID NAME LOG: SIGTERM, then up to 5 s for a clean exit with status 0
# and "bye" in the log.
stop() {
	local pid=$1 name=$2 log=$3 rc=0
	kill -TERM "$pid"
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && die "$name still running 5 s after SIGTERM"
	wait "$pid" || rc=$?
	[[ $rc -eq 0 ]] || die "$name exited with status $rc: $(cat "$log")"
	grep -q "INFO bye" "$log" || die "$name: no 'bye' in its log"
}

# start_proxy BACKEND TARGET LOG: start a proxy to TARGET and set
# proxy_pid and proxy_port.
start_proxy() {
	"$tmp/proxy" -listen 127.0.0.1:0 -to "$2" -backend "$1" -v 2>"$3" &
	proxy_pid=$!
	pids+=("$proxy_pid")
	wait_for "$3" "proxy listening"
	grep -q "backend=$1" "$3" || die "proxy did not start on $1: $(cat "$3")"
	proxy_port=$(port_of "$3")
}

for i in 1 2 3 4; do
	head -c $((1 << 20)) /dev/urandom >"$tmp/in$i"
done
want=$(sha256sum <"$tmp/in1")

# The echo server, the same for every backend.
"$tmp/echo" -addr 127.0.0.1:0 2>"$tmp/echo.log" &
echo_pid=$!
pids+=("$echo_pid")
wait_for "$tmp/echo.log" "echo server listening"
echo_port=$(port_of "$tmp/echo.log")

backends=("$@")
[[ ${#backends[@]} -gt 0 ]] || backends=(epoll poll select)

for backend in "${backends[@]}"; do
	dir=$tmp/$backend
	mkdir -p "$dir"

	# 1. Round trips through the proxy to examples/echo, four at once.
	# nc does not half-close here (no -N): examples/echo closes as soon as
	# it reads EOF, dropping echo output it has not written yet. nc quits
	# 3 s after its input ends, which is ample for 1 MiB on loopback.
	start_proxy "$backend" "127.0.0.1:$echo_port" "$dir/proxy-echo.log"
	echo "realclients: $backend: proxy pid $proxy_pid, 127.0.0.1:$proxy_port -> echo on 127.0.0.1:$echo_port"
	clients=()
	for i in 1 2 3 4; do
		timeout 20 nc -q 3 127.0.0.1 "$proxy_port" <"$tmp/in$i" >"$dir/echo$i.out" &
		clients+=($!)
	done
	for i in 1 2 3 4; do
		wait "${clients[$((i - 1))]}" || die "$backend: nc client $i through the proxy to echo failed"
		cmp "$tmp/in$i" "$dir/echo$i.out" || die "$backend: echo through the proxy: client $i got other bytes back"
	done
	stop "$proxy_pid" "proxy ($backend)" "$dir/proxy-echo.log"

	# 2. Half-close: a backend that answers only after EOF.
	socat -d -d TCP-LISTEN:0,bind=127.0.0.1,reuseaddr,fork EXEC:sha256sum 2>"$dir/socat.log" &
	socat_pid=$!
	pids+=("$socat_pid")
	wait_for "$dir/socat.log" "listening on"
	sha_port=$(grep -o 'listening on AF=2 127\.0\.0\.1:[0-9]*' "$dir/socat.log" | head -1 | cut -d: -f2)
	start_proxy "$backend" "127.0.0.1:$sha_port" "$dir/proxy-sha.log"
	echo "realclients: $backend: proxy pid $proxy_pid, 127.0.0.1:$proxy_port -> sha256sum (socat) on 127.0.0.1:$sha_port"

	got=$(timeout 20 nc -N 127.0.0.1 "$proxy_port" <"$tmp/in1") || die "$backend: nc -N through the proxy failed"
	[[ $got == "$want" ]] || die "$backend: nc -N: backend saw '$got', want '$want'"
	got=$(timeout 20 socat -t 10 - "TCP:127.0.0.1:$proxy_port" <"$tmp/in1") || die "$backend: socat through the proxy failed"
	[[ $got == "$want" ]] || die "$backend: socat: backend saw '$got', want '$want'"
	got=$(printf 'hello' | timeout 20 socat -t 10 - "TCP:127.0.0.1:$proxy_port") || die "$backend: socat (small) failed"
	[[ $got == "$(printf 'hello' | sha256sum)" ]] || die "$backend: socat (small): backend saw '$got'"

	# 3. The backend goes away: a client is closed promptly, with no data.
	kill -TERM "$socat_pid"
	wait "$socat_pid" 2>/dev/null || true # socat reports SIGTERM as its status
	start=$(date +%s%N)
	got=$(timeout 5 nc 127.0.0.1 "$proxy_port" </dev/null) || die "$backend: connect refused: the client was not closed within 5 s"
	ms=$((($(date +%s%N) - start) / 1000000))
	[[ -z $got ]] || die "$backend: connect refused: the client received '$got'"
	[[ $ms -lt 2000 ]] || die "$backend: connect refused: the client was closed only after $ms ms"
	grep -q "backend refused the connection" "$dir/proxy-sha.log" || die "$backend: no refusal in the proxy log"
	stop "$proxy_pid" "proxy ($backend)" "$dir/proxy-sha.log"

	if grep -E "ERROR|WARN" "$dir"/proxy-*.log >&2; then
		die "$backend: errors in the proxy log"
	fi
	echo "realclients: $backend: ok (4 x 1 MiB echoed; 1 MiB + half-close via nc -N and socat; refused in ${ms} ms; exit 0 on SIGTERM)"
done

stop "$echo_pid" "echo" "$tmp/echo.log"
echo "realclients: PASS"
