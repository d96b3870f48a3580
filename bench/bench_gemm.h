/* bench_gemm.h -- `dytcl bench gemm`. */
#ifndef DYTCL_BENCH_GEMM_H
#define DYTCL_BENCH_GEMM_H
int bench_gemm(int argc, char **argv);
#endif
