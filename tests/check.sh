# check.sh -- sourced by the command-line test scripts after they cd into their
# work directory. check NAME CONDITION prints "ok: NAME" or "FAIL: NAME" and
# sets fail=1; on a failure it also prints the exit status of the command just
# before the check and the end of err.txt, where the scripts send its stderr,
# so that a failure in a log says what went wrong.
fail=0
status_was() { return "$1"; }
check() {
  rc=$?
  # The condition may read $? itself: give it the status the check was called with.
  if status_was "$rc"; eval "$2"; then echo "ok: $1"; return; fi
  echo "FAIL: $1 (the last command exited $rc)"
  [ -s err.txt ] && tail -n 5 err.txt | sed 's/^/  err.txt | /'
  fail=1
}
