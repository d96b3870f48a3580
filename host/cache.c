/* cache.c -- compiled programs on disk, so that a second start does not compile.
 *
 * One file per program: <cache_dir>/<key>.bin, where the key is a digest of
 * the source, the build options, the device, its driver and its platform
 * version. The file is a header then the device binary:
 *
 *     "DYTCLPB2"  8 bytes magic
 *     u64         payload bytes
 *     u64[2]      tag: a hash of the magic, key, size and payload keyed
 *                 with the cache's secret
 *     char[80]    key, NUL padded
 *     payload
 *
 * The secret is 32 random bytes in <cache_dir>/secret (mode 0600), made by
 * the first context that saves: a file the library did not write for this
 * key under this secret (another program's, a stale format, a payload
 * altered with a recomputed checksum) never reaches the driver, which may
 * crash on a bad binary rather than refuse it. A file that is short, not a
 * regular file (a FIFO would block the open), for another key, or with a
 * wrong tag is ignored and rebuilt from source; one the driver refuses is
 * removed and rebuilt. Files are written to a temporary name, flushed and
 * renamed, so a reader never sees half a file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define MAGIC "DYTCLPB2"
#define SECRET_BYTES 32
#define MAX_PAYLOAD ((uint64_t)1 << 30)

typedef struct {
    char magic[8];
    uint64_t size;
    uint64_t tag[2];
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

/* Opens path for reading only when it is a regular file, without blocking
 * on a FIFO swapped in; -1 otherwise. */
static int open_regular(const char *path)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) close(fd), fd = -1;
    return fd;
}

static int read_exact(int fd, void *p, size_t n)
{
    unsigned char *c = p;
    while (n) {
        ssize_t got = read(fd, c, n);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return -1;
        c += got, n -= (size_t)got;
    }
    return 0;
}

/* The cache's secret: read, or made (create = 1) from /dev/urandom. 0 when
 * there is one. */
static int cache_secret(const dytcl_ctx *ctx, int create, unsigned char secret[SECRET_BYTES])
{
    char path[1200];
    snprintf(path, sizeof path, "%s/secret", ctx->cache_dir);
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = open_regular(path);
        if (fd >= 0) {
            unsigned char extra;
            int ok = read_exact(fd, secret, SECRET_BYTES) == 0 && read(fd, &extra, 1) == 0;
            close(fd);
            return ok ? 0 : -1;
        }
        if (!create) return -1;
        int r = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (r < 0 || read_exact(r, secret, SECRET_BYTES) != 0) {
            if (r >= 0) close(r);
            return -1;
        }
        close(r);
        char tmp[1300];
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
        int w = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (w < 0) return -1;
        int bad = write(w, secret, SECRET_BYTES) != SECRET_BYTES || fsync(w) != 0;
        bad |= close(w) != 0;
        /* link, not rename: a secret another process made first is kept (and read again) */
        if (!bad && link(tmp, path) == 0) {
            unlink(tmp);
            return 0;
        }
        unlink(tmp);
        if (bad) return -1;
    }
    return -1;
}

/* The entry's tag: two 64-bit FNV-1a streams seeded from the secret, over
 * the secret, the header fields and the payload. */
static void entry_tag(const unsigned char secret[SECRET_BYTES], const char *key, uint64_t size,
                      const unsigned char *bin, uint64_t tag[2])
{
    for (int i = 0; i < 2; i++) {
        uint64_t x = 0xcbf29ce484222325ULL;
        x = fnv1a(x, secret + 16 * i, 16);
        x = fnv1a(x, MAGIC, 8);
        x = fnv_str(x, key);
        x = fnv1a(x, &size, sizeof size);
        x = fnv1a(x, bin, (size_t)size);
        tag[i] = fnv1a(x, secret, SECRET_BYTES);
    }
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
    unsigned char secret[SECRET_BYTES];
    int fd = cache_secret(ctx, 0, secret) == 0 ? open_regular(path) : -1;
    if (fd < 0) return 0;

    int ok = 0, refused = 0;
    unsigned char *bin = NULL, extra;
    cache_header h;
    uint64_t tag[2];
    struct stat st;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size < sizeof h || read_exact(fd, &h, sizeof h) != 0) goto done;
    if (memcmp(h.magic, MAGIC, 8) != 0 || strncmp(h.key, key, sizeof h.key) != 0) goto done;
    if (h.size == 0 || h.size > MAX_PAYLOAD || h.size != (uint64_t)st.st_size - sizeof h) goto done;
    if (!(bin = malloc(h.size))) goto done;
    if (read_exact(fd, bin, h.size) != 0 || read(fd, &extra, 1) != 0) goto done;
    entry_tag(secret, key, h.size, bin, tag);
    if (tag[0] != h.tag[0] || tag[1] != h.tag[1]) goto done;

    size_t size = h.size;
    const unsigned char *bins[1] = {bin};
    cl_int status, err;
    cl_program p = clCreateProgramWithBinary(ctx->context, 1, &ctx->device, &size, bins, &status, &err);
    if (err != CL_SUCCESS || status != CL_SUCCESS) {
        if (p) clReleaseProgram(p);
        refused = 1;
        goto done;
    }
    if (clBuildProgram(p, 1, &ctx->device, NULL, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(p);
        refused = 1;
        goto done;
    }
    *prog = p;
    *size_now = binary_size(p);
    ok = 1;
done:
    free(bin);
    close(fd);
    if (refused) remove(path); /* the driver's verdict: rebuilt from source and saved again */
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
    unsigned char secret[SECRET_BYTES];
    memset(&h, 0, sizeof h);
    memcpy(h.magic, MAGIC, 8);
    h.size = size;
    snprintf(h.key, sizeof h.key, "%s", key);

    char path[1200], tmp[1300];
    cache_path(ctx, key, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    dytcl_status s = DYTCL_OK;
    FILE *f = NULL;
    if (make_dirs(ctx->cache_dir) != 0 || cache_secret(ctx, 1, secret) != 0) {
        s = dy_fail(ctx, DYTCL_ERR_IO, "cache: no secret in %s (cannot create %s/secret)", ctx->cache_dir,
                    ctx->cache_dir);
        free(bin);
        return s;
    }
    entry_tag(secret, key, size, bin, h.tag);
    if (!(f = fopen(tmp, "wb"))) {
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
    for (int i = 0; i < DY_PROG_SLOTS; i++) {
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
