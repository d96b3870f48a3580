#!/bin/sh
# Extracts the C programs of a Markdown file (README.md) into a directory.
# Every ```c block must be a whole program and carry its file name on the line
# before it:
#
#     <!-- file: NAME.c -->
#     ```c
#     #include <dytcl.h>
#     int main(void) { ... }
#     ```
#
# A ```c block without that line, a marker not followed by a ```c block, a
# name used twice, a name that is not NAME.c, and an unclosed block are
# errors (exit 1, naming the line), so no C snippet in the file escapes the
# compile check (tests/readme_compile.sh). Code that is not a whole program
# goes in a block of another language or none.
# usage: readme_blocks.sh README.md OUTDIR     prints one extracted path a line
set -eu
[ $# -eq 2 ] || { echo "usage: readme_blocks.sh README.md OUTDIR" >&2; exit 2; }
md=$1 out=$2
[ -f "$md" ] || { echo "readme_blocks: $md: no such file" >&2; exit 1; }
mkdir -p "$out"
awk -v out="$out" -v md="$md" '
function fail(msg) { printf "%s:%d: %s\n", md, NR, msg > "/dev/stderr"; bad = 1; exit 1 }
{
    if (inblock) {
        if ($0 ~ /^```[ \t]*$/) { close(path); inblock = 0; print path; next }
        print $0 > path
        next
    }
    if (pending != "") {
        if ($0 !~ /^```c[ \t]*$/) fail("<!-- file: " pending " --> is not followed by a ```c line")
        if (pending in seen) fail("file name " pending " used twice")
        seen[pending] = 1
        path = out "/" pending
        printf "" > path
        inblock = 1; pending = ""; start = NR
        next
    }
    if ($0 ~ /^<!--[ \t]*file:/) {
        name = $0
        sub(/^<!--[ \t]*file:[ \t]*/, "", name)
        sub(/[ \t]*-->[ \t]*$/, "", name)
        if (name !~ /^[A-Za-z0-9_-]+\.c$/) fail("bad file name \"" name "\" (want NAME.c)")
        pending = name
        next
    }
    if ($0 ~ /^```[ \t]*[cC]([ \t{].*)?$/) fail("a ```c block without <!-- file: NAME.c --> on the line before")
}
END {
    if (bad) exit 1
    if (inblock) { printf "%s:%d: the ```c block opened here is not closed\n", md, start > "/dev/stderr"; exit 1 }
    if (pending != "") { printf "%s: <!-- file: %s --> at the end of the file\n", md, pending > "/dev/stderr"; exit 1 }
}' "$md"
