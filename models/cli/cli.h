/* cli.h -- the subcommands of the `dytcl` program. Each returns the exit
 * status: 0 success, 1 failure, 2 usage error. */
#ifndef DYTCL_CLI_H
#define DYTCL_CLI_H

#include <stdio.h>

int cmd_devices(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_train_image(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_plot(int argc, char **argv);

/* The benchmarks, one line each ("bench norms  DyT, ..."), for dytcl --help. */
void cmd_bench_list(FILE *f, const char *indent, int width);

/* Prints "dytcl <cmd>: <message>" to stderr, then returns `code`. */
int cli_error(const char *cmd, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
