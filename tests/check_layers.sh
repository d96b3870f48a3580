#!/bin/sh
# check_layers.sh SRC WORK -- the layers call only downward: the program
# (models/cli) -> bench -> models -> host -> cl. Nothing below the program
# includes a models/cli header, and nothing outside tests/ includes a tests/
# header. An include "X" is resolved as the build does: the including file's
# directory first, then host/, models/, bench/, cl/, models/cli/ (the
# program's target sees all of them). First the check must flag a planted
# tree in WORK; then it checks SRC. Exit 0: clean; 1: violations, listed.
ALLOW=""

# scan ROOT: prints one line per violation
scan() {
  (
    cd "$1" || exit 2
    find bench host cl models -type f \( -name '*.c' -o -name '*.h' -o -name '*.cc' -o -name '*.cl' \) 2>/dev/null |
      sort | while IFS= read -r f; do
        dir=$(dirname "$f")
        sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" | while IFS= read -r inc; do
          case " $ALLOW " in *" $f:$inc "*) continue ;; esac
          hit=
          for d in "$dir" host models bench cl models/cli; do
            if [ -e "$d/$inc" ]; then hit="$d/$inc"; break; fi
          done
          # the path as the tree names it, without ./ and ../ detours
          [ -n "$hit" ] && hit=$(cd "$(dirname "$hit")" && pwd -P)/$(basename "$hit") && hit=${hit#"$(pwd -P)/"}
          case "$f" in
            models/cli/*) ;;
            *) case "$hit" in models/cli/*) echo "$f includes the program's $hit" ;; esac ;;
          esac
          if [ -z "$hit" ] && [ -e "tests/$inc" ]; then hit="tests/$inc"; fi
          case "$hit" in tests/*) echo "$f includes $hit (tests/ is above every layer)" ;; esac
        done
      done
  )
}

SRC=$1
WORK=$2
fail=0

# 1. the check can fail: a bench file on cli.h, a model on a tests/ header
rm -rf "$WORK" && mkdir -p "$WORK/bench" "$WORK/host" "$WORK/cl" "$WORK/models/cli" "$WORK/tests"
echo '#include "cli.h"' > "$WORK/bench/b.c"
echo '#include "../tests/ref.h"' > "$WORK/models/m.c"
echo '#include "opts.h"' > "$WORK/models/cli/ok.c"
: > "$WORK/models/cli/cli.h"
: > "$WORK/models/cli/opts.h"
: > "$WORK/tests/ref.h"
planted=$(scan "$WORK")
echo "$planted" | grep -q '^bench/b.c includes the program.s models/cli/cli.h$' &&
  echo "$planted" | grep -q '^models/m.c includes tests/ref.h' &&
  ! echo "$planted" | grep -q 'models/cli/ok.c' &&
  echo "ok: the check flags a planted bench -> cli.h and models -> tests/ include" ||
  { echo "FAIL: the check missed a planted violation:"; echo "$planted"; fail=1; }

# 2. the tree
found=$(scan "$SRC")
if [ -n "$found" ]; then
  echo "FAIL: includes against the layering:"
  echo "$found" | sed 's/^/  /'
  fail=1
else
  echo "ok: nothing below the program includes its headers; nothing outside tests/ includes tests/"
fi
exit $fail
