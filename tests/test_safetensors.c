/* test_safetensors.c -- save and load round trips, metadata, and refusal of
 * corrupt, truncated and hostile files with DYTCL_ERR_FORMAT. */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

/* Writes a file whose header is `json` followed by `data_bytes` zero bytes. */
static void write_raw(const char *path, const char *json, size_t data_bytes)
{
    FILE *f = fopen(path, "wb");
    unsigned long long n = strlen(json);
    for (int i = 0; i < 8; i++) fputc((int)((n >> (8 * i)) & 0xff), f);
    fputs(json, f);
    for (size_t i = 0; i < data_bytes; i++) fputc(0, f);
    fclose(f);
}

static void expect_refused(const char *path, const char *json, size_t data_bytes, const char *needle)
{
    write_raw(path, json, data_bytes);
    dytcl_st_file *f = (dytcl_st_file *)&needle; /* must come back NULL */
    dytcl_status s = dytcl_st_load(path, &f);
    CHECK(s == DYTCL_ERR_FORMAT, "%s: got %s", json, dytcl_status_name(s));
    CHECK(f == NULL, "%s: a file handle came back", json);
    CHECK(strstr(dytcl_last_error(NULL), needle) != NULL, "%s: message '%s' lacks '%s'", json,
          dytcl_last_error(NULL), needle);
}

int main(void)
{
    char dir[] = "/tmp/dytcl-st-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);

    /* Round trip: three tensors of odd sizes, a scalar-like [1], metadata. */
    float a[3 * 7], b[1], c[5];
    unsigned long long rng = 7;
    for (int i = 0; i < 21; i++) a[i] = (float)check_rand(&rng, -1, 1);
    b[0] = 0.5f;
    for (int i = 0; i < 5; i++) c[i] = (float)i;
    dytcl_st_tensor t[3] = {
        {"blocks.0.attn.weight", 2, {3, 7}, 21, a, 0, DYTCL_F32, NULL},
        {"alpha", 1, {1}, 1, b, 0, DYTCL_F32, NULL},
        {"ln_f.bias", 1, {5}, 5, c, 0, DYTCL_F32, NULL},
    };
    const char *meta[] = {"config", "{\"arch\":\"llama\"}", "step", "42"};
    CHECK_OK(NULL, dytcl_st_save(path, t, 3, meta, 2));
    dytcl_st_file *f = NULL;
    CHECK_OK(NULL, dytcl_st_load(path, &f));
    if (f) {
        CHECK(dytcl_st_count(f) == 3, "count %d", dytcl_st_count(f));
        for (int i = 0; i < 3; i++) {
            dytcl_st_tensor g;
            CHECK_OK(NULL, dytcl_st_get(f, t[i].name, &g));
            CHECK(g.ndim == t[i].ndim && g.numel == t[i].numel, "%s: shape", t[i].name);
            CHECK(memcmp(g.data, t[i].data, t[i].numel * 4) == 0, "%s: data differs", t[i].name);
            for (int d = 0; d < g.ndim; d++) CHECK(g.shape[d] == t[i].shape[d], "%s dim %d", t[i].name, d);
        }
        CHECK(!strcmp(dytcl_st_metadata(f, "step"), "42"), "metadata step");
        CHECK(dytcl_st_metadata(f, "nope") == NULL, "missing metadata key");
        dytcl_st_tensor g;
        CHECK(dytcl_st_get(f, "missing", &g) == DYTCL_ERR_FORMAT, "missing tensor");
        CHECK(dytcl_st_tensor_at(f, 3, &g) == DYTCL_ERR_INVALID_ARG, "index past the end");
        dytcl_st_free(f);
    }
    /* Repeated names are refused when saving; the old file stays. */
    dytcl_st_tensor dup[2] = {t[1], t[1]};
    CHECK(dytcl_st_save(path, dup, 2, NULL, 0) == DYTCL_ERR_INVALID_ARG, "duplicate names saved");
    CHECK_OK(NULL, dytcl_st_load(path, &f));
    CHECK(f && dytcl_st_count(f) == 3, "the previous file was damaged");
    dytcl_st_free(f);
    /* A finite value past F16's range (65504) or BF16's would be stored as an
     * infinity: refused, naming the tensor, and the old file stays. */
    float wide[4] = {1.0f, -65504.0f, 65520.0f, 0.0f}, big[2] = {3.0e38f, 3.4e38f};
    dytcl_st_tensor narrow[2] = {{"h.0.w", 1, {4}, 4, wide, 0, DYTCL_F16, NULL}, {"h.1.w", 1, {2}, 2, big, 0, DYTCL_BF16, NULL}};
    CHECK(dytcl_st_save(path, narrow, 1, NULL, 0) == DYTCL_ERR_INVALID_ARG &&
              strstr(dytcl_last_error(NULL), "h.0.w") && strstr(dytcl_last_error(NULL), "F16"),
          "65520 saved as F16: %s", dytcl_last_error(NULL));
    CHECK(dytcl_st_save(path, narrow + 1, 1, NULL, 0) == DYTCL_ERR_INVALID_ARG &&
              strstr(dytcl_last_error(NULL), "element 1"), "3.4e38 saved as BF16: %s", dytcl_last_error(NULL));
    CHECK_OK(NULL, dytcl_st_load(path, &f));
    CHECK(f && dytcl_st_count(f) == 3, "the previous file was damaged");
    dytcl_st_free(f);
    wide[2] = 65504.0f, big[1] = -3.0e38f;
    char narrow_path[300];
    snprintf(narrow_path, sizeof narrow_path, "%s/narrow.safetensors", dir);
    CHECK_OK(NULL, dytcl_st_save(narrow_path, narrow, 2, NULL, 0));
    remove(narrow_path);
    /* An unwritable place: an I/O error, nothing left behind. */
    CHECK(dytcl_st_save("/nonexistent-dir/x.safetensors", t, 3, NULL, 0) == DYTCL_ERR_IO, "unwritable");

    /* Truncation at every length refuses cleanly. */
    FILE *fp = fopen(path, "rb");
    unsigned char whole[4096];
    size_t size = fread(whole, 1, sizeof whole, fp);
    fclose(fp);
    int refused = 0;
    for (size_t len = 0; len < size; len++) {
        dytcl_st_file *g = NULL;
        if (dytcl_st_parse(whole, len, &g) == DYTCL_ERR_FORMAT && g == NULL) refused++;
        dytcl_st_free(g);
    }
    CHECK(refused == (int)size, "%d of %zu truncations refused", refused, size);

    /* Hostile headers. */
    expect_refused(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "outside the file");
    expect_refused(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "do not match");
    expect_refused(path, "{\"x\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "only F32, F16, BF16 and I8");
    expect_refused(path, "{\"x\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "only F32, F16, BF16 and I8");
    /* I8 (q8 quants) is read as stored: one byte a value, the size checked as any */
    expect_refused(path, "{\"x\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2, "do not match");
    expect_refused(path, "{\"x\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "dtype F16");
    expect_refused(path, "{\"x\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,4]}}", 4, "dtype BF16");
    expect_refused(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "bad shape");
    expect_refused(path,
                   "{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4,
                   "bad shape");
    expect_refused(path,
                   "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlaps");
    expect_refused(path, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "gap");
    expect_refused(path, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12, "after the last");
    expect_refused(path, "[1,2,3]", 0, "not a JSON object");
    expect_refused(path, "{\"a\":", 0, "not a JSON object");
    expect_refused(path, "{\"__metadata__\":{\"k\":3}}", 0, "not a string");
    expect_refused(path, "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "lacks dtype");
    expect_refused(path, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "not a JSON object");
    /* A header length larger than the file. */
    unsigned char huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'};
    dytcl_st_file *g = NULL;
    CHECK(dytcl_st_parse(huge, sizeof huge, &g) == DYTCL_ERR_FORMAT, "huge header length");
    CHECK(strstr(dytcl_last_error(NULL), "does not fit") != NULL, "message: %s", dytcl_last_error(NULL));
    CHECK(dytcl_st_load("/nonexistent.safetensors", &g) == DYTCL_ERR_IO, "missing file");

    /* The header is read and checked before the data: a 4 GiB sparse file
     * whose header says 4 bytes of data is refused at once (reading it whole
     * first took 12.6 s and 4 GiB of memory), and the clock and the process's
     * peak size say that nothing past the header was read. */
    {
        FILE *sf = fopen(path, "wb");
        const char *json = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        unsigned char len[8] = {(unsigned char)strlen(json)};
        CHECK(sf && fwrite(len, 1, 8, sf) == 8 && fwrite(json, 1, strlen(json), sf) == strlen(json), "write");
        if (sf) fclose(sf);
        CHECK(truncate(path, (off_t)4 << 30) == 0, "truncate to 4 GiB");
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        CHECK(dytcl_st_load(path, &g) == DYTCL_ERR_FORMAT && g == NULL, "a 4 GiB file with 4 bytes of tensors");
        clock_gettime(CLOCK_MONOTONIC, &t1);
        CHECK(strstr(dytcl_last_error(NULL), "after the last") != NULL, "message: %s", dytcl_last_error(NULL));
        double s = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
        CHECK(s < 1.0, "refusing the 4 GiB file took %.2f s: was it read?", s);
        struct rusage ru;
        CHECK(getrusage(RUSAGE_SELF, &ru) == 0 && ru.ru_maxrss < 1024 * 1024, "peak size %ld KiB", ru.ru_maxrss);
    }

    unlink(path);
    rmdir(dir);
    return check_done("test_safetensors");
}
