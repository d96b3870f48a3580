/* outputs.h -- the files a run writes, checked before any work starts.
 *
 * An output must not be any input of the same run, however either is spelled
 * (another relative path, a symbolic or a hard link: compared by device and
 * inode); an existing file there must be of the kind the option writes
 * (`is_kind`), unless the user says --force; its directory must exist and be
 * writable. While a run writes, an exclusive lock (PATH.lock) keeps a second
 * run off the same output and names the process that holds it. */
#ifndef DYTCL_CLI_OUTPUTS_H
#define DYTCL_CLI_OUTPUTS_H

#include <stddef.h>

/* Refuses what cannot be a file of ours to read: a FIFO, a device, a
 * directory (opening a FIFO to read blocks until a writer comes). Returns 0
 * for a regular file, else -1 with the reason in err. A missing file passes:
 * its open says so. */
int input_check(const char *opt, const char *path, char *err, size_t cap);

/* Checks the output `path` given as option `opt` against the inputs
 * inputs[0..n) (NULL or "" entries skipped). 0 when fine, else -1 and err. */
int output_check(const char *opt, const char *path, int (*is_kind)(const char *path), const char *kind_name,
                 const char *const *inputs, int n, int force, char *err, size_t cap);

/* Whether path holds a safetensors file / a training log (their first bytes). */
int output_is_checkpoint(const char *path);
int output_is_train_log(const char *path);
int output_is_image_log(const char *path); /* dytcl train-image's */
int output_is_json(const char *path);
int output_is_png(const char *path);

/* Whether a and b name one existing file (device and inode). */
int output_same_file(const char *a, const char *b);

/* Keeps the header and the rows of steps <= step of the CSV log at path
 * (a resumed run writes the later steps again); a missing log is fine.
 * Rewritten through a temporary renamed over it. 0, or -1 and err. */
int output_log_truncate(const char *path, int step, char *err, size_t cap);

/* An exclusive lock on PATH.lock (holding the locking process's id); fd -1
 * when none is held. */
typedef struct {
    int fd;
    char path[1100];
} output_lock;

int output_lock_take(output_lock *l, const char *path, char *err, size_t cap);
void output_lock_release(output_lock *l);

#endif
