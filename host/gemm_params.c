/* gemm_params.c -- which CLBlast GEMM parameters a device runs with.
 *
 * CLBlast picks its kernel parameters from a database of devices it was
 * tuned on; for any other device it falls back to generic values, which on
 * PoCL (a CPU) run 3-5x slower than CPU-shaped ones. A context's first GEMM
 * calls dy_gemm_setup, which chooses, in order:
 *   DYTCL_GEMM_DEFAULTS=1 set        CLBlast's own parameters
 *   the device's tuning file         written by `dytcl tune gemm`
 *   a PoCL CPU device                the built-in set below
 *   anything else                    CLBlast's own parameters
 * and hands them to CLBlastOverrideParameters, which keeps them per device
 * for the rest of the process.
 *
 * The tuning file lives in the program cache directory (same rules: the
 * context option, DYTCL_CACHE_DIR, XDG_CACHE_HOME, HOME; none with
 * DYTCL_NO_CACHE=1), named by a digest of the platform, device and driver,
 * and repeats them inside, so that another driver version does not reuse it:
 *
 *     dytcl-gemm-params 1
 *     platform Portable Computing Language
 *     device pthread-haswell-AMD EPYC 7B13
 *     driver 6.0+debian
 *     note 68.1 GFLOP/s at 1024x3072x768 (NN NT TN)
 *     params GEMMK=0 MWG=64 NWG=64 ... XGEMM_MIN_INDIRECT_SIZE=128
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <clblast_c.h>

#include "gemm_host.h"
#include "gemm_tune.h"

static const char *const xgemm_names[DY_XGEMM_N] = {"GEMMK", "MWG", "NWG", "KWG", "MDIMC", "NDIMC", "MDIMA", "NDIMB",
                                                    "KWI",   "VWM", "VWN", "STRM", "STRN", "SA",   "SB",   "KREG"};
static const char *const direct_names[DY_DIRECT_N] = {"WGD",  "MDIMCD", "NDIMCD", "MDIMAD", "NDIMBD",
                                                      "KWID", "VWMD",   "VWND",   "PADA",   "PADB"};
static const char *const routine_name = "XGEMM_MIN_INDIRECT_SIZE";

/* CPU-shaped Xgemm parameters for PoCL: 64x64 tiles per work-group of 8x4
 * work-items, 8-wide vectors along both tiles (so each work-item owns an
 * 8x16 block of C, which LLVM keeps in vector registers), A and B staged
 * through local memory. On a 2-core Zen 3 guest: 54-72 GFLOP/s at GPT-2
 * small shapes against 12-24 with CLBlast's generic values. Shapes below
 * 128^3 go to CLBlast's direct kernel, which needs no padding copies. */
const dy_gemm_params dy_gemm_pocl_cpu = {
    /* GEMMK MWG NWG KWG MDIMC NDIMC MDIMA NDIMB KWI VWM VWN STRM STRN SA SB KREG */
    .xgemm = {0, 64, 64, 32, 8, 4, 8, 4, 2, 8, 8, 0, 0, 1, 1, 1},
    .direct = {0},
    .min_indirect = 128,
};

/* ------------------------------------------------------------ parameter sets */

size_t *dy_gemm_param(dy_gemm_params *p, const char *name)
{
    for (int i = 0; i < DY_XGEMM_N; i++)
        if (!strcmp(name, xgemm_names[i])) return &p->xgemm[i];
    for (int i = 0; i < DY_DIRECT_N; i++)
        if (!strcmp(name, direct_names[i])) return &p->direct[i];
    return strcmp(name, routine_name) ? NULL : &p->min_indirect;
}

int dy_gemm_params_parse(dy_gemm_params *p, const char *s)
{
    char name[32];
    unsigned long v;
    int used;
    while (sscanf(s, " %31[A-Z_]=%lu%n", name, &v, &used) == 2) {
        size_t *slot = dy_gemm_param(p, name);
        if (!slot || v > 65536) return -1;
        *slot = v;
        s += used;
    }
    while (*s == ' ' || *s == '\n') s++;
    return *s ? -1 : 0;
}

void dy_gemm_params_str(const dy_gemm_params *p, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (int i = 0; i < DY_XGEMM_N && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s=%zu ", xgemm_names[i], p->xgemm[i]);
    if (n < cap) n += (size_t)snprintf(out + n, cap - n, "%s=%zu", routine_name, p->min_indirect);
    for (int i = 0; p->direct[0] && i < DY_DIRECT_N && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, " %s=%zu", direct_names[i], p->direct[i]);
}

/* a % b == 0, with b == 0 failing */
static int divides(size_t a, size_t b)
{
    return b != 0 && a % b == 0;
}

int dy_gemm_params_valid(const dytcl_ctx *ctx, const dy_gemm_params *p, char *why, size_t cap)
{
    const size_t *x = p->xgemm;
    const size_t MWG = x[1], NWG = x[2], KWG = x[3], MDIMC = x[4], NDIMC = x[5], MDIMA = x[6], NDIMB = x[7];
    const size_t KWI = x[8], VWM = x[9], VWN = x[10], SA = x[13], SB = x[14];
    const char *bad = NULL;
    if (x[0] != 0 || x[15] != 1) bad = "only GEMMK=0 KREG=1 is searched";
    else if (!divides(KWG, KWI)) bad = "KWG must be a multiple of KWI";
    else if (!divides(MWG, MDIMC * VWM) || !divides(MWG, MDIMA * VWM)) bad = "MWG must be a multiple of MDIMC*VWM and MDIMA*VWM";
    else if (!divides(NWG, NDIMC * VWN) || !divides(NWG, NDIMB * VWN)) bad = "NWG must be a multiple of NDIMC*VWN and NDIMB*VWN";
    else if (!MDIMA || !NDIMB || !divides(KWG, MDIMC * NDIMC / MDIMA) || !divides(KWG, MDIMC * NDIMC / NDIMB))
        bad = "KWG must be a multiple of MDIMC*NDIMC/MDIMA and of MDIMC*NDIMC/NDIMB";
    else if (MDIMC * NDIMC > ctx->info.max_work_group) bad = "MDIMC*NDIMC exceeds the device's work-group size";
    else if ((SA * KWG * MWG + SB * KWG * NWG) * sizeof(float) > ctx->info.local_mem) bad = "too much local memory";
    else if (p->min_indirect < 1) bad = "XGEMM_MIN_INDIRECT_SIZE must be positive";
    if (!bad && p->direct[0]) {
        const size_t *d = p->direct;
        const size_t WGD = d[0], MC = d[1], NC = d[2], MA = d[3], NB = d[4], KWID = d[5], VM = d[6], VN = d[7];
        if (!divides(WGD, KWID) || !divides(WGD, MC * VM) || !divides(WGD, NC * VN) || !divides(WGD, MA * VM) ||
            !divides(WGD, NB * VN) || !MA || !NB || !divides(WGD, MC * NC / MA) || !divides(WGD, MC * NC / NB))
            bad = "XgemmDirect tiles do not divide WGD";
        else if (MC * NC > ctx->info.max_work_group) bad = "MDIMCD*NDIMCD exceeds the device's work-group size";
        else if (WGD * (2 * WGD + d[8] + d[9]) * sizeof(float) > ctx->info.local_mem) bad = "WGD needs too much local memory";
    }
    if (bad && why) snprintf(why, cap, "%s", bad);
    return bad == NULL;
}

/* ------------------------------------------------------------ applying them */

static const char *blas_status_name(int st)
{
    switch (st) {
    case CLBlastNotImplemented: return "CLBlastNotImplemented";
    case CLBlastInvalidMatrixA: return "CLBlastInvalidMatrixA";
    case CLBlastInvalidMatrixB: return "CLBlastInvalidMatrixB";
    case CLBlastInvalidMatrixC: return "CLBlastInvalidMatrixC";
    case CLBlastInvalidDimension: return "CLBlastInvalidDimension";
    case CLBlastInvalidLeadDimA: return "CLBlastInvalidLeadDimA";
    case CLBlastInvalidLeadDimB: return "CLBlastInvalidLeadDimB";
    case CLBlastInvalidLeadDimC: return "CLBlastInvalidLeadDimC";
    case CLBlastInsufficientMemoryA: return "CLBlastInsufficientMemoryA";
    case CLBlastInsufficientMemoryB: return "CLBlastInsufficientMemoryB";
    case CLBlastInsufficientMemoryC: return "CLBlastInsufficientMemoryC";
    case CLBlastInsufficientMemoryTemp: return "CLBlastInsufficientMemoryTemp";
    case CLBlastInvalidBatchCount: return "CLBlastInvalidBatchCount";
    case CLBlastInvalidOverrideKernel: return "CLBlastInvalidOverrideKernel";
    case CLBlastMissingOverrideParameter: return "CLBlastMissingOverrideParameter";
    case CLBlastInvalidLocalMemUsage: return "CLBlastInvalidLocalMemUsage";
    case CLBlastDatabaseError: return "CLBlastDatabaseError";
    case CLBlastUnknownError: return "CLBlastUnknownError";
    case CLBlastUnexpectedError: return "CLBlastUnexpectedError";
    default: return "CLBlast status";
    }
}

dytcl_status dy_blas_fail(dytcl_ctx *ctx, int st, const char *what)
{
    if (st > -1000) return dy_cl_fail(ctx, (cl_int)st, what); /* an OpenCL error passed through */
    return dy_fail(ctx, DYTCL_ERR_OPENCL, "%s failed: %s (%d)", what, blas_status_name(st), st);
}

/* The devices this process has overridden (CLBlast keeps overrides globally). */
static pthread_mutex_t overridden_lock = PTHREAD_MUTEX_INITIALIZER;
static cl_device_id overridden[32];
static int noverridden;

int dy_gemm_overridden(cl_device_id dev)
{
    int found = 0;
    pthread_mutex_lock(&overridden_lock);
    for (int i = 0; i < noverridden; i++) found |= overridden[i] == dev;
    pthread_mutex_unlock(&overridden_lock);
    return found;
}

static void mark_overridden(cl_device_id dev)
{
    pthread_mutex_lock(&overridden_lock);
    int found = 0;
    for (int i = 0; i < noverridden; i++) found |= overridden[i] == dev;
    if (!found && noverridden < 32) overridden[noverridden++] = dev;
    pthread_mutex_unlock(&overridden_lock);
}

static dytcl_status override(dytcl_ctx *ctx, const char *kernel, const char *const *names, const size_t *values,
                             size_t n)
{
    CLBlastStatusCode st =
        CLBlastOverrideParameters(ctx->device, kernel, CLBlastPrecisionSingle, n, (const char **)names, values);
    if (st == CLBlastSuccess) return DYTCL_OK;
    char what[64];
    snprintf(what, sizeof what, "CLBlastOverrideParameters(%s)", kernel);
    return dy_blas_fail(ctx, st, what);
}

dytcl_status dy_gemm_apply(dytcl_ctx *ctx, const dy_gemm_params *p)
{
    char why[128];
    if (!dy_gemm_params_valid(ctx, p, why, sizeof why))
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "GEMM parameters: %s", why);
    mark_overridden(ctx->device);
    dytcl_status s = override(ctx, "Xgemm", xgemm_names, p->xgemm, DY_XGEMM_N);
    if (!s) s = override(ctx, "GemmRoutine", &routine_name, &p->min_indirect, 1);
    if (!s && p->direct[0]) s = override(ctx, "XgemmDirect", direct_names, p->direct, DY_DIRECT_N);
    return s;
}

/* ------------------------------------------------------------ the tuning file */

void dy_gemm_file_path(const dytcl_ctx *ctx, char *out, size_t cap)
{
    char key[80];
    dy_cache_key(ctx, "dytcl CLBlast SGEMM parameters", "v1", key);
    snprintf(out, cap, "%s/gemm-%s.txt", ctx->cache_dir, key);
}

/* "word rest-of-line" must read `want` (the line's end stripped). */
static int line_is(FILE *f, const char *word, const char *want)
{
    char line[1024];
    if (!fgets(line, sizeof line, f)) return 0;
    line[strcspn(line, "\r\n")] = '\0';
    size_t n = strlen(word);
    return !strncmp(line, word, n) && line[n] == ' ' && !strcmp(line + n + 1, want);
}

int dy_gemm_file_load(const dytcl_ctx *ctx, dy_gemm_params *p)
{
    if (!ctx->cache_dir[0]) return 0;
    char path[1200], line[1024];
    dy_gemm_file_path(ctx, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int ok = line_is(f, "dytcl-gemm-params", "1") && line_is(f, "platform", ctx->info.platform) &&
             line_is(f, "device", ctx->info.name) && line_is(f, "driver", ctx->info.driver_version) &&
             fgets(line, sizeof line, f) && !strncmp(line, "note ", 5) && fgets(line, sizeof line, f) &&
             !strncmp(line, "params ", 7);
    fclose(f);
    if (!ok) return 0;
    /* Every Xgemm value must be given: start from an impossible set. */
    dy_gemm_params q;
    memset(&q, 0xff, sizeof q);
    memset(q.direct, 0, sizeof q.direct);
    if (dy_gemm_params_parse(&q, line + 7) != 0) return 0;
    for (int i = 0; i < DY_XGEMM_N; i++)
        if (q.xgemm[i] == (size_t)-1) return 0;
    for (int i = 0; q.direct[0] && i < DY_DIRECT_N; i++)
        if (!q.direct[i] && i < 8) return 0; /* a partial XgemmDirect set */
    if (!dy_gemm_params_valid(ctx, &q, NULL, 0)) return 0;
    *p = q;
    return 1;
}

/* mkdir -p for the cache directory. */
static int mkdir_parents(const char *dir)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *c = tmp + 1;; c++) {
        if (*c != '/' && *c != '\0') continue;
        char keep = *c;
        *c = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
        if (!(*c = keep)) return 0;
    }
}

dytcl_status dy_gemm_file_save(dytcl_ctx *ctx, const dy_gemm_params *p, const char *comment)
{
    if (!ctx->cache_dir[0]) return dy_fail(ctx, DYTCL_ERR_IO, "GEMM parameters: the cache is off (DYTCL_NO_CACHE)");
    char path[1200], tmp[1300], params[1024];
    dy_gemm_file_path(ctx, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    dy_gemm_params_str(p, params, sizeof params);
    FILE *f = NULL;
    if (mkdir_parents(ctx->cache_dir) != 0 || !(f = fopen(tmp, "w")))
        return dy_fail(ctx, DYTCL_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    fprintf(f, "dytcl-gemm-params 1\nplatform %s\ndevice %s\ndriver %s\nnote %s\nparams %s\n", ctx->info.platform,
            ctx->info.name, ctx->info.driver_version, comment, params);
    int bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        remove(tmp);
        return dy_fail(ctx, DYTCL_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    }
    return DYTCL_OK;
}

/* ------------------------------------------------------------ choosing */

static int env_on(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

dytcl_status dy_gemm_setup(dytcl_ctx *ctx)
{
    if (ctx->gemm_ready != DY_GEMM_UNSET) return DYTCL_OK;
    dy_gemm_params p;
    int pocl_cpu = ctx->info.is_cpu && strstr(ctx->info.platform, "Portable Computing Language");
    if (env_on("DYTCL_GEMM_DEFAULTS")) {
        ctx->gemm_ready = DY_GEMM_CLBLAST;
        return DYTCL_OK;
    }
    if (dy_gemm_file_load(ctx, &p)) {
        ctx->gemm_ready = DY_GEMM_TUNED;
    } else if (pocl_cpu) {
        p = dy_gemm_pocl_cpu;
        ctx->gemm_ready = DY_GEMM_BUILTIN;
    } else {
        ctx->gemm_ready = DY_GEMM_CLBLAST;
        return DYTCL_OK;
    }
    if (!dy_gemm_params_valid(ctx, &p, NULL, 0)) {
        /* limits capped below the device's (dytcl_ctx_options): CLBlast's
         * own choice, made for the device itself */
        ctx->gemm_ready = DY_GEMM_CLBLAST;
        return DYTCL_OK;
    }
    dytcl_status s = dy_gemm_apply(ctx, &p);
    if (s) ctx->gemm_ready = DY_GEMM_UNSET; /* try again at the next GEMM */
    return s;
}

dytcl_status dytcl_gemm_config(dytcl_ctx *ctx, char *out, size_t cap)
{
    DY_CHECK_CTX(ctx);
    if (!out || cap == 0) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "dytcl_gemm_config: no output buffer");
    dytcl_status s = dy_gemm_path_choose(ctx);
    if (s) return s;
    if (ctx->gemm_path == DYTCL_GEMM_HOST) { /* gemm_host.c */
        dy_gemm_host_describe(ctx, out, cap);
        return DYTCL_OK;
    }
    if ((s = dy_gemm_setup(ctx))) return s;
    char params[1024] = "", path[1200] = "";
    dy_gemm_params p;
    if (ctx->gemm_ready == DY_GEMM_TUNED && dy_gemm_file_load(ctx, &p)) dy_gemm_params_str(&p, params, sizeof params);
    if (ctx->gemm_ready == DY_GEMM_BUILTIN) dy_gemm_params_str(&dy_gemm_pocl_cpu, params, sizeof params);
    if (ctx->gemm_ready == DY_GEMM_TUNED) dy_gemm_file_path(ctx, path, sizeof path);
    switch (ctx->gemm_ready) {
    case DY_GEMM_TUNED: snprintf(out, cap, "tuned (%s): %s", path, params); break;
    case DY_GEMM_BUILTIN: snprintf(out, cap, "built-in for PoCL CPUs: %s", params); break;
    case DY_GEMM_SEARCH: snprintf(out, cap, "the last dytcl_gemm_tune search's best"); break;
    default: snprintf(out, cap, "CLBlast's own%s", dy_gemm_overridden(ctx->device) ? " (overridden earlier in this process)" : ""); break;
    }
    return DYTCL_OK;
}
