#!/bin/sh
# check_output_path.sh SRC WORK -- the program writes files one way only:
# through models/cli/outputs.c (outputs.h). No other file of models/cli
# opens a file to write (fopen with "w"/"a"/"+", open or openat with
# O_CREAT/O_TRUNC/O_APPEND, creat, freopen, tmpfile, mkstemp), renames,
# links, removes, truncates or makes a directory; a checkpoint is saved
# only by the trainer (trainer.c) and the converter (cmd_convert.c) and
# exported only by cmd_export.c, all
# into a staged path of outputs.c. First the check must flag a planted file
# in WORK; then it checks SRC. Exit 0: clean; 1: violations, listed.
PAT='fopen[[:space:]]*\([^;]*"[^"]*[wa+][^"]*"|open(at)?[[:space:]]*\([^;]*O_(CREAT|TRUNC|APPEND)|[^_[:alnum:]]creat[[:space:]]*\(|freopen[[:space:]]*\(|tmpfile[[:space:]]*\(|mks(temp|temps|dtemp)[[:space:]]*\(|[^_[:alnum:]]rename(at)?[[:space:]]*\(|[^_[:alnum:]]link(at)?[[:space:]]*\(|symlink[[:space:]]*\(|[^_[:alnum:]]unlink(at)?[[:space:]]*\(|[^_[:alnum:]]remove[[:space:]]*\(|[^f_[:alnum:]]truncate[[:space:]]*\(|ftruncate[[:space:]]*\(|mkdir[[:space:]]*\(|rmdir[[:space:]]*\(|json_dump_file[[:space:]]*\('

# scan DIR: prints one line per violation
scan() {
  for f in "$1"/*.c "$1"/*.h; do
    [ -e "$f" ] || continue
    case "$(basename "$f")" in outputs.c) continue ;; esac
    # comments and strings of messages aside: only code lines (not starting with * or //)
    grep -n -E "$PAT" "$f" | grep -v -E '^[0-9]+:[[:space:]]*(\*|/\*|//)' | sed "s|^|$f:|"
    case "$(basename "$f")" in
      trainer.c|cmd_convert.c) ;;
      *) grep -n 'dytcl_model_save[[:space:]]*(' "$f" | sed "s|^|$f: a checkpoint saved outside the trainer: |" ;;
    esac
    case "$(basename "$f")" in
      cmd_export.c) ;;
      *) grep -n 'dytcl_model_export[[:space:]]*(' "$f" | sed "s|^|$f: an export outside cmd_export.c: |" ;;
    esac
  done
}

SRC=$1
WORK=$2
rm -rf "$WORK" && mkdir -p "$WORK" || exit 2
cat > "$WORK/planted.c" <<'C'
static void f(const char *p)
{
    FILE *o = fopen(p, "wb");
    int fd = open(p, O_WRONLY | O_CREAT, 0644);
    rename(p, "x");
}
C
n=$(scan "$WORK" | wc -l)
if [ "$n" -lt 3 ]; then
  echo "FAIL: the check finds $n of the 3 writes planted in $WORK/planted.c"
  exit 1
fi
out=$(scan "$SRC/models/cli")
if [ -n "$out" ]; then
  echo "files of models/cli that write other than through outputs.c:"
  echo "$out"
  exit 1
fi
echo "ok: only outputs.c writes files in models/cli"
exit 0
