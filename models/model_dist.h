/* model_dist.h -- the gradient buffer in pieces, for data-parallel training.
 *
 * models/cli/dist.c (in the `dytcl` program, the only place that knows MPI)
 * all-reduces the gradients chunk by chunk: it reads a range to host
 * memory, hands it to MPI and writes the sum back, so that the transfer of
 * one chunk can overlap the device read of the next. These calls are the
 * model's side of that, and stay free of MPI. Offsets and counts are in
 * floats of the flat gradient buffer (model_param_count of them). */
#ifndef DYTCL_MODEL_DIST_H
#define DYTCL_MODEL_DIST_H

#include "model.h"

/* Blocking copies of grads[offset .. offset + n) to / from host memory. */
dytcl_status model_read_grads_range(model *m, size_t offset, size_t n, float *out);
dytcl_status model_write_grads_range(model *m, size_t offset, size_t n, const float *in);

/* Waits for the work queued on m's device (so that what follows can be
 * timed on its own). */
dytcl_status model_finish(model *m);

#endif
