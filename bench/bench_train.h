/* bench_train.h -- `dytcl bench train`. */
#ifndef DYTCL_BENCH_TRAIN_H
#define DYTCL_BENCH_TRAIN_H
int bench_train(int argc, char **argv);
#endif
