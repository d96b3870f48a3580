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

/* Where a resumed run stands, for train and train-image alike: the step
 * (step_key: 1 <= step < total, otherwise nothing is left to train; limit
 * says what set the total, e.g. "--steps 20" or "the checkpoint's 20 steps
 * (give --steps to train further)") and the data generator's state
 * (rng_key). 0, or -1 and err. */
int resume_position(const dytcl_meta *md, const char *path, const char *step_key, const char *rng_key,
                    long long total, const char *limit, int *step, uint64_t *rng, char *err, size_t cap);

/* "SIZE:FNV1A64" of the file at path, into out (>= 40 bytes). 0, or -1. */
int resume_data_id(const char *path, char *out, size_t cap);

/* The data must be the checkpoint's (its "data_id", when it has one),
 * unless force. 0, or -1 and err. */
int resume_same_data(const dytcl_meta *md, const char *path, const char *data, const char *data_id, int force,
                     char *err, size_t cap);

#endif
