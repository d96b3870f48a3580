/* resume.h -- what a training checkpoint says of the run it came from,
 * validated before a resumed run trusts it. */
#ifndef DYTCL_CLI_RESUME_H
#define DYTCL_CLI_RESUME_H

#include <stddef.h>
#include <stdint.h>

#include "dytcl_model.h"

/* The step (0 <= step < steps: otherwise nothing is left to train) and the
 * data generator's state, each a plain decimal number that fits. 0, or -1
 * and err. */
int resume_state(const dytcl_meta *md, const char *path, int steps, int *step, uint64_t *rng, char *err, size_t cap);

/* "SIZE:FNV1A64" of the file at path, into out (>= 40 bytes). 0, or -1. */
int resume_data_id(const char *path, char *out, size_t cap);

/* The data must be the checkpoint's (its "data_id", when it has one),
 * unless force. 0, or -1 and err. */
int resume_same_data(const dytcl_meta *md, const char *path, const char *data, const char *data_id, int force,
                     char *err, size_t cap);

#endif
