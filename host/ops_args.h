/* ops_args.h -- what every op shares: argument checks (tensor views, shapes),
 * kernel-argument setting, work-group sizing and the column-sum launches. */
#ifndef DYTCL_OPS_ARGS_H
#define DYTCL_OPS_ARGS_H

#include "internal.h"

/* x viewed as [outer, inner] with C channels: channels last is [rows, C]
 * (inner = C); channels first is [N*C, HW] (inner = HW). */
typedef struct {
    int inner, outer, C;
    int channels_first;
} norm_dims;

/* Sizes from callers are multiplied only through these: a*b and a+b of
 * non-negative int64 sizes, or -1 when an operand is negative (an earlier
 * overflow included) or the result would pass INT64_MAX. */
int64_t dy_size_mul(int64_t a, int64_t b);
int64_t dy_size_add(int64_t a, int64_t b);

/* x must be f32 (dy_norm_dims_of) or of one of the dtypes DY_DT(..) | .. */
dytcl_status dy_norm_dims_of(dytcl_ctx *ctx, dytcl_tensor x, dytcl_layout layout, norm_dims *d);
dytcl_status dy_norm_dims_of_dt(dytcl_ctx *ctx, dytcl_tensor x, dytcl_layout layout, unsigned dtypes, norm_dims *d);
/* t must be a valid tensor with as many elements as ref (named ref_name)
 * has, stored in ref's dtype: the activations of one call share a dtype
 * (ref has been checked, so an op that takes f32 only still does).
 * norm_check_like names the reference by the expression passed. */
dytcl_status dy_args_check_like(dytcl_ctx *ctx, dytcl_tensor t, const char *name, dytcl_tensor ref,
                             const char *ref_name);
#define norm_check_like(ctx, t, name, ref) dy_args_check_like(ctx, t, name, ref, #ref)
/* The elements [w.offset, +nw) and [r.offset, +nr) must not overlap when
 * both lie in one buffer (an absent tensor, or n = 0, overlaps nothing). */
dytcl_status dy_args_check_apart(dytcl_ctx *ctx, dytcl_tensor w, int64_t nw, const char *wname, dytcl_tensor r,
                              int64_t nr, const char *rname);
/* An elementwise output y over its input x: either apart or exactly the
 * same elements (in place); a shifted overlap is refused. */
dytcl_status dy_args_check_inplace(dytcl_ctx *ctx, dytcl_tensor y, const char *yname, dytcl_tensor x, const char *xname);
/* The written tensors w[0..nw) (absent ones skipped) overlap neither each
 * other nor any of the read ones r[0..nr). */
dytcl_status dy_args_check_outputs(dytcl_ctx *ctx, const dytcl_tensor *w, const char *const *wname, int nw,
                                const dytcl_tensor *r, const char *const *rname, int nr);
/* t must hold n elements; when it is absent (buf NULL) that is fine unless
 * required. */
dytcl_status dy_norm_check_vec(dytcl_ctx *ctx, dytcl_tensor t, const char *name, int64_t n, int required);

/* Argument setting in order: a tensor (cl_mem + int offset; an absent tensor
 * passes `dummy`), an int, a float. Each returns the next argument index,
 * or -1 after recording an error. */
int dy_arg_tensor(dytcl_ctx *ctx, dy_kernel *k, int i, dytcl_tensor t, cl_mem dummy);
int dy_arg_int(dytcl_ctx *ctx, dy_kernel *k, int i, int v);
int dy_arg_float(dytcl_ctx *ctx, dy_kernel *k, int i, float v);
int dy_arg_mem(dytcl_ctx *ctx, dy_kernel *k, int i, cl_mem m);
int dy_arg_local(dytcl_ctx *ctx, dy_kernel *k, int i, size_t bytes);

/* On a CPU, a row of at most this many columns keeps its w and b (8 bytes
 * a column: 16 KiB, half of a 32 KiB L1) in L1 beside the row's own
 * streams: the row-walking forward kernels take one row per work-item up to
 * it, and four rows per load of w and b above it. */
#define DY_CPU_NARROW_C 2048

/* The largest power of two <= min(cap, the kernel's and device's limits). */
size_t dy_pow2_local(const dytcl_ctx *ctx, const dy_kernel *k, size_t cap);

/* out[c] (+)= sum over blocks of parts[b*C + c]; out[0] (+)= sum of in[0..n).
 * No-ops when out is absent. parts, in and out are f32; the kernels come
 * from program `prog` as built for storage dtype `dt` (the one the op has
 * built already: every variant of a program has cl/common.cl's kernels). */
dytcl_status dy_launch_colsum_dt(dytcl_ctx *ctx, dy_prog_id prog, dytcl_dtype dt, dytcl_tensor out, cl_mem parts,
                              int parts_off, int nblocks, int C, int accumulate);
dytcl_status dy_launch_sum_all_dt(dytcl_ctx *ctx, dy_prog_id prog, dytcl_dtype dt, dytcl_tensor out, cl_mem in,
                               int in_off, int n, int accumulate);
/* The parameter gradients out[0..4) = dw, db, dalpha, dshift (absent ones
 * skipped) from parts laid out as reduce_parts (cl/common.cl) reads them:
 * planes [nblocks, C] of dw and db, then nblocks dalpha and nblocks dshift
 * partial sums. One launch. */
dytcl_status dy_launch_reduce_parts(dytcl_ctx *ctx, dy_prog_id prog, dytcl_dtype dt, const dytcl_tensor out[4],
                                 cl_mem parts, int nblocks, int C, int accumulate);
/* out[c] (+)= sum over b of in[b*C + c], in being a tensor of any dtype. */
dytcl_status dy_launch_colsum_of(dytcl_ctx *ctx, dy_prog_id prog, dytcl_tensor out, dytcl_tensor in, int nblocks,
                              int C, int accumulate);
#define launch_colsum(ctx, prog, ...) dy_launch_colsum_dt(ctx, prog, DYTCL_F32, __VA_ARGS__)
#define launch_sum_all(ctx, prog, ...) dy_launch_sum_all_dt(ctx, prog, DYTCL_F32, __VA_ARGS__)

#endif
