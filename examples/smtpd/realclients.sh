#!/usr/bin/env bash
# realclients.sh: run the smtpd example against a real SMTP client, Python's
# smtplib, once per poller backend. For each backend it starts the server on
# a free 127.0.0.1 port with an empty Maildir, sends three messages (different
# recipients; one with dot-leading lines, which smtplib stuffs and the server
# must unstuff; one of 1 MiB with 8-bit bytes), checks that exactly three
# files arrived in new/ with the envelope recorded and the bodies byte for
# byte, then stops the server with SIGTERM and checks that it exits 0.
#
# On the first backend it also plays a hostile client: 20 sessions each send
# 9 MB of DATA and never the final dot. The server must stream them to tmp/
# rather than hold them (its RSS may grow by 64 MiB at most), and remove
# every file in tmp/ once the clients have gone.
#
#   bash examples/smtpd/realclients.sh              # epoll, poll and select
#   BACKENDS="kqueue poll" bash examples/smtpd/realclients.sh
#
# Needs go and python3. Any failure stops the script with a message and a
# non-zero status.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
backends=${BACKENDS:-epoll poll select}
work=$(mktemp -d)
pid=""

cleanup() {
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	if [[ -f $work/server.log ]]; then
		echo "--- server log:" >&2
		cat "$work/server.log" >&2
	fi
	exit 1
}

command -v python3 >/dev/null || fail "python3 not found"
(cd "$here/../.." && go build -o "$work/smtpd" ./examples/smtpd) || fail "go build"

# The client and the checks. argv: host port maildir.
cat >"$work/client.py" <<'EOF'
import os, smtplib, sys

host, port, maildir = sys.argv[1], int(sys.argv[2]), sys.argv[3]

big = bytearray(b"Subject: one mebibyte\r\n\r\n")
i = 0
while len(big) < 1 << 20:
    big += b"%07d caf\xc3\xa9 \xff\xfe %s\r\n" % (i, b"z" * 60)
    i += 1

messages = [
    ("alice@example.org", ["bob@example.com"],
     b"Subject: plain\r\n\r\nHello, Bob.\r\n"),
    ("carol@example.org", ["dave@example.com", "erin@example.com"],
     b".first line starts with a dot\r\n.\r\n..\r\nmiddle\r\n.last\r\n"),
    ("frank@example.org", ["grace@example.com"], bytes(big)),
]

with smtplib.SMTP(host, port, timeout=30) as smtp:
    code, _ = smtp.ehlo("realclients.test")
    assert code == 250, code
    assert smtp.has_extn("size") and smtp.has_extn("8bitmime"), smtp.esmtp_features
    for sender, rcpts, body in messages:
        refused = smtp.sendmail(sender, rcpts, body)
        assert not refused, refused

new = os.path.join(maildir, "new")
files = sorted(os.listdir(new))
assert len(files) == len(messages), "want %d files in new/, have %r" % (len(messages), files)
assert not os.listdir(os.path.join(maildir, "tmp")), "files left in tmp/"

found = []
for name in files:
    with open(os.path.join(new, name), "rb") as f:
        data = f.read()
    lines = data.split(b"\r\n", 4)
    assert lines[0].startswith(b"Received: from realclients.test ([127.0.0.1]) by "), lines[0]
    assert lines[1].startswith(b"X-Peer: 127.0.0.1:"), lines[1]
    assert lines[2].startswith(b"X-Mail-From: <"), lines[2]
    assert lines[3].startswith(b"X-Rcpt-To: <"), lines[3]
    found.append((lines[2], lines[3], lines[4]))

for sender, rcpts, body in messages:
    want = (b"X-Mail-From: <%s>" % sender.encode(),
            b"X-Rcpt-To: " + b", ".join(b"<%s>" % r.encode() for r in rcpts),
            body)
    assert want in found, "message from %s not delivered intact" % sender
    found.remove(want)
print("  3 messages delivered intact (%d bytes in all)" % sum(len(m[2]) for m in messages))
EOF

# The hostile client. argv: host port maildir server-pid.
cat >"$work/hostile.py" <<'EOF'
import os, socket, sys, time

host, port, maildir, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
sessions, size = 20, 9 * 1000 * 1000

def rss_mib():
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    raise SystemExit("no VmRSS for %d" % pid)

before = peak = rss_mib()
socks = []
for i in range(sessions):
    s = socket.create_connection((host, port), timeout=30)
    f = s.makefile("rb")
    assert f.readline().startswith(b"220")
    s.sendall(b"HELO hostile.test\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
    replies = [f.readline() for _ in range(4)]
    assert replies[3].startswith(b"354"), replies
    f.close()  # or the socket stays open after s.close()
    socks.append(s)
chunk = (b"y" * 78 + b"\r\n") * 800
sent = 0
while sent < size:
    for s in socks:
        s.sendall(chunk)
    sent += len(chunk)
    peak = max(peak, rss_mib())
tmp = os.path.join(maildir, "tmp")
total = 0
deadline = time.time() + 30  # until the server has read it all
while time.time() < deadline:
    total = sum(os.path.getsize(os.path.join(tmp, n)) for n in os.listdir(tmp))
    if total >= sessions * sent:
        break
    time.sleep(0.1)
peak = max(peak, rss_mib())
assert total >= sessions * sent, "only %d of %d bytes in tmp/" % (total, sessions * sent)
for s in socks:
    s.close()
deadline = time.time() + 30
while os.listdir(tmp) and time.time() < deadline:
    time.sleep(0.1)
assert not os.listdir(tmp), "files left in tmp/ after the clients went away: %r" % os.listdir(tmp)
print("  %d unfinished %d-byte messages: RSS %d MiB before, %d at peak, %d after" % (sessions, sent, before, peak, rss_mib()))
assert peak - before <= 64, "RSS grew by %d MiB" % (peak - before)
EOF

first=${backends%% *}
for backend in $backends; do
	echo "== backend $backend"
	maildir="$work/maildir-$backend"
	: >"$work/server.log"
	"$work/smtpd" -addr 127.0.0.1:0 -backend "$backend" -maildir "$maildir" >"$work/server.log" 2>&1 &
	pid=$!

	addr=""
	for _ in $(seq 100); do
		addr=$(sed -n 's/.*smtpd listening addr=\([^ ]*\).*/\1/p' "$work/server.log")
		[[ -n $addr ]] && break
		kill -0 "$pid" 2>/dev/null || fail "$backend: the server exited before listening"
		sleep 0.1
	done
	[[ -n $addr ]] || fail "$backend: the server did not log its address within 10s"
	grep -q "backend=$backend " "$work/server.log" || fail "$backend: the server runs another backend"
	echo "  listening on $addr"

	python3 "$work/client.py" "${addr%:*}" "${addr##*:}" "$maildir" || fail "$backend: smtplib client"
	if [[ $backend == "$first" && -r /proc/$pid/status ]]; then
		python3 "$work/hostile.py" "${addr%:*}" "${addr##*:}" "$maildir" "$pid" || fail "$backend: unfinished DATA sessions"
	fi

	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	pid=""
	[[ $status -eq 0 ]] || fail "$backend: the server exited with status $status after SIGTERM"
	grep -q "INFO bye" "$work/server.log" || fail "$backend: no 'bye' in the server log"
	echo "  SIGTERM: exit status 0"
done
echo "PASS: $backends"
