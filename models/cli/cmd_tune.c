/* cmd_tune.c -- `dytcl tune gemm`: searches CLBlast SGEMM parameters for
 * this device and saves the best in the cache directory, where every later
 * context on the same device and driver picks them up. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "dytcl.h"
#include "opts.h"

typedef struct {
    dytcl_gemm_tune_options t;
    const char *shape, *device;
} tune_args;

static const opt_spec specs[] = {
#define F(f) offsetof(tune_args, f)
    {"budget-seconds", OPT_DOUBLE, F(t.budget_seconds), "S", 0, 1e7, 1, .help = "stop starting candidates after S seconds"},
    {"shape", OPT_STR, F(shape), "MxNxK", .help = "the timed shape", .def = "1024x3072x768"},
    {"reps", OPT_INT, F(t.reps), "N", 1, 100, .help = "timed runs per transpose (the best counts)"},
    {"no-save", OPT_SWITCH, F(t.no_save), .help = "print the best, do not save it"},
    {"device", OPT_STR, F(device), "SPEC", .help = "device index or name substring"},
#undef F
};
static const opt_cmd tune_cmd = {
    "tune gemm", "[options]",
    "Tries CLBlast SGEMM parameters on the device (one compile each: seconds on\n"
    "PoCL), times each at the shape in NN, NT and TN, and writes the fastest to the\n"
    "cache directory ($DYTCL_CACHE_DIR, else $XDG_CACHE_HOME/dytcl, else\n"
    "~/.cache/dytcl), where dytcl's GEMMs on this device and driver use it from then on.\n",
    NULL, specs, (int)(sizeof specs / sizeof specs[0]), 0, NULL};

static void progress(void *user, const char *line)
{
    (void)user;
    printf("%s\n", line);
    fflush(stdout);
}

static int tune_gemm(int argc, char **argv)
{
    tune_args a = {{.budget_seconds = 120, .reps = 2, .progress = progress}, NULL, NULL};
    int rc = opt_parse(&tune_cmd, argc, argv, &a, NULL);
    if (rc >= 0) return rc;
    dytcl_gemm_tune_options opt = a.t;
    const char *spec = a.device;
    if (a.shape) {
        char tail;
        if (sscanf(a.shape, "%dx%dx%d%c", &opt.M, &opt.N, &opt.K, &tail) != 3 || opt.M < 1 || opt.N < 1 || opt.K < 1 ||
            opt.M > 1 << 16 || opt.N > 1 << 16 || opt.K > 1 << 16)
            return cli_error(tune_cmd.cmd, 2, "--shape: \"%s\" is not MxNxK (each 1 to 65536)", a.shape);
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
        printf("usage: dytcl tune gemm [options]   (dytcl tune gemm --help)\n");
        return 0;
    }
    return cli_error("tune", 2, "%s: what to tune? gemm (see dytcl tune gemm --help)", argc >= 2 ? argv[1] : "nothing");
}
