/* op_harness.h -- one table of op cases, one runner, every storage dtype.
 *
 * A case names an op, its shapes, the storage dtypes it runs in (f32, f16,
 * bf16), its inputs (how many elements, drawn how), its outputs (how many
 * elements, compared how, to what tolerance), a float64 reference and the
 * call through the public API. For every dtype, every shape of its list and
 * under each kernel shape ("rows", "groups"; one when the op has a single
 * shape) the runner draws the inputs and rounds them to their storage (so
 * the reference sees what the device sees), places every argument at an
 * odd offset after NaN poison that must survive, NaN-poisons the outputs
 * (or starts them from an input: an accumulated gradient, an update in
 * place), calls the op, compares each output with the reference, then
 * poisons and calls again and requires the same bits.
 *
 * Activations are stored in the case's dtype; parameters, their gradients
 * and saved statistics stay f32 (op_input.f32, op_output.f32). Tolerance
 * per dtype: an f32 output by ||out - ref|| / ||ref|| <= tol; an f16/bf16
 * output per element by |out - ref| <= u |ref| + tol S (+ 2^-25 for f16),
 * u the format's unit roundoff (2^-11, 2^-8), S the RMS of ref, and +-inf
 * where ref passes the format's range; tol 0 asks for the exact value in
 * every dtype. Adding an op's test is a table entry (op_cases.c) plus its
 * reference. */
#ifndef DYTCL_OP_HARNESS_H
#define DYTCL_OP_HARNESS_H

#include <stddef.h>

#include "dytcl.h"
#include "gen.h"
#include "half_util.h"

enum { OP_MAX_ARGS = 12, OP_MAX_SHAPES = 10 };

/* An argument's element count: the product of the dimensions of the case's
 * shape that the mask names; OP_ALL: all of them, OP_ONE: one element,
 * OP_TWO: two (a pair of scalars). */
enum { OP_ALL = 0, OP_ONE = 1, OP_D0 = 2, OP_D1 = 4, OP_D2 = 8, OP_D3 = 16, OP_TWO = 32 };

/* d: up to 4 dimensions (0 after the last); k: an integer the op takes with
 * this shape (RoPE's position offset, AdamW's step). */
typedef struct {
    int d[4];
    int k;
} op_shape;

typedef struct {
    int size; /* OP_ALL, OP_ONE or OP_D* mask */
    op_gen gen;
    double lo, hi;
    /* instead of gen: the values for this shape and the case's dtype (token
       ids, a mask, values past a format's range), rounded by the runner */
    void (*fill)(const op_shape *s, dytcl_dtype dt, double *v, size_t n, unsigned long long *rng);
    int ints; /* stored as int32 (ids), not float */
    int f32;  /* stored as f32 whatever the case's dtype (a parameter) */
} op_input;

typedef struct {
    int size;
    double tol;  /* on ||out - ref|| / ||ref|| */
    int scaled;  /* the reference also gives a scale (the gradient before an attenuation float32
                    cannot resolve): the error is against max(||ref||, 0.1 ||scale||) (dev_util.h) */
    int init;    /* 1 + an input: the output starts as that input, not NaN (accumulate, in place) */
    int f32;     /* stored as f32 whatever the case's dtype (a parameter's gradient, a statistic) */
} op_output;

struct op_case;

/* One case at one shape: what its reference and its call see. */
typedef struct {
    const struct op_case *c;
    op_shape s;
    dytcl_dtype dt;                                /* the case's storage dtype in this run */
    size_t n[2][OP_MAX_ARGS];                     /* elements of in[j], out[k] */
    double *in[OP_MAX_ARGS];                       /* drawn, as float */
    double *out[OP_MAX_ARGS], *scale[OP_MAX_ARGS]; /* the reference writes these */
    dytcl_tensor tin[OP_MAX_ARGS], tout[OP_MAX_ARGS]; /* 1-D device views of the same, in their dtype */
} op_run;

typedef struct op_case {
    const char *group; /* its op family: "dyt", "norm", "ops" (test_ops DTYPE GROUP runs one) */
    const char *name;
    int n_in, n_out;
    op_input in[OP_MAX_ARGS];
    op_output out[OP_MAX_ARGS];
    op_shape shapes[OP_MAX_SHAPES]; /* up to the first with d[0] == 0 */
    void (*ref)(op_run *r);         /* float64: r->out (and r->scale) from r->in */
    dytcl_status (*call)(dytcl_ctx *ctx, const op_run *r);
    void (*prep)(op_run *r); /* or NULL: inputs derived from the drawn ones (a forward's saved rstd) */
    int flags;               /* the op's variant, for ref and call (with a weight, accumulate, ...) */
    double arg;              /* a number ref and call share (eps, theta, grad scale) */
    int dtypes;              /* OP_F32 | OP_F16 | OP_BF16: the storage dtypes it runs in; 0: f32 only */
    int one_shape;           /* the op has a single kernel shape: run under "rows" only */
} op_case;

/* op_case.dtypes */
enum { OP_F32 = 1 << DYTCL_F32, OP_F16 = 1 << DYTCL_F16, OP_BF16 = 1 << DYTCL_BF16 };
#define OP_HALF (OP_F16 | OP_BF16)
#define OP_EVERY (OP_F32 | OP_HALF)

/* The table (op_cases.c). */
extern const op_case op_cases[];
extern const int op_n_cases;

/* A view of t's buffer with t's offset and dtype and the given shape. */
dytcl_tensor op_view(dytcl_tensor t, int ndim, int d0, int d1, int d2, int d3);
/* The 1-D view of n elements of t from its element i on. */
dytcl_tensor op_sub(dytcl_tensor t, int64_t i, int64_t n);
/* v as the device stores an f32 result in the run's dtype: rounded to float, then to dt. */
static inline double op_store(const op_run *r, double v) { return round_to(r->dt, (float)v); }
/* Values past f16's range (which f32 math still holds), and values near
 * float's top that bf16 (and f32) must keep: the "big" scale of the range cases. */
static inline double op_big(dytcl_dtype dt) { return dt == DYTCL_F16 ? 1e5 : 1e37; }
/* The shape's dimension i (1 when not given). */
static inline int op_dim(const op_shape *s, int i) { return s->d[i] > 0 ? s->d[i] : 1; }

/* Runs the table's cases of group (NULL: every group) that take dtype dt,
 * under both kernel shapes (a context each, on cache_dir); shapes with an
 * argument of 5000 elements or more are skipped when check_small(). Prints
 * each failure; returns how many of its checks failed. */
int op_run_table(dytcl_dtype dt, const char *group, const char *cache_dir, unsigned long long *rng);

/* The checks a table does not hold (op_extra.c): refusals, the scale
 * backward accumulated and in place, copies between dtypes. Returns how
 * many failed. */
int op_extra(dytcl_ctx *ctx, unsigned long long *rng);

#endif
