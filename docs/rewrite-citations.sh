#!/usr/bin/env bash
# rewrite-citations.sh rewrites the citations of the old, out-of-tree
# reference documents in Go comments into references to docs/, using
# docs/citations.tsv, and names the bare failure-mode numbers left in
# comments (F26 -> F26 backend-parity) from the headings of
# docs/failure-modes.md. It is idempotent: a second run changes nothing.
#
# Usage: docs/rewrite-citations.sh [-n] [ROOT]
#   ROOT  the tree whose .go files are rewritten (default: the repository
#         holding this script)
#   -n    dry run: report what would change, write nothing
#
# It prints one line per changed file with its number of rewrites, the
# total, and every citation it could not map (file:line), and exits 1 if
# any is left.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dry=0
if [[ ${1:-} == -n ]]; then
	dry=1
	shift
fi
root=${1:-$here/..}
exec python3 - "$here/citations.tsv" "$here/failure-modes.md" "$root" "$dry" <<'PY'
import os, re, sys

tsv, fm, root, dry = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
WIDTH = 80  # the widest a rewritten comment line may get, tabs counted as 4

rows = []
with open(tsv, encoding="utf-8") as f:
    for line in f:
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        old, code, test = line.split("\t")
        rows.append((old, code, test))
rows.sort(key=lambda r: -len(r[0]))  # longest first: specific forms before generic ones

names = {}
with open(fm, encoding="utf-8") as f:
    for line in f:
        m = re.match(r"## F(\d+) ([a-z0-9-]+)\s*$", line)
        if m:
            names[int(m.group(1))] = m.group(2)

# A space in an old form matches blanks or a comment line break.
BREAK = r"(?:[ \t]*\n[ \t]*//[ \t]*|[ \t]+)"
def pattern(old):
    parts = [re.escape(w) for w in old.split(" ")]
    body = BREAK.join(parts)
    return re.compile(r"(?<![\w-])" + body + (r"(?!\w)" if re.match(r"\w", old[-1]) else ""))

compiled = [(pattern(o), c, t) for o, c, t in rows]

def replace_all(src, is_test):
    """Applies every row; returns the new text, the number of rewrites and
    the (0-based) numbers of the lines that changed."""
    count = 0
    for rx, code, test in compiled:
        new = test if is_test else code
        out, pos = [], 0
        for m in rx.finditer(src):
            # A comment line break inside the old span goes away; reflow
            # below gives the paragraph its shape back.
            out.append(src[pos:m.start()])
            out.append(new)
            pos = m.end()
            count += 1
        out.append(src[pos:])
        src = "".join(out)
    return src, count

BARE = re.compile(r"(?<![\w#/.–-])F(\d{1,2})((?:\([a-d]\))?)(?![\w–])")

def name_bare(src):
    """Adds the name to bare F-numbers in // comments: F26 -> F26
    backend-parity, unless the name follows already (perhaps on the next
    comment line)."""
    count = 0
    out, pos = [], 0
    for m in BARE.finditer(src):
        name = names.get(int(m.group(1)))
        if name is None:
            continue
        ls = src.rfind("\n", 0, m.start()) + 1
        le = src.find("\n", m.start())
        line = src[ls:le if le >= 0 else len(src)]
        k = comment_start(line)
        if k < 0 or ls + k > m.start():
            continue
        if re.match(r"(?:\s|//)*\(?\s*" + re.escape(name) + r"\b", src[m.end():]):
            continue
        out.append(src[pos:m.end()])
        out.append(" " + name)
        pos = m.end()
        count += 1
    out.append(src[pos:])
    return "".join(out), count

def comment_start(line):
    """Index of the // that starts a comment on line, or -1; string and
    rune literals are skipped."""
    i, q = 0, None
    while i < len(line):
        c = line[i]
        if q:
            if c == "\\" and q != "`":
                i += 2
                continue
            if c == q:
                q = None
        elif c in "\"`'":
            q = c
        elif line.startswith("//", i):
            return i
        i += 1
    return -1

TEXT = re.compile(r"^([ \t]*// +)(\S.*)$")  # a prose comment line, not a tab-indented block
UNIT = re.compile(r"(?:KiB|MiB|GiB|KB|MB|GB|ms|s|µs|ns|bytes?)\b")

def cont(prefix, body):
    """The prefix of the lines continuing a line: a list item's text is
    indented past its dash."""
    return prefix + "  " if body.startswith("- ") else prefix

def breakable(line, j):
    """Whether the space at j may become a line break: not between a
    number and its unit."""
    if j > 0 and line[j - 1].isdigit() and UNIT.match(line, j + 1):
        return False
    # nor between a failure mode's number and its name (F21 handler-panic)
    return not re.search(r"(?<![\w#])F\d+(?:\([a-d]\))?$", line[:j])

def width(s):
    return len(s.expandtabs(4))

def reflow(new, old):
    """Re-wraps the comment lines that differ from the old text and got
    longer than WIDTH, pushing the overflow into the next line of the same
    paragraph (or a new line), so a rewritten comment keeps its width."""
    oldset = set(old.split("\n"))
    lines = new.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        m = TEXT.match(line)
        if line in oldset or not m or width(line) <= WIDTH:
            i += 1
            continue
        prefix = m.group(1)
        cut = -1
        for j in range(len(line) - 1, len(prefix), -1):
            if line[j] == " " and width(line[:j]) <= WIDTH and breakable(line, j):
                cut = j
                break
        if cut < 0:
            cut = line.find(" ", len(prefix) + 1)
        if cut < 0:
            i += 1
            continue
        head, tail = line[:cut].rstrip(), line[cut + 1:].strip()
        lines[i] = head
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        nm = TEXT.match(nxt)
        cp = cont(prefix, m.group(2))
        if nm and nm.group(1) == cp and not re.match(r"(?:- |\d+\. )", nm.group(2)):
            lines[i + 1] = cp + tail + " " + nm.group(2)
        else:
            lines.insert(i + 1, cp + tail)
        i += 1
    return "\n".join(lines)

LEFT = re.compile(r"reliability\.md|asyncore-spec|(?<![\w-])spec §")
total, unmapped = 0, []
for dirpath, dirnames, filenames in os.walk(root):
    dirnames[:] = sorted(d for d in dirnames if d not in (".git", "vendor"))
    for fn in sorted(filenames):
        if not fn.endswith(".go"):
            continue
        path = os.path.join(dirpath, fn)
        with open(path, encoding="utf-8") as f:
            src = f.read()
        new, n1 = replace_all(src, fn.endswith("_test.go"))
        new, n2 = name_bare(new)
        if new != src:
            new = reflow(new, src)
        n = n1 + n2
        rel = os.path.relpath(path, root)
        for ln, line in enumerate(new.split("\n"), 1):
            if LEFT.search(line):
                unmapped.append("%s:%d: %s" % (rel, ln, line.strip()))
        if new != src:
            total += n
            print("%s: %d citation(s), %d bare number(s) named" % (rel, n1, n2))
            if not dry:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(new)
print("total: %d rewrite(s)%s" % (total, " (dry run)" if dry else ""))
for u in unmapped:
    print("unmapped: " + u, file=sys.stderr)
sys.exit(1 if unmapped else 0)
PY
