/* resume.h -- what a training checkpoint says of the run it came from,
 * validated before a resumed run trusts it. */
#ifndef DYTCL_CLI_RESUME_H
#define DYTCL_CLI_RESUME_H

#include <stddef.h>
#include <stdint.h>

#include "dytcl_model.h"

/* The one strict reading of a checkpoint's training state: the value of
 * key in checkpoint `path` as a plain decimal number (digits only, no sign,
 * space or trailer) in [lo, hi] / any 64-bit unsigned / a finite number.
 * 0, or -1 and err naming the checkpoint and the key (never a flag). */
int resume_get_int(const dytcl_meta *md, const char *path, const char *key, long long lo, long long hi, long long *v,
                   char *err, size_t cap);
int resume_get_u64(const dytcl_meta *md, const char *path, const char *key, uint64_t *v, char *err, size_t cap);
int resume_get_double(const dytcl_meta *md, const char *path, const char *key, double *v, char *err, size_t cap);

/* dytcl train's: the step (1 <= step < steps: otherwise nothing is left to
 * train; steps_given: --steps was on the command line, else it is the
 * checkpoint's) and the data generator's state. 0, or -1 and err. */
int resume_state(const dytcl_meta *md, const char *path, int steps, int steps_given, int *step, uint64_t *rng,
                 char *err, size_t cap);

/* "SIZE:FNV1A64" of the file at path, into out (>= 40 bytes). 0, or -1. */
int resume_data_id(const char *path, char *out, size_t cap);

/* The data must be the checkpoint's (its "data_id", when it has one),
 * unless force. 0, or -1 and err. */
int resume_same_data(const dytcl_meta *md, const char *path, const char *data, const char *data_id, int force,
                     char *err, size_t cap);

#endif
