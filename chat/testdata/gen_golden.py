#!/usr/bin/env python3
"""Write golden.json: asynchat's handle_read traces for the chat tests.

Every case is fed through a real asynchat.async_chat at every chunk size
from 1 to the length of its input. handle_read is driven directly: recv is
replaced by a function that pops the next chunk, so no socket is involved.
TestGolden in terminator_test.go replays each run through chat.Split and
expects the identical trace, tail and final terminator.

Run it from the chat directory with `go generate`, or as
`python3 testdata/gen_golden.py`; it needs a Python with asynchat (3.11).

Encoding in golden.json:
  terminator  null (None), an integer (length), or a hex string (bytes
              delimiter; "" is asynchat's b'')
  input, tail hex strings
  trace       ["c", hex] for collect_incoming_data, ["f"] for
              found_terminator, in the order asynchat made the calls
  script      the terminators found_terminator sets, one per call; once
              it is used up found_terminator leaves the terminator alone
"""

import json
import os
import sys
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import asynchat

# Start terminators, each run without a script.
PLAIN = [
    b"\n", b"\r\n", b"qqq", b"\r\n.\r\n", b"aab", b"ab",
    1, 3, 5, 6,
    None, 0, b"",
]

# (start terminator, script) pairs where found_terminator switches.
SWITCHING = [
    (b"\r\n", [3, b"\r\n"]),                      # header, 3-byte body, line
    (b"\n", [0]),                                  # one line, then everything
    (b"\n", [None, b"\n"]),                        # None: the rest is never used
    (2, [b"\n", 4, b"\r\n"]),
    (b"\r\n", [b"\r\n.\r\n", b"\r\n"]),           # SMTP command, DATA, command
    (b"ab", [b"aab", b"b", 3, b"a"]),
    (b"\n", [b"\r\n", b"\n", b"\r\n", b"\n", b"\r\n", b"\n"]),
    (1, [1, 1, b"q", 2, b"qqq"]),
]

INPUTS = [
    b"hello\r\nworld\r\n",
    b"\r\n\r\nab",
    b"a\nb\n\nc",
    b"aqqqbqqqqqc",
    b"HDR\r\nabcdefXY\r\n",
    b"ab\r\n.\r\n.\r\n\r\n.\r\nxyz\r\n.",
    b"aaabaabaaab",
    b"abababaab",
    b"\n\n\n",
    b"line1\r\nline2\r",
    b"qq",
    b"xyz",
    b"hello world, I'm not dead yet!\n",
    b"\r\n.\r\r\n.\n\r\n.\r\n",
]


class Recorder(asynchat.async_chat):
    ac_in_buffer_size = 1 << 20

    def __init__(self, term, script):
        asynchat.async_chat.__init__(self)  # no socket, so no map entry
        self.set_terminator(term)
        self.script = list(script)
        self.trace = []

    def collect_incoming_data(self, data):
        self.trace.append(["c", data.hex()])

    def found_terminator(self):
        self.trace.append(["f"])
        if self.script:
            self.set_terminator(self.script.pop(0))


def enc(term):
    if isinstance(term, bytes):
        return term.hex()
    return term  # None or int


def run(term, script, data, size):
    chunks = [data[i:i + size] for i in range(0, len(data), size)]
    r = Recorder(term, script)
    r.recv = lambda _bufsize: chunks.pop(0)
    while chunks:
        r.handle_read()
    return {
        "chunk": size,
        "trace": r.trace,
        "tail": r.ac_in_buffer.hex(),
        "final": enc(r.get_terminator()),
    }


def main():
    cases = [(t, []) for t in PLAIN] + SWITCHING
    out = []
    for term, script in cases:
        for data in INPUTS:
            out.append({
                "term": enc(term),
                "script": [enc(s) for s in script],
                "input": data.hex(),
                "runs": [run(term, script, data, n) for n in range(1, len(data) + 1)],
            })
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.json")
    with open(path, "w") as f:
        f.write("[\n")
        f.write(",\n".join(json.dumps(c, separators=(",", ":")) for c in out))
        f.write("\n]\n")
    runs = sum(len(c["runs"]) for c in out)
    print(f"{path}: {len(out)} cases, {runs} runs", file=sys.stderr)


if __name__ == "__main__":
    main()
