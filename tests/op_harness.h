/* op_harness.h -- one table of op cases, one runner.
 *
 * A case names an op, its shapes, its inputs (how many elements, drawn
 * how), its outputs (how many elements, compared how, to what tolerance), a
 * float64 reference and the call through the public API. For every shape
 * of its list and under each kernel shape ("rows", "groups") the runner
 * draws the inputs (rounded through float, so the reference sees what the
 * device sees), NaN-poisons the outputs (or starts them from an input: an
 * accumulated gradient, an update in place), calls the op, compares each
 * output with the reference as ||out - ref|| / ||ref||, then poisons and
 * calls again and requires the same bits. Adding an op's test is a table
 * entry (op_cases.c) plus its reference. */
#ifndef DYTCL_OP_HARNESS_H
#define DYTCL_OP_HARNESS_H

#include <stddef.h>

#include "dytcl.h"
#include "op_gen.h"

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
    /* instead of gen: the values for this shape (token ids, a mask), each
       rounded through float by the runner */
    void (*fill)(const op_shape *s, double *v, size_t n, unsigned long long *rng);
    int ints; /* stored as int32 (ids), not float */
} op_input;

typedef struct {
    int size;
    double tol;  /* on ||out - ref|| / ||ref|| */
    int scaled;  /* the reference also gives a scale (the gradient before an attenuation float32
                    cannot resolve): the error is against max(||ref||, 0.1 ||scale||) (dev_util.h) */
    int init;    /* 1 + an input: the output starts as that input, not NaN (accumulate, in place) */
} op_output;

struct op_case;

/* One case at one shape: what its reference and its call see. */
typedef struct {
    const struct op_case *c;
    op_shape s;
    size_t n[2][OP_MAX_ARGS];                     /* elements of in[j], out[k] */
    double *in[OP_MAX_ARGS];                       /* drawn, as float */
    double *out[OP_MAX_ARGS], *scale[OP_MAX_ARGS]; /* the reference writes these */
    dytcl_tensor tin[OP_MAX_ARGS], tout[OP_MAX_ARGS]; /* 1-D device views of the same */
} op_run;

typedef struct op_case {
    const char *group; /* the test program that runs it: "dyt", "norm", "ops" */
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
    dytcl_dtype dtype;       /* storage of the float inputs and outputs: f32 (the default) only, so far */
} op_case;

/* The table (op_cases.c). */
extern const op_case op_cases[];
extern const int op_n_cases;

/* A view of t's buffer with t's offset and the given shape. */
dytcl_tensor op_view(dytcl_tensor t, int ndim, int d0, int d1, int d2, int d3);
/* The shape's dimension i (1 when not given). */
static inline int op_dim(const op_shape *s, int i) { return s->d[i] > 0 ? s->d[i] : 1; }

/* Runs the table's cases of group under both kernel shapes (a context each,
 * on cache_dir); shapes with an argument of 5000 elements or more are
 * skipped when check_small(). Prints each failure; returns how many checks
 * failed. */
int op_run_table(const char *group, const char *cache_dir, unsigned long long *rng);

#endif
