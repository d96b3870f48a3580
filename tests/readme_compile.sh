#!/bin/sh
# Extracts every C program of README.md (tests/readme_blocks.sh) and compiles
# and links each against the library just built (and libm), warnings as errors. Fails if
# a block does not extract, compile or link, or if the README has no block.
# usage: readme_compile.sh README.md WORKDIR CC LIBRARY INCLUDE_DIR...
set -eu
[ $# -ge 5 ] || { echo "usage: readme_compile.sh README.md WORKDIR CC LIBRARY INCLUDE_DIR..." >&2; exit 2; }
md=$1 work=$2 cc=$3 lib=$4
shift 4
incs=""
for d in "$@"; do incs="$incs -I$d"; done
here=$(dirname "$0")
rm -rf "$work"
mkdir -p "$work"
sh "$here/readme_blocks.sh" "$md" "$work/src" > "$work/list"
n=$(wc -l < "$work/list")
[ "$n" -gt 0 ] || { echo "readme_compile: no <!-- file: NAME.c --> block in $md"; exit 1; }
libdir=$(dirname "$lib")
fails=0
while read -r src; do
    exe="$work/$(basename "$src" .c)"
    # shellcheck disable=SC2086
    if "$cc" -std=c11 -Wall -Wextra -Werror $incs -o "$exe" "$src" "$lib" -Wl,-rpath,"$libdir" -lm 2> "$exe.log"; then
        echo "ok      $(basename "$src")"
    else
        echo "FAILED  $(basename "$src"):"
        cat "$exe.log"
        fails=$((fails + 1))
    fi
done < "$work/list"
[ "$fails" -eq 0 ] || { echo "readme_compile: $fails of $n README programs do not compile"; exit 1; }
echo "readme_compile: all $n README programs compile and link"
