/* cache.c -- compiled programs on disk, so that a second start does not compile.
 *
 * One file per program: <cache_dir>/<key>.bin, where the key is a digest of
 * the source, the build options, the device, its driver and its platform
 * version. The file is a header then the device binary:
 *
 *     "DYTCLPB1"  8 bytes magic
 *     u64         payload bytes
 *     u64         payload checksum
 *     char[80]    key, NUL padded
 *     payload
 *
 * A file that is short, corrupt, for another key, or that the driver refuses
 * is ignored and rebuilt from source. Files are written to a temporary name,
 * flushed and renamed, so a reader never sees half a file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define MAGIC "DYTCLPB1"
#define MAX_PAYLOAD ((uint64_t)1 << 30)

typedef struct {
    char magic[8];
    uint64_t size;
    uint64_t sum;
    char key[80];
} cache_header;

/* FNV-1a, 64 bits, continuing from h. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static uint64_t fnv_str(uint64_t h, const char *s)
{
    return fnv1a(h, s, strlen(s) + 1); /* the NUL separates fields */
}

void dy_cache_key(const dytcl_ctx *ctx, const char *src, const char *options, char out[80])
{
    /* Two independent 64-bit digests of the same fields: 128 bits. */
    const uint64_t seeds[2] = {0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL};
    uint64_t h[2];
    for (int i = 0; i < 2; i++) {
        uint64_t x = seeds[i];
        x = fnv_str(x, src);
        x = fnv_str(x, options);
        x = fnv_str(x, ctx->info.platform);
        x = fnv_str(x, ctx->info.platform_version);
        x = fnv_str(x, ctx->info.name);
        x = fnv_str(x, ctx->info.vendor);
        x = fnv_str(x, ctx->info.driver_version);
        x = fnv_str(x, ctx->info.device_version);
        h[i] = x;
    }
    snprintf(out, 80, "%016llx%016llx", (unsigned long long)h[0], (unsigned long long)h[1]);
}

static void cache_path(const dytcl_ctx *ctx, const char *key, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s.bin", ctx->cache_dir, key);
}

static size_t binary_size(cl_program prog);

int dy_cache_load(dytcl_ctx *ctx, const char *key, cl_program *prog, size_t *size_now)
{
    *prog = NULL;
    if (!ctx->cache_dir[0]) return 0;
    char path[1200];
    cache_path(ctx, key, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;

    int ok = 0;
    unsigned char *bin = NULL;
    cache_header h;
    if (fread(&h, sizeof h, 1, f) != 1) goto done;
    if (memcmp(h.magic, MAGIC, 8) != 0 || strncmp(h.key, key, sizeof h.key) != 0) goto done;
    if (h.size == 0 || h.size > MAX_PAYLOAD) goto done;
    if (!(bin = malloc(h.size))) goto done;
    if (fread(bin, 1, h.size, f) != h.size || fgetc(f) != EOF) goto done;
    if (fnv1a(0xcbf29ce484222325ULL, bin, h.size) != h.sum) goto done;

    size_t size = h.size;
    const unsigned char *bins[1] = {bin};
    cl_int status, err;
    cl_program p = clCreateProgramWithBinary(ctx->context, 1, &ctx->device, &size, bins, &status, &err);
    if (err != CL_SUCCESS || status != CL_SUCCESS) {
        if (p) clReleaseProgram(p);
        goto done;
    }
    if (clBuildProgram(p, 1, &ctx->device, NULL, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(p);
        goto done;
    }
    *prog = p;
    *size_now = binary_size(p);
    ok = 1;
done:
    free(bin);
    fclose(f);
    return ok;
}

/* mkdir -p */
static int make_dirs(const char *dir)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return (mkdir(tmp, 0755) != 0 && errno != EEXIST) ? -1 : 0;
}

static size_t binary_size(cl_program prog)
{
    size_t size = 0;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) != CL_SUCCESS)
        return 0;
    return size;
}

dytcl_status dy_cache_save(dytcl_ctx *ctx, const char *key, cl_program prog)
{
    size_t size = binary_size(prog);
    if (size == 0 || size > MAX_PAYLOAD)
        return dy_fail(ctx, DYTCL_ERR_UNSUPPORTED, "cache: the driver gives no program binary");
    unsigned char *bin = malloc(size);
    if (!bin) return dy_fail(ctx, DYTCL_ERR_HOST_MEMORY, "cache: no memory for a %zu-byte binary", size);
    unsigned char *bins[1] = {bin};
    cl_int err = clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL);
    if (err != CL_SUCCESS) {
        free(bin);
        return dy_cl_fail(ctx, err, "clGetProgramInfo(CL_PROGRAM_BINARIES)");
    }

    cache_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, MAGIC, 8);
    h.size = size;
    h.sum = fnv1a(0xcbf29ce484222325ULL, bin, size);
    snprintf(h.key, sizeof h.key, "%s", key);

    char path[1200], tmp[1300];
    cache_path(ctx, key, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    dytcl_status s = DYTCL_OK;
    FILE *f = NULL;
    if (make_dirs(ctx->cache_dir) != 0 || !(f = fopen(tmp, "wb"))) {
        s = dy_fail(ctx, DYTCL_ERR_IO, "cache: cannot write %s: %s", tmp, strerror(errno));
    } else {
        int bad = fwrite(&h, sizeof h, 1, f) != 1 || fwrite(bin, 1, size, f) != size;
        bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
        bad |= fclose(f) != 0;
        if (bad || rename(tmp, path) != 0) {
            s = dy_fail(ctx, DYTCL_ERR_IO, "cache: cannot write %s: %s", path, strerror(errno));
            remove(tmp);
        }
    }
    free(bin);
    return s;
}

dytcl_status dytcl_ctx_save_cache(dytcl_ctx *ctx)
{
    DY_CHECK_CTX(ctx);
    if (!ctx->cache_dir[0]) return DYTCL_OK;
    dytcl_status first = DYTCL_OK;
    for (int i = 0; i < DY_PROG_COUNT; i++) {
        dy_prog *pg = &ctx->progs[i];
        if (!pg->program) continue;
        /* A loaded binary grows when the driver compiled new launch shapes. */
        size_t size = binary_size(pg->program);
        if (!pg->dirty && size == pg->cached_size) continue;
        dytcl_status s = dy_cache_save(ctx, pg->key, pg->program);
        if (s == DYTCL_OK) {
            pg->dirty = 0;
            pg->cached_size = size;
            ctx->stats.programs_saved++;
        } else if (first == DYTCL_OK) {
            first = s;
        }
    }
    return first;
}
