#!/bin/sh
# cli_output_matrix.sh DYTCL WORKDIR -- every command x every output x every
# hostile variant, the outputs discovered, not listed: every command of
# `dytcl --help` (tokenize's verbs from its usage) is asked `--list-outputs`
# (the options its table marks as outputs, its positional and derived
# outputs); a command with an output that has no recipe below, or a recipe
# that places an output the command does not list, fails the test. Each
# output is then made, in turn: a symbolic link to an input; a path whose
# lock PATH.lock is a link to an input, the user's own file, or a stale lock
# of a killed run (taken over); the path of another output; a FIFO, a
# directory, a device; in a read-only directory (not as root); a name too
# long for its temporary; and every write through the output module fails
# in turn (DYTCL_FAIL_WRITE=N, N = 1, 2, ... until the run succeeds: all the
# command's outputs count together), plus
# a file-size limit (ulimit -f) for the trainer. Every run is checked for its
# exit status and message, every input for being byte-identical afterwards,
# and no temporary or lock may be left behind. Benchmarks take minutes, so
# they get the refusals only (refused before measuring).
set -u
DYTCL=$1
W=$2
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$W" && mkdir -p "$W" && cd "$W" || exit 1
t_start=$(date +%s)

# ---- inputs: a text (cli_common.sh's), a checkpoint, a log, IDX images, a tokenizer and a token file
. "$HERE/cli_common.sh"
TINY="--batch 2 --seq 16 --dim 16 --layers 1 --heads 2 --eval-batches 1"
"$DYTCL" train --data text.txt $TINY --steps 2 --eval-every 0 --diag-every 1 --out ck.st --log run.csv > /dev/null 2> err.txt
check "setup: a checkpoint and a log" "[ \$? -eq 0 ] && [ -s ck.st ] && [ -s run.csv.diag.csv ]"
# 8 images of 8 x 8 and their labels (IDX: big-endian magic, count, sides)
{ printf '\000\000\010\003\000\000\000\010\000\000\000\010\000\000\000\010'; head -c 512 text.txt; } > ti.idx
printf '\000\000\010\001\000\000\000\010\000\001\002\003\004\005\006\007' > tl.idx
HAVE_SP=0
if "$DYTCL" tokenize train --data text.txt --vocab 320 --out tok.model > /dev/null 2> err.txt; then
  HAVE_SP=1
  "$DYTCL" tokenize encode --model tok.model text.txt t.bin > /dev/null 2> err.txt
  check "setup: a token file" "[ \$? -eq 0 ]"
fi
INPUTS="text.txt ck.st run.csv run.csv.diag.csv ti.idx tl.idx"
[ $HAVE_SP = 1 ] && INPUTS="$INPUTS tok.model t.bin"
for f in $INPUTS; do cp "$f" "keep.$f"; done
inputs_intact() {
  for _in in $INPUTS; do
    if ! cmp -s "$_in" "keep.$_in" || [ -L "$_in" ]; then echo "  input $_in changed"; return 1; fi
  done
  return 0
}

# ---- recipes: the command line of each command, @OUTPUT@ where an output goes.
# FAST: the whole run takes about a second (the write-failure variants run it).
recipe() {
  case "$1" in
    "train") echo "train --data text.txt $TINY --eval-every 0 --diag-every 1 --steps 1 --out @--out@ --log @--log@" ;;
    "train-image") echo "train-image --train-images ti.idx --train-labels tl.idx --test-images ti.idx --test-labels tl.idx --dim 8 --heads 1 --layers 1 --mlp 8 --patch 4 --batch 4 --epochs 1 --warmup 1 --out @--out@ --log @--log@" ;;
    "export") echo "export --dtype f16 ck.st @pos 2@" ;;
    "convert") echo "convert --model ck.st --data text.txt --to keep --finetune-steps 1 --batch 2 --seq 16 --calib-batches 1 --eval-batches 1 --out @--out@ --log @--log@" ;;
    "tokenize train") echo "tokenize train --data text.txt --vocab 320 --out @--out@" ;;
    "tokenize encode") echo "tokenize encode --model tok.model text.txt @pos 2@" ;;
    "tokenize decode") echo "tokenize decode --model tok.model t.bin @pos 2@" ;;
    "plot") echo "plot run.csv --png @--png@" ;;
    "bench norms") echo "bench norms --quick --iters 0 --json @--json@ --png @--png@" ;;
    "bench attention"|"bench step"|"bench train"|"bench gemm") echo "$1 --json @--json@" ;;
    "bench decode") echo "bench decode --peer --dim 64 --layers 1 --heads 2 --tokens 4 --rounds 1 --json @--json@" ;;
    *) echo "" ;;
  esac
}
fast() {
  case "$1" in
    bench*) return 1 ;;
    tokenize*) [ $HAVE_SP = 1 ] ;;
    plot) command -v gnuplot > /dev/null ;;
    *) return 0 ;;
  esac
}

# ---- discovery: every command, every output it declares
CMDS=$("$DYTCL" --help | sed -n 's/^  \([a-z-]*\( [a-z]*\)\?\)  .*/\1/p' | sed 's/ *$//')
CMDS=$(echo "$CMDS" | while IFS= read -r c; do
  if [ "$c" = tokenize ]; then
    "$DYTCL" tokenize --help | sed -n 's/.*dytcl tokenize \([a-z]*\) .*/tokenize \1/p'
  else
    echo "$c"
  fi
done)
check "commands discovered ($(echo "$CMDS" | wc -l))" "[ \$(echo \"\$CMDS\" | wc -l) -ge 14 ]"
n_cases=0
IFS_NL='
'

# the value an output takes in a case: the outputs' default names, one per case
outname() { echo "c${n_cases}_$(echo "$1" | tr -c 'a-z0-9\n' '_')"; }

# build CMD "OUT=VALUE" ... : the command line with every output placed
build() {
  line=$(recipe "$1"); shift
  for kv in "$@"; do
    k=${kv%%=*}; v=${kv#*=}
    line=$(echo "$line" | sed "s|@$k@|$v|")
  done
  echo "$line"
}

# run: the command line, its stderr in err.txt, its status in rc (a FIFO never blocks it)
run() {
  timeout 60 "$DYTCL" $1 > out.txt 2> err.txt
  rc=$?
}

# no temporary and no lock of ours left (the planted ones aside)
no_leftovers() {
  left=$(ls -a | grep -E '\.dytcl-tmp$|\.lock$' || true)
  [ -z "$left" ] || { echo "  left behind: $left"; return 1; }
}

for cmd in $(echo "$CMDS" | tr ' ' '+'); do
  cmd=$(echo "$cmd" | tr '+' ' ')
  echo "== $cmd at $(($(date +%s) - t_start)) s"
  outs=$("$DYTCL" $cmd --list-outputs 2> err.txt)
  lrc=$?
  check "$cmd --list-outputs answers" "[ $lrc -eq 0 ]"
  rec=$(recipe "$cmd")
  if [ -z "$outs" ]; then
    check "$cmd: no output, no recipe" "[ -z \"\$rec\" ]"
    continue
  fi
  check "$cmd writes files: it has a recipe in this matrix" "[ -n \"\$rec\" ]"
  [ -n "$rec" ] || continue
  # every declared output placed by the recipe, every placeholder declared
  flagouts=""
  old_ifs=$IFS; IFS=$IFS_NL
  for o in $outs; do
    case "$o" in
      "derived "*) base=$(echo "$o" | cut -d' ' -f2)
        check "$cmd: derived $o from a placed output" "echo \"\$rec\" | grep -q -- \"@$base@\"" ;;
      *) check "$cmd: the recipe places $o" "echo \"\$rec\" | grep -q -- \"@$o@\""
         flagouts="$flagouts$o$IFS_NL" ;;
    esac
  done
  IFS=$old_ifs
  for ph in $(echo "$rec" | grep -o '@[^@]*@' | tr ' ' '+'); do
    ph=$(echo "$ph" | tr '+' ' ' | tr -d '@')
    check "$cmd: $ph is declared an output" "echo \"\$outs\" | grep -q -x -- \"$ph\""
  done
  [ $HAVE_SP = 1 ] || case "$cmd" in tokenize*) continue ;; esac

  old_ifs=$IFS; IFS=$IFS_NL
  for o in $outs; do
    IFS=$old_ifs
    n_cases=$((n_cases + 1))
    # the assignments of every flag output, o's own value in $target (the file it writes)
    base_assign=""
    for f in $(echo "$flagouts" | tr ' ' '+'); do
      f=$(echo "$f" | tr '+' ' ')
      base_assign="$base_assign $(echo "$f" | tr ' ' '+')=$(outname "$f")"
    done
    case "$o" in
      "derived "*) owner=$(echo "$o" | cut -d' ' -f2); suffix=$(echo "$o" | cut -d' ' -f3) ;;
      *) owner=$o; suffix="" ;;
    esac
    # place VALUE: the command line with o's file at VALUE (a derived one through its owner)
    place() {
      v=$1
      if [ -n "$suffix" ]; then
        [ "${v%"$suffix"}" != "$v" ] || return 1
        v=${v%"$suffix"}
      fi
      args=""
        for _a in $base_assign; do
        _k=$(echo "${_a%%=*}" | tr '+' ' ')
        if [ "$_k" = "$owner" ]; then args="$args|$_k=$v"; else args="$args|$_k=${_a#*=}"; fi
      done
      old=$IFS; IFS='|'
      # shellcheck disable=SC2086
      line=$(build "$cmd" $args)
      IFS=$old
      echo "$line"
    }
    tag="$cmd $o"
    T=c${n_cases}_target$suffix

    # 1. a symbolic link to an input
    ln -sf text.txt "$T"
    run "$(place "$T")"
    check "$tag: a link to an input refused" "[ $rc -eq 1 ] && grep -q -e 'symbolic link' -e 'input' err.txt && [ -L $T ] && inputs_intact"
    rm -f "$T"

    # 2. its lock a link to an input, the user's own file, a stale lock
    ln -s text.txt "$T.lock"
    run "$(place "$T")"
    check "$tag: a lock that is a link refused, not followed" "[ $rc -eq 1 ] && [ -L $T.lock ] && inputs_intact && [ ! -e $T ]"
    rm -f "$T.lock"
    echo "my own notes" > "$T.lock"
    run "$(place "$T")"
    check "$tag: the user's own $T.lock refused and kept" "[ $rc -eq 1 ] && [ \"\$(cat $T.lock)\" = 'my own notes' ] && grep -q 'not a lock' err.txt && inputs_intact"
    rm -f "$T.lock"
    if fast "$cmd"; then
      echo "dytcl lock: process 999999" > "$T.lock"
      mkdir "$T.dytcl-tmp" && : > "$T.dytcl-tmp/f" && : > "$T.dytcl-tmp/f.tmp.123"
      run "$(place "$T")"
      check "$tag: a stale lock and temporary of a killed run taken over and removed" "[ $rc -eq 0 ] && [ ! -e $T.lock ] && [ ! -e $T.dytcl-tmp ] && [ -s $T ] && inputs_intact && no_leftovers"
    fi
    rm -f c${n_cases}_*

    # 3. two outputs on one file (o's file given to another output, or another's lock)
    for f in $(echo "$flagouts" | tr ' ' '+'); do
      f=$(echo "$f" | tr '+' ' ')
      [ "$f" = "$owner" ] && continue
      line=$(place "$T" | sed "s|$(outname "$f")|$T|")
      run "$line"
      check "$tag and $f on one file refused" "[ $rc -eq 1 ] && grep -q 'one file' err.txt && inputs_intact && [ ! -e $T ]"
      line=$(place "$T" | sed "s|$(outname "$f")|$T.lock|")
      run "$line"
      check "$tag: $f on its lock refused" "[ $rc -eq 1 ] && grep -q 'one file' err.txt && inputs_intact && [ ! -e $T ]"
    done
    rm -f c${n_cases}_*

    # 4. a FIFO, a directory, a device
    mkfifo "$T"
    run "$(place "$T")"
    check "$tag: a FIFO refused at once" "[ $rc -eq 1 ] && grep -q 'FIFO' err.txt && [ -p $T ] && inputs_intact"
    rm -f "$T"; mkdir "$T"
    run "$(place "$T")"
    check "$tag: a directory refused" "[ $rc -eq 1 ] && grep -q 'directory' err.txt && [ -d $T ] && inputs_intact"
    rmdir "$T"
    if [ -z "$suffix" ]; then
      run "$(place /dev/null)"
      check "$tag: a device refused" "[ $rc -eq 1 ] && grep -q -e 'device' -e 'writable' err.txt && inputs_intact"
    fi

    # 5. a read-only directory (root writes anywhere: skipped), an overlong name
    mkdir -p ro && chmod a-w ro
    if [ ! -w ro ]; then
      run "$(place "ro/$T")"
      check "$tag: a read-only directory refused" "[ $rc -eq 1 ] && grep -q 'not writable' err.txt"
    fi
    long=$(printf 'L%.0s' $(seq 1 246))$suffix
    t0=$(date +%s)
    run "$(place "$long")"
    check "$tag: a name too long for its temporary refused before any work" "[ $rc -eq 1 ] && grep -q 'too long' err.txt && [ \$(date +%s) -le \$((t0 + 5)) ] && [ ! -e $long ]"

    # 6. every write failing in turn, then none (the writes of all outputs are
    # counted together: once per command, through its first output)
    if fast "$cmd" && [ "$o" = "$(echo "$outs" | head -1)" ]; then
      N=1
      while [ $N -le 40 ]; do
        DYTCL_FAIL_WRITE=$N run "$(place "$T")"
        [ $rc -eq 0 ] && break
        check "$tag: write $N failing is an error, reported, nothing left behind" "[ $rc -eq 1 ] && grep -q 'No space left' err.txt && inputs_intact && no_leftovers"
        rm -f c${n_cases}_*
        N=$((N + 1))
      done
      check "$tag: the run succeeds once its $((N - 1)) writes do" "[ $rc -eq 0 ] && [ -s $T ] && no_leftovers"
      rm -f c${n_cases}_*
    fi
    old_ifs=$IFS; IFS=$IFS_NL
  done
  IFS=$old_ifs
done

echo "== extras at $(($(date +%s) - t_start)) s"
# A real full disk: a file-size limit (SIGXFSZ ignored: writes fail with EFBIG).
(trap '' XFSZ; ulimit -f 8; exec "$DYTCL" train --data text.txt $TINY --eval-every 0 --diag-every 1 --steps 3 \
  --out big.st --log big.csv > out.txt 2> err.txt)
check "train over a file-size limit fails, the failed write reported" "[ \$? -eq 1 ] && grep -q 'File too large' err.txt && inputs_intact && no_leftovers"
rm -f big.*
(trap '' XFSZ; ulimit -f 1; exec "$DYTCL" train --data text.txt $TINY --eval-every 0 --diag-every 0 --steps 30 \
  --out "" --log big.csv > out.txt 2> err.txt)
check "a log that outgrows the disk is an error, never exit 0" "[ \$? -eq 1 ] && grep -q 'big.csv: cannot write: File too large' err.txt && no_leftovers"
rm -f big.*

# The known cases by name: a lock that is a link to the data, a user's own lock.
ln -s text.txt m.st.lock
"$DYTCL" train --data text.txt $TINY --steps 1 --out m.st --log m.csv > out.txt 2> err.txt
check "m.st.lock -> the data: refused, the data intact" "[ \$? -eq 1 ] && inputs_intact && [ -L m.st.lock ]"
rm -f m.st.lock
echo "mine" > z.st.lock
"$DYTCL" train --data text.txt $TINY --steps 1 --out z.st --log z.csv > out.txt 2> err.txt
check "a user's own z.st.lock: refused, kept as it was" "[ \$? -eq 1 ] && [ \"\$(cat z.st.lock)\" = mine ]"
rm -f z.st.lock
"$DYTCL" train --data run.csv.diag.csv $TINY --steps 1 --out d.st --log run.csv > out.txt 2> err.txt
check "--data LOG.diag.csv with --log LOG refused" "[ \$? -eq 1 ] && grep -q 'input' err.txt && inputs_intact"
"$DYTCL" train --data text.txt $TINY --steps 1 --out same --log same > out.txt 2> err.txt
check "--out same --log same refused" "[ \$? -eq 1 ] && grep -q 'one file' err.txt && [ ! -e same ]"

# Files are created with the user's umask (002: group-writable; 077: private).
(umask 002; exec "$DYTCL" train --data text.txt $TINY --eval-every 0 --diag-every 1 --steps 1 --out u.st --log u.csv \
  > out.txt 2> err.txt)
check "umask 002: checkpoint and logs rw-rw-r--" "[ \$? -eq 0 ] && [ \$(ls -l u.st u.csv u.csv.diag.csv | grep -c '^-rw-rw-r--') -eq 3 ]"
(umask 077; exec "$DYTCL" export --dtype f16 u.st u16.st > out.txt 2> err.txt)
check "umask 077: an export rw-------" "[ \$? -eq 0 ] && ls -l u16.st | grep -q '^-rw-------'"
rm -f u.st u.csv u.csv.diag.csv u16.st

# Outputs given as "": not written, and no file made for them.
mkdir empty && cd empty && cp ../text.txt . || exit 1
"$DYTCL" train --data text.txt $TINY --eval-every 0 --diag-every 1 --steps 1 --out "" --log "" > ../out.txt 2> ../err.txt
check "train --out '' --log '': trains, writes nothing" "[ \$? -eq 0 ] && [ \"\$(ls)\" = text.txt ]"
cd .. && rm -rf empty

# A resumed run that starts a new log writes its header (dytcl plot reads it).
"$DYTCL" train --data text.txt $TINY --eval-every 0 --steps 3 --stop-at 1 --out r.st --log r1.csv > out.txt 2> err.txt
"$DYTCL" train --data text.txt --resume r.st --out r.st --log r2.csv > out.txt 2> err.txt
check "a resumed run's new log has its header" "[ \$? -eq 0 ] && head -1 r2.csv | grep -q '^step,lr,loss,' && [ \$(wc -l < r2.csv) -eq 3 ]"

# train-image: SIGTERM finishes the step, saves, exits 143 and leaves no lock.
"$DYTCL" train-image --train-images ti.idx --train-labels tl.idx --test-images ti.idx --test-labels tl.idx --dim 8 \
  --heads 1 --layers 1 --mlp 8 --patch 4 --batch 1 --epochs 100000 --out sig.st --log sig.csv > sig.out 2> err.txt &
pid=$!
n=0; while [ ! -s sig.csv ] && [ $n -lt 200 ]; do sleep 0.1; n=$((n + 1)); done
kill -TERM $pid; wait $pid; rc=$?
check "train-image on SIGTERM: exit 143, a checkpoint, no lock left" "[ $rc -eq 143 ] && [ -s sig.st ] && [ ! -e sig.st.lock ] && [ ! -e sig.csv.lock ] && grep -q 'SIGTERM' err.txt"

t_end=$(date +%s)
echo "$n_cases outputs, $((t_end - t_start)) s"
exit $fail
