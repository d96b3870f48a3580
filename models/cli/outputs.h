/* outputs.h -- the one way the program writes a file.
 *
 * A command names its inputs and its outputs in an `outs` set, then claims
 * them all at once before any work (outs_claim):
 *
 *   - no output is any input, nor another output, nor the lock or the
 *     temporary of one, however spelled (existing files: device and inode;
 *     new ones: the resolved directory and the name);
 *   - an existing output is a regular file, never a symbolic link (a link
 *     is refused, not followed: it may point at anything) nor a FIFO or a
 *     device, and of the kind the option writes unless --force;
 *   - its directory exists and is writable, and the names of its lock
 *     (PATH.lock) and temporary (PATH.dytcl-tmp) fit PATH_MAX and NAME_MAX;
 *   - PATH.lock is created with O_CREAT|O_EXCL|O_NOFOLLOW and held with a
 *     POSIX lock that names the holding process; an existing PATH.lock is
 *     taken over only when it is a stale lock of this program (a regular
 *     file saying so, no process holding it); anything else there is the
 *     user's and is refused, never truncated or removed;
 *   - a temporary PATH.dytcl-tmp left by a run that was killed is removed.
 *
 * Then the command writes through the set only: a whole file (a temporary
 * created with O_EXCL, written, synced, renamed over PATH), a stream (a log:
 * started through a temporary with its header, or appended to with
 * O_NOFOLLOW, the header written whenever the file is new or empty), or a
 * staged file for a writer that takes a path (the model library, gnuplot,
 * the benchmarks): a private directory PATH.dytcl-tmp/ (mode 0700) where it
 * writes, renamed over PATH when it succeeded. Files are created 0666 less
 * the user's umask. Every failed write, sync, close or rename is reported
 * (`dytcl CMD: PATH: cannot write: No space left on device`) and fails the
 * command.
 *
 * Testing: DYTCL_FAIL_WRITE=N makes the Nth write through this module (a
 * write(2) or the commit of a staged file) fail with ENOSPC. */
#ifndef DYTCL_CLI_OUTPUTS_H
#define DYTCL_CLI_OUTPUTS_H

#include <limits.h>
#include <stddef.h>

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

enum { OUTS_MAX = 8, OUTS_MAX_IN = 40 };

#define OUT_TMP_SUFFIX ".dytcl-tmp"
#define OUT_LOCK_SUFFIX ".lock"

typedef struct out_file {
    const char *who;          /* the command, for messages */
    const char *opt;          /* "--out", "OUT", "--log" */
    char path[PATH_MAX];
    char lock[PATH_MAX];      /* PATH.lock */
    char tmp[PATH_MAX];       /* PATH.dytcl-tmp: a temporary file, or the staging directory */
    char staged[PATH_MAX];    /* PATH.dytcl-tmp/f while staged */
    int (*is_kind)(const char *path);
    const char *kind_name;
    int lock_fd, fd;          /* -1: none */
    int tmp_made;             /* 1: a temporary file of ours exists, 2: the staging directory */
    int failed;               /* a write failed (reported); later writes are skipped */
} out_file;

typedef struct {
    const char *who;
    int force;
    int n, nin;
    out_file f[OUTS_MAX];
    const char *in[OUTS_MAX_IN], *in_opt[OUTS_MAX_IN];
    const out_file *in_except[OUTS_MAX_IN]; /* the output allowed to be this input (resuming in place) */
    const char *made_dir;     /* a directory this run made (out_make_dir): removed on release when empty */
} outs;

void outs_init(outs *s, const char *who, int force);
/* An input of the run (NULL or "" skipped). except: an output that may be
 * this very file (a checkpoint resumed and replaced in place), or NULL. */
void outs_input(outs *s, const char *opt, const char *path, const out_file *except);
/* An output (NULL or "" skipped: returns NULL). is_kind NULL: any existing
 * regular file needs --force. */
out_file *outs_add(outs *s, const char *opt, const char *path, int (*is_kind)(const char *path),
                   const char *kind_name);
/* Every check above, then the locks and the stale temporaries. 0, or 1
 * after printing why (nothing locked then). */
int outs_claim(outs *s);
/* Closes streams, removes this run's temporaries, releases the locks. */
void outs_release(outs *s);

/* Writes data as the whole file (temporary, sync, rename). 0, or -1 (reported). */
int out_write_file(out_file *f, const void *data, size_t n);

/* A path for another writer, in the private staging directory; NULL (reported) on failure. */
const char *out_stage(out_file *f);
/* Renames the staged file over the output. 0, or -1 (reported). */
int out_commit(out_file *f);
/* For a writer that writes a whole directory (the Hugging Face export): the
 * private staging directory itself; NULL (reported) on failure. Its files
 * (model.safetensors, config.json, tokenizer.json) are then committed one by
 * one with out_commit_named. */
const char *out_stage_dir(out_file *f);
/* Renames NAME from f's staging directory over `to`'s output (to may be f). 0, or -1 (reported). */
int out_commit_named(out_file *f, const char *name, out_file *to);
/* A directory output (OUT_DIR): made when missing (0777 less the umask); an
 * existing one must be a directory, never a link. 0, or 1 after saying why. */
int out_make_dir(const char *who, const char *opt, const char *path);
/* out_make_dir for the outputs of s: a directory it makes is removed again by
 * outs_release when the run left nothing in it (a failed export). */
int outs_make_dir(outs *s, const char *opt, const char *path);
/* Removes the staging directory and what is in it. */
void out_unstage(out_file *f);

/* A log: a new file with its header (append 0; an existing one replaced),
 * or appended to (append 1; the header written when it is new or empty). */
int out_open_log(out_file *f, int append, const char *header);
int out_printf(out_file *f, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Closes the stream, reporting a failure. 0, or -1. */
int out_close(out_file *f);
/* Keeps the header and the rows of steps <= step of the CSV log (rewritten
 * through the temporary); a missing log is fine. 0, or -1 (reported). */
int out_log_keep(out_file *f, int step);

/* Refuses what cannot be a file of ours to read: a FIFO, a device, a
 * directory (opening a FIFO to read blocks until a writer comes). Returns 0
 * for a regular file, else -1 with the reason in err. A missing file passes:
 * its open says so. */
int input_check(const char *opt, const char *path, char *err, size_t cap);

/* Whether path holds a safetensors file / a training log (their first bytes). */
int output_is_checkpoint(const char *path);
int output_is_train_log(const char *path);
int output_is_diag_log(const char *path);
int output_is_image_log(const char *path); /* dytcl train-image's */
int output_is_json(const char *path);
int output_is_png(const char *path);

/* Whether a and b name one existing file (device and inode). */
int output_same_file(const char *a, const char *b);

#endif
