/* bench_attention.h -- `dytcl bench attention`. */
#ifndef DYTCL_BENCH_ATTENTION_H
#define DYTCL_BENCH_ATTENTION_H
int bench_attention(int argc, char **argv);
#endif
