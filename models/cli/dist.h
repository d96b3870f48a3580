/* dist.h -- data-parallel training over MPI, for `dytcl train`.
 *
 * Started by mpirun (or any launcher that sets OMPI_COMM_WORLD_SIZE,
 * PMIX_RANK or PMI_RANK), every process is a rank with its own device and
 * its own copy of the model. All ranks draw the same global batch; rank r
 * trains on its rows, the gradients are summed over the ranks, and every
 * rank takes the same optimiser step, so the copies stay identical.
 *
 * The program is built with MPI when CMake finds it (DYTCL_HAVE_MPI; the
 * library itself never links MPI). Built without it, or started without a
 * launcher, every function here is the no-op of a world of one process:
 * rank 0 of 1. MPI errors are fatal (MPI's default handler). */
#ifndef DYTCL_DIST_H
#define DYTCL_DIST_H

#include <stddef.h>

#include "dytcl_model.h"

/* Initialises MPI when a launcher started this process (call once, before
 * anything else of this file); a no-op otherwise. Non-zero, with a message
 * on stderr, when a launcher started several processes but this program was
 * built without MPI (each would train alone, over the same files). */
int dist_init(void);
void dist_finalize(void);
int dist_rank(void);
int dist_size(void);

/* The device this rank should use, as a dytcl_ctx_options.device string
 * written into buf: the rank's index among the processes of its machine,
 * modulo the number of devices of the kind dytcl would pick by default
 * (GPUs when there are any, else CPU devices). NULL, meaning dytcl's usual
 * choice, for a single process or when DYTCL_DEVICE is set. */
const char *dist_device(char *buf, size_t cap);

/* Rank r > 0 only: on = 1 sends stdout and stderr to /dev/null (so that
 * messages every rank would print appear once), on = 0 restores them. */
void dist_mute(int on);

/* Host memory for all-reducing n gradients (a world of one needs none).
 * Non-zero when it cannot be had. */
int dist_grads_init(size_t n);
void dist_grads_free(void);
/* Sums m's gradient buffer over the ranks, in place on every rank: chunk by
 * chunk, each chunk's non-blocking all-reduce running while the next chunk
 * is read from the device. Non-zero on a device error (dytcl_last_error(dytcl_model_ctx(m))). */
int dist_allreduce_grads(dytcl_model *m);

/* Collectives on small host values (identity in a world of one). */
void dist_sum(double *x, int n);        /* x = the sum over the ranks */
int dist_all_ok(int ok);                /* 1 when every rank's ok is non-zero */
int dist_max_int(int v);
int dist_bcast_int(int v);              /* rank 0's v */
void dist_allgather_int(int v, int *all); /* all[r] = rank r's v */
/* Ends every rank with `code` (a failure on one rank that the others,
 * waiting in a collective, cannot see); in a world of one, returns. */
void dist_abort(int code);

/* Since dist_init: dist_allreduce_grads calls, their wall time (the device
 * reads and writes and the MPI transfers) and the part spent in MPI calls. */
typedef struct {
    int calls;
    double total_ms, mpi_ms;
} dist_stats;
dist_stats dist_get_stats(void);

#endif
