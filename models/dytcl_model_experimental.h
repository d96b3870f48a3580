/* dytcl_model_experimental.h -- the model library's unstable calls: hooks
 * for benchmarks. Installed beside dytcl_model.h, but outside its
 * compatibility promise: any of these may change or go in a minor version
 * (as those of dytcl_experimental.h, which this header includes).
 */
#ifndef DYTCL_MODEL_EXPERIMENTAL_H
#define DYTCL_MODEL_EXPERIMENTAL_H

#include "dytcl_experimental.h"
#include "dytcl_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Benchmarks: on = 1 times every norm layer by profiling events (a sync each). */
DYTCL_API void dytcl_model_profile_norms(dytcl_model *m, int on);
/* The norms' device time (ns) summed since the last call. */
DYTCL_API double dytcl_model_norm_ns(dytcl_model *m);

#ifdef __cplusplus
}
#endif
#endif /* DYTCL_MODEL_EXPERIMENTAL_H */
