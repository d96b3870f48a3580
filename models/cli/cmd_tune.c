/* cmd_tune.c -- `dytcl tune gemm`: searches CLBlast SGEMM parameters for
 * this device and saves the best in the cache directory, where every later
 * context on the same device and driver picks them up. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dytcl.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: dytcl tune gemm [--budget-seconds S] [--shape MxNxK] [--reps N] [--no-save] [--device SPEC]\n"
               "  Tries CLBlast SGEMM parameters on the device (one compile each: seconds on\n"
               "  PoCL), times each at the shape (default 1024x3072x768) in NN, NT and TN,\n"
               "  and writes the fastest to the cache directory ($DYTCL_CACHE_DIR, else\n"
               "  $XDG_CACHE_HOME/dytcl, else ~/.cache/dytcl), where dytcl's GEMMs on this\n"
               "  device and driver use it from then on. Stops starting candidates after\n"
               "  --budget-seconds (default 120).\n");
}

static void progress(void *user, const char *line)
{
    (void)user;
    printf("%s\n", line);
    fflush(stdout);
}

static int tune_gemm(int argc, char **argv)
{
    dytcl_gemm_tune_options opt = {.progress = progress};
    const char *spec = NULL;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--budget-seconds") && i + 1 < argc) {
            opt.budget_seconds = strtod(argv[++i], &end);
            if (*end || !(opt.budget_seconds > 0)) return cli_error("tune gemm", 2, "bad --budget-seconds '%s'", argv[i]);
        } else if (!strcmp(argv[i], "--shape") && i + 1 < argc) {
            if (sscanf(argv[++i], "%dx%dx%d", &opt.M, &opt.N, &opt.K) != 3 || opt.M < 1 || opt.N < 1 || opt.K < 1)
                return cli_error("tune gemm", 2, "bad --shape '%s' (want MxNxK)", argv[i]);
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            opt.reps = (int)strtol(argv[++i], &end, 10);
            if (*end || opt.reps < 1 || opt.reps > 100) return cli_error("tune gemm", 2, "bad --reps '%s'", argv[i]);
        } else if (!strcmp(argv[i], "--no-save")) {
            opt.no_save = 1;
        } else if (!strcmp(argv[i], "--device") && i + 1 < argc) {
            spec = argv[++i];
        } else {
            usage(stderr);
            return cli_error("tune gemm", 2, "unknown or incomplete option '%s'", argv[i]);
        }
    }
    dytcl_ctx *ctx = NULL;
    dytcl_ctx_options copt = {.device = spec};
    if (dytcl_ctx_create(&copt, &ctx) != DYTCL_OK) return cli_error("tune gemm", 1, "%s", dytcl_last_error(NULL));
    dytcl_gemm_tune_result res;
    dytcl_status s = dytcl_gemm_tune(ctx, &opt, &res);
    int code = 0;
    if (s) {
        code = cli_error("tune gemm", 1, "%s: %s", dytcl_status_name(s), dytcl_last_error(ctx));
    } else {
        printf("\n%d candidates in %.0f s\n", res.tried, res.seconds);
        if (res.defaults_gflops > 0) printf("CLBlast's own parameters  %7.1f GFLOP/s\n", res.defaults_gflops);
        printf("starting point            %7.1f GFLOP/s\n", res.start_gflops);
        printf("best                      %7.1f GFLOP/s  %s\n", res.best_gflops, res.best);
        printf("%s%s\n", res.path[0] ? "saved to " : "not saved", res.path);
    }
    dytcl_ctx_free(ctx);
    return code;
}

int cmd_tune(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "gemm")) return tune_gemm(argc - 1, argv + 1);
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    usage(stderr);
    return cli_error("tune", 2, "what to tune: gemm");
}
