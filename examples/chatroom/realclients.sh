#!/usr/bin/env bash
# realclients.sh drives the chat server with real clients — nc
# (netcat-openbsd), nc -C (CRLF lines) and telnet — on each poller backend,
# checks what every client saw, then stops the server with SIGTERM and checks
# that it exits 0. Everything runs on 127.0.0.1 with ports the kernel picks,
# and every step is bounded in time. Run it from anywhere:
#
#	examples/chatroom/realclients.sh            # epoll, poll and select
#	examples/chatroom/realclients.sh poll       # just one backend
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
need telnet telnet
need timeout coreutils
nc -h 2>&1 | grep -q OpenBSD ||
	die "nc is not OpenBSD netcat (this script needs -C); install it with: sudo apt-get install netcat-openbsd"

cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
server_pid=
cleanup() {
	if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -KILL "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

echo "realclients: building examples/chatroom"
go build -o "$tmp/chatroom" ./examples/chatroom

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

# expect FILE LINE...: each LINE is a whole line of FILE (CR removed).
expect() {
	local file=$1
	shift
	for line in "$@"; do
		if ! tr -d '\r' <"$file" | grep -qxF -- "$line"; then
			echo "--- $file:" >&2
			cat -A "$file" >&2
			die "expected the line '$line' in $file"
		fi
	done
}

# reject FILE LINE...: no LINE is a line of FILE.
reject() {
	local file=$1
	shift
	for line in "$@"; do
		if tr -d '\r' <"$file" | grep -qxF -- "$line"; then
			echo "--- $file:" >&2
			cat -A "$file" >&2
			die "did not expect the line '$line' in $file"
		fi
	done
}

backends=("$@")
[[ ${#backends[@]} -gt 0 ]] || backends=(epoll poll select)

for backend in "${backends[@]}"; do
	dir=$tmp/$backend
	mkdir -p "$dir"
	"$tmp/chatroom" -addr 127.0.0.1:0 -backend "$backend" -v 2>"$dir/server.log" &
	server_pid=$!
	wait_for "$dir/server.log" "chat server listening"
	grep -q "backend=$backend" "$dir/server.log" || die "server did not start on $backend: $(cat "$dir/server.log")"
	port=$(grep -o 'addr=127\.0\.0\.1:[0-9]*' "$dir/server.log" | head -1 | cut -d: -f2)
	echo "realclients: $backend: server pid $server_pid on 127.0.0.1:$port"

	# Every client ends with /quit (or is thrown out), so the server closes
	# the connection and nc exits at that EOF; no -q delay is needed.
	# bob listens in the background until told to quit.
	{
		printf 'bob\n'
		for _ in $(seq 300); do
			[[ -e $dir/bob.quit ]] && break
			sleep 0.1
		done
		printf '/quit\n'
	} | timeout 40 nc 127.0.0.1 "$port" >"$dir/bob.out" &
	bob_pid=$!
	wait_for "$dir/server.log" "joined nick=bob"

	# alice (nc, "\n" lines): a taken nickname first, then talks and quits.
	printf 'bob\nalice\nhello from nc\n/me waves\n/who\n/nick alicia\n/frob\n/quit\n' |
		timeout 20 nc 127.0.0.1 "$port" >"$dir/alice.out"
	# carol (nc -C sends "\r\n", as telnet does).
	printf 'carol\nhello with CRLF\n/quit\n' |
		timeout 20 nc -C 127.0.0.1 "$port" >"$dir/carol.out"
	# dave (telnet, which turns each "\n" it reads into "\r\n").
	{
		printf 'dave\n/who\nhello from telnet\n/quit\n'
		sleep 2 # telnet stops at EOF on its input: give the replies time
	} | timeout 20 telnet 127.0.0.1 "$port" >"$dir/dave.out" 2>&1
	# eve sends a line longer than 4 KiB: an error line, then the close.
	{
		printf 'eve\n'
		head -c 5000 /dev/zero | tr '\0' x
		printf '\n'
	} | timeout 20 nc 127.0.0.1 "$port" >"$dir/eve.out"

	touch "$dir/bob.quit"
	wait "$bob_pid" || die "bob's nc failed"

	expect "$dir/alice.out" "Welcome! Your nickname?" "* nickname taken: bob" "Your nickname?" \
		"* Hello alice! Here now: alice, bob. Type /help for commands." "* here now: alice, bob" \
		"* you are now alicia" "* unknown command /frob; /help lists the commands" "* Bye, alicia!"
	reject "$dir/alice.out" "<alice> hello from nc" "* alice waves"
	expect "$dir/carol.out" "* Hello carol! Here now: bob, carol. Type /help for commands." "* Bye, carol!"
	expect "$dir/dave.out" "* Hello dave! Here now: bob, dave. Type /help for commands." \
		"* here now: bob, dave" "* Bye, dave!"
	expect "$dir/eve.out" "* Hello eve! Here now: bob, eve. Type /help for commands." "* line too long"
	expect "$dir/bob.out" "* Hello bob! Here now: bob. Type /help for commands." \
		"* alice has joined" "<alice> hello from nc" "* alice waves" "* alice is now known as alicia" \
		"* alicia has left" "* carol has joined" "<carol> hello with CRLF" "* carol has left" \
		"* dave has joined" "<dave> hello from telnet" "* dave has left" \
		"* eve has joined" "* eve has left" "* Bye, bob!"
	if grep -q $'\r\r' "$dir/bob.out"; then
		cat -A "$dir/bob.out" >&2
		die "a client's \\r reached another client"
	fi

	kill -TERM "$server_pid"
	for _ in $(seq 50); do
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$server_pid" 2>/dev/null && die "$backend: server still running 5 s after SIGTERM"
	rc=0
	wait "$server_pid" || rc=$?
	server_pid=
	[[ $rc -eq 0 ]] || die "$backend: server exited with status $rc: $(cat "$dir/server.log")"
	grep -q "INFO bye" "$dir/server.log" || die "$backend: no 'bye' in the server log"
	if grep -E "ERROR|WARN" "$dir/server.log" >&2; then
		die "$backend: errors in the server log"
	fi
	echo "realclients: $backend: ok (nc, nc -C, telnet; $(grep -c . "$dir/bob.out") lines seen by bob; exit 0 on SIGTERM)"
done
echo "realclients: PASS"
