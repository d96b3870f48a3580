#!/bin/sh
# check_exports.sh NM STATIC SHARED [STATIC | HEADER ...] -- every external
# symbol carries the project's prefix. The static libraries (libdytcl.a, then
# any other .a given, such as the program's libdytcl_idx.a) define only
# dytcl_ (public) and dy_ (internal) symbols; the shared library exports only
# dytcl_ ones, and when the installed headers (.h) are given, exactly the
# functions they declare DYTCL_API. First the check must flag planted
# listings; then it reads the libraries with NM. Exit 0: clean; 1: offending
# symbols, listed.
#
# Not counted, because no name of ours can avoid them:
#   - weak and unique C++ symbols (nm's W V u w v with an _Z name, and the
#     DW.ref. personality pointers): template instantiations of std:: and of
#     SentencePiece's headers that models/tokenizer_sp.cc carries;
#   - AddressSanitizer's twin of a global (__odr_asan.NAME, __odr_asan_gen_NAME):
#     NAME itself must carry the prefix;
#   - in the shared library, the linker's own _init, _fini, _edata, _end,
#     __bss_start (older linkers export them).

# bad_static: nm -g --defined-only lines on stdin -> the offending names
bad_static() {
  awk '
    NF < 2 || /:$/ { next }
    {
      type = $(NF - 1); name = $NF
      if (type ~ /^[WVuwv]$/ && (name ~ /^_Z/ || name ~ /^DW\.ref\./)) next
      sub(/^__odr_asan(\.|_gen_)/, "", name)
      if (name ~ /^dytcl_/ || name ~ /^dy_/) next
      print $NF
    }'
}

# bad_shared: nm -D --defined-only lines on stdin -> the offending names
bad_shared() {
  awk '
    NF < 2 { next }
    {
      name = $NF
      if (name ~ /^dytcl_/) next
      if (name ~ /^(_init|_fini|_edata|_end|__bss_start)$/) next
      print name
    }'
}

NM=${1:-nm}
STATIC=$2
SHARED=$3
[ -n "$STATIC" ] && [ -n "$SHARED" ] || { echo "usage: check_exports.sh NM STATIC SHARED [STATIC | HEADER ...]"; exit 2; }
shift 3
statics=
headers=
for f in "$@"; do
  case "$f" in
    *.h) headers="$headers $f" ;;
    *) statics="$statics $f" ;;
  esac
done
fail=0

# 1. the check can fail: unprefixed, dy_ in the .so, C weak symbols and
#    sanitizer twins of unprefixed globals are flagged; the rest passes.
planted=$(printf '%s\n' 'ops.c.o:' '0000 T dytcl_copy' '0000 T dy_fail' '0000 T arg_int' \
  '0000 D table' '0000 W weak_helper' '0000 W _ZNSt4pairIiiED2Ev' '0000 V DW.ref.__gxx_personality_v0' \
  '0000 u _ZZN1a1bEvE1c' '0000 B __odr_asan.dy_table' '0000 B __odr_asan.counts' '0000 T model_fail' | bad_static)
want=$(printf '%s\n' arg_int table weak_helper __odr_asan.counts model_fail)
planted_so=$(printf '%s\n' '0000 T dytcl_copy' '0000 T dy_fail' '0000 W _ZNSt4pairIiiED2Ev' \
  '0000 T _init' '0000 T model_fail' | bad_shared)
want_so=$(printf '%s\n' dy_fail _ZNSt4pairIiiED2Ev model_fail)
if [ "$planted" = "$want" ] && [ "$planted_so" = "$want_so" ]; then
  echo "ok: the check flags planted unprefixed symbols"
else
  echo "FAIL: the check flagged, in a planted static listing:"; echo "$planted"
  echo "and in a planted shared one:"; echo "$planted_so"
  fail=1
fi

# 2. the libraries
check_static() {
  out=$("$NM" -g --defined-only "$1") || { echo "FAIL: $NM could not read $1"; fail=1; return; }
  echo "$out" | grep -q ' dytcl_\| dy_' || { echo "FAIL: no dytcl_ or dy_ symbol in $1"; fail=1; return; }
  bad=$(echo "$out" | bad_static | sort -u)
  if [ -n "$bad" ]; then
    echo "FAIL: $1 defines symbols without the dytcl_ or dy_ prefix:"; echo "$bad" | sed 's/^/  /'; fail=1
  else
    echo "ok: $1 defines only dytcl_ and dy_ symbols"
  fi
}
check_static "$STATIC"
for lib in $statics; do check_static "$lib"; done

out=$("$NM" -D --defined-only "$SHARED") || { echo "FAIL: $NM could not read $SHARED"; exit 1; }
echo "$out" | grep -q ' dytcl_version$' || { echo "FAIL: $SHARED does not export dytcl_version"; fail=1; }
bad=$(echo "$out" | bad_shared | sort -u)
if [ -n "$bad" ]; then
  echo "FAIL: $SHARED exports symbols other than dytcl_ ones:"; echo "$bad" | sed 's/^/  /'; fail=1
else
  echo "ok: $SHARED exports only dytcl_ symbols ($(echo "$out" | grep -c ' dytcl_'))"
fi

# 3. the .so against the headers: a function declared DYTCL_API but hidden
#    (its definition did not see the declaration) or exported undeclared
if [ -n "$headers" ]; then
  declared=$(cat $headers | grep 'DYTCL_API' | grep -v '#' |
    sed -E 's/^.*[^A-Za-z0-9_](dytcl_[A-Za-z0-9_]+)[[:space:]]*\(.*$/\1/' | sort -u)
  exported=$(echo "$out" | awk 'NF >= 2 && $NF ~ /^dytcl_/ { print $NF }' | sort -u)
  missing=$(echo "$declared" | grep -vxF "$(echo "$exported")")
  extra=$(echo "$exported" | grep -vxF "$(echo "$declared")")
  if [ -n "$missing" ] || [ -n "$extra" ]; then
    [ -n "$missing" ] && { echo "FAIL: declared DYTCL_API but not exported by $SHARED:"; echo "$missing" | sed 's/^/  /'; }
    [ -n "$extra" ] && { echo "FAIL: exported by $SHARED but declared in none of the headers:"; echo "$extra" | sed 's/^/  /'; }
    fail=1
  else
    echo "ok: $SHARED exports exactly the $(echo "$declared" | wc -l) functions the headers declare"
  fi
fi
exit $fail
