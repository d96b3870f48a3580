/* op_harness.h -- one table of op cases, one runner.
 *
 * A case names an op, its inputs (how many elements, drawn how), its
 * outputs (how many elements, compared how, to what tolerance), a float64
 * reference and the call through the public API. For every size n of its
 * list and under each kernel shape ("rows", "groups") the runner draws the
 * inputs (rounded through float, so the reference sees what the device
 * sees), NaN-poisons the outputs, calls the op, compares each output with
 * the reference as ||out - ref|| / ||ref||, then poisons and calls again
 * and requires the same bits. Adding an op's test is a table entry plus its
 * reference. */
#ifndef DYTCL_OP_HARNESS_H
#define DYTCL_OP_HARNESS_H

#include <stddef.h>

#include "dytcl.h"

enum { OP_MAX_ARGS = 4, OP_MAX_SIZES = 8 };

/* How an input's elements are drawn. */
typedef enum {
    OP_UNIFORM, /* uniform in [lo, hi) */
    OP_EDGES,   /* uniform, with every 8th element in turn 0, -0, lo and hi (saturated ends) */
    OP_CONST,   /* every element lo */
} op_gen;

typedef struct {
    int scalar; /* 1 element, not n */
    op_gen gen;
    double lo, hi;
} op_input;

typedef struct {
    int scalar;    /* 1 element, not n */
    double tol;    /* on ||out - ref|| / ||ref|| */
    int scaled_by; /* 1 + the index of an input: error against max(||ref||, 0.1 ||input||)
                      (a gradient attenuated below what float32 resolves; dev_util.h) */
} op_output;

typedef struct {
    const char *name;
    int n_in, n_out;
    op_input in[OP_MAX_ARGS];
    op_output out[OP_MAX_ARGS];
    size_t sizes[OP_MAX_SIZES]; /* n, 0-terminated */
    /* float64: out[k] from in[j], each n (or 1) elements */
    void (*ref)(size_t n, const double *const *in, double *const *out);
    /* the op on 1-D device tensors of the same sizes */
    dytcl_status (*call)(dytcl_ctx *ctx, const dytcl_tensor *in, const dytcl_tensor *out);
} op_case;

/* Draws n values by an input's generator (advancing *rng), rounded through
 * float. */
void op_fill(double *v, size_t n, const op_input *in, unsigned long long *rng);

/* Runs every case under both kernel shapes (a context each, on cache_dir),
 * sizes of 5000 and more skipped when check_small(); prints each failure and
 * returns how many checks failed. */
int op_run_table(const op_case *cases, int n_cases, const char *cache_dir, unsigned long long *rng);

#endif
