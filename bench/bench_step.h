/* bench_step.h -- `dytcl bench step`. */
#ifndef DYTCL_BENCH_STEP_H
#define DYTCL_BENCH_STEP_H
int bench_step(int argc, char **argv);
#endif
