/* bench_norms.h -- `dytcl bench norms`. */
#ifndef DYTCL_BENCH_NORMS_H
#define DYTCL_BENCH_NORMS_H
int bench_norms(int argc, char **argv);
#endif
