/* dytcl_experimental.h -- the op library's unstable calls: hooks for
 * benchmarks and tests. Installed beside dytcl.h, but outside its
 * compatibility promise: any of these may change or go in a minor version.
 * An application that includes this header builds against one exact version
 * of dytcl. The model library's unstable calls are in
 * dytcl_model_experimental.h.
 */
#ifndef DYTCL_EXPERIMENTAL_H
#define DYTCL_EXPERIMENTAL_H

#include "dytcl.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------- the profiling clock
 *
 * Profiling spans (dytcl_profile_begin/end) time by the device's events
 * unless the context's first check found them implausible; then by the
 * host clock around a wait for the queue. Benchmarks name the clock in their
 * tables and JSON. */

typedef struct {
    int host;                   /* 1: profiling spans use the host clock */
    double events_ns, host_ns;  /* the check: one batch of kernels timed both ways */
    char reason[192];           /* why the clock was chosen, for tables and logs */
} dytcl_timer_info;

/* Which clock profiling spans use, and why. The first call on a context
 * times a batch of fills (a few ms) with events and with the host clock;
 * events are trusted when their span is at least 0.3x and at most 1.05x
 * the host's (plus 0.5 ms). DYTCL_TIMER=events|host forces one. */
DYTCL_API dytcl_status dytcl_timer_check(dytcl_ctx *ctx, dytcl_timer_info *out);

/* "events" or "host": the clock of the next profiling span (runs the check). */
DYTCL_API const char *dytcl_timer_name(dytcl_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif /* DYTCL_EXPERIMENTAL_H */
