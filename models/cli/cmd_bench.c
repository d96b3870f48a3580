/* cmd_bench.c -- `dytcl bench <what>`: the benchmarks in bench/. */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "outputs.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} benches[] = {
    {"norms", bench_norms, "DyT, Derf, RMSNorm, LayerNorm vs a copy kernel; LLaMA-7B protocol"},
    {"attention", bench_attention, "causal attention vs T: GEMM path vs tiled path, time and memory"},
    {"step", bench_step, "share of a training step per op: one GPT-2-small block, DyT vs RMSNorm"},
    {"train", bench_train, "training and generation tokens/s, DyT vs RMSNorm vs LayerNorm, norm share"},
    {"decode", bench_decode, "decoding tokens/s with f32, f16 and bf16 weights, interleaved"},
    {"gemm", bench_gemm, "SGEMM through CLBlast at transformer shapes (OpenBLAS beside it)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: dytcl bench <what> [options]   (dytcl bench <what> --help)\n");
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
        fprintf(f, "  %-8s %s\n", benches[i].name, benches[i].help);
}

int cmd_bench(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    /* --json FILE (and --png FILE) are checked before measuring, not after it */
    for (int i = 2; i + 1 < argc; i++) {
        char err[1400];
        int png = !strcmp(argv[i], "--png");
        if ((png || !strcmp(argv[i], "--json")) &&
            output_check(argv[i], argv[i + 1], png ? output_is_png : output_is_json, png ? "a PNG" : "JSON", NULL, 0,
                         0, err, sizeof err))
            return cli_error("bench", 1, "%s", err);
    }
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
        if (!strcmp(argv[1], benches[i].name)) return benches[i].run(argc - 1, argv + 1);
    usage(stderr);
    return cli_error("bench", 2, "unknown benchmark '%s'", argv[1]);
}
