/* test_half.c -- the host's half-width conversions (host/half.c) and
 * safetensors files of F16 and BF16 tensors. No device.
 *
 *   widening: every one of the 65536 bit patterns of each format widens to a
 *     float that rounds back to the same bits (NaN to a NaN);
 *   rounding: for floats across the formats' ranges (f16 subnormals, the
 *     overflow at 65504, bf16 near FLT_MAX), the result is a nearest
 *     representable value, ties to the even pattern, checked in float64
 *     against both neighbours;
 *   files: F16 / BF16 tensors written, read back as the rounded floats, with
 *     the format's dtype strings and 2-byte little-endian data. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static const dytcl_dtype halves[2] = {DYTCL_F16, DYTCL_BF16};

/* The float of pattern h; NaN for NaN patterns. */
static double widened(uint16_t h, dytcl_dtype dt)
{
    return (double)dytcl_half_to_float(h, dt);
}

/* The reference rounding, by search: the non-negative patterns 0 .. inf are
 * increasing in value; |x| lies between two of them, and the nearer wins (on
 * a tie the even pattern). inf counts as the next step past the largest
 * finite value (65536 for f16, 2^128 for bf16), as IEEE rounding has it. */
static uint16_t reference_round(float x, dytcl_dtype dt)
{
    const uint16_t inf = dt == DYTCL_F16 ? 0x7c00 : 0x7f80, sign = signbit(x) ? 0x8000 : 0;
    const double ax = fabs((double)x), top = dt == DYTCL_F16 ? 65536.0 : ldexp(1.0, 128);
    if (isnan(x)) return 0x7fff;
    uint16_t lo = 0, hi = inf; /* value(lo) <= ax < value(hi), value(inf) = top */
    if (ax >= top) return sign | inf;
    while (hi - lo > 1) {
        const uint16_t mid = (uint16_t)((lo + hi) / 2);
        if (widened(mid, dt) <= ax) lo = mid;
        else hi = mid;
    }
    const double vlo = widened(lo, dt), vhi = hi == inf ? top : widened(hi, dt);
    const double dlo = ax - vlo, dhi = vhi - ax;
    return sign | (dlo < dhi || (dlo == dhi && !(lo & 1)) ? lo : hi);
}

static void conversions(void)
{
    for (int k = 0; k < 2; k++) {
        const dytcl_dtype dt = halves[k];
        int bad = 0;
        for (uint32_t h = 0; h < 65536; h++) {
            const float x = dytcl_half_to_float((uint16_t)h, dt);
            const uint16_t back = dytcl_half_from_float(x, dt);
            if (isnan(x) ? !isnan(widened(back, dt)) : back != h) bad++;
        }
        CHECK(bad == 0, "%s: %d of 65536 patterns do not survive widening and rounding", dytcl_dtype_name(dt), bad);
        /* random floats at every scale the format has, and beyond */
        unsigned long long rng = 11 + (unsigned)k;
        bad = 0;
        for (int i = 0; i < 400000; i++) {
            const double e = check_rand(&rng, dt == DYTCL_F16 ? -28 : -130, dt == DYTCL_F16 ? 17 : 128);
            const float x = (float)(ldexp(check_rand(&rng, 1, 2), (int)floor(e)) * (i & 1 ? -1 : 1));
            const uint16_t h = dytcl_half_from_float(x, dt), want = reference_round(x, dt);
            if (h != want && bad++ < 5)
                fprintf(stderr, "%s: %.9g -> 0x%04x, the nearest even is 0x%04x\n", dytcl_dtype_name(dt), (double)x, h,
                        want);
        }
        CHECK(bad == 0, "%s: %d of 400000 random floats not rounded to nearest even", dytcl_dtype_name(dt), bad);
    }
    /* values at the edges, by hand */
    struct {
        dytcl_dtype dt;
        float x;
        uint16_t h;
    } cases[] = {
        {DYTCL_F16, 65504.0f, 0x7bff},  {DYTCL_F16, 65519.0f, 0x7bff},  {DYTCL_F16, 65520.0f, 0x7c00},
        {DYTCL_F16, -1e6f, 0xfc00},     {DYTCL_F16, INFINITY, 0x7c00},  {DYTCL_F16, 0x1p-24f, 0x0001},
        {DYTCL_F16, 0x1p-25f, 0x0000},  {DYTCL_F16, 0x1.8p-24f, 0x0002}, {DYTCL_F16, 0x1p-14f, 0x0400},
        {DYTCL_F16, 0x1.ffcp-15f, 0x0400}, {DYTCL_F16, 1.0f + 0x1p-11f, 0x3c00}, {DYTCL_F16, 1.0f + 0x3p-11f, 0x3c02},
        {DYTCL_F16, -0.0f, 0x8000},     {DYTCL_BF16, 1.0f + 0x1p-8f, 0x3f80}, {DYTCL_BF16, 1.0f + 0x3p-8f, 0x3f82},
        {DYTCL_BF16, 3.0e38f, 0x7f62},  {DYTCL_BF16, 3.4028235e38f, 0x7f80}, {DYTCL_BF16, 1e-40f, 0x0001},
        {DYTCL_BF16, -2.0f, 0xc000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uint16_t h = dytcl_half_from_float(cases[i].x, cases[i].dt);
        CHECK(h == cases[i].h, "%s(%a) = 0x%04x, expected 0x%04x", dytcl_dtype_name(cases[i].dt), (double)cases[i].x, h,
              cases[i].h);
    }
    CHECK(isnan(dytcl_half_to_float(dytcl_half_from_float(NAN, DYTCL_F16), DYTCL_F16)), "f16 NaN");
    CHECK(isnan(dytcl_half_to_float(dytcl_half_from_float(NAN, DYTCL_BF16), DYTCL_BF16)), "bf16 NaN");
    CHECK(dytcl_half_to_float(0x0001, DYTCL_F16) == 0x1p-24f, "smallest f16 subnormal");
    CHECK(dytcl_half_to_float(0x7bff, DYTCL_F16) == 65504.0f, "largest f16");
    CHECK(dytcl_half_to_float(0x3f80, DYTCL_BF16) == 1.0f, "bf16 1");
}

static void files(const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/half.safetensors", dir);
    enum { N = 37 };
    float a[N], b[3 * 5], c[2];
    unsigned long long rng = 3;
    for (int i = 0; i < N; i++) a[i] = (float)check_rand(&rng, -70000, 70000) * (i % 3 ? 1e-4f : 1.0f);
    for (int i = 0; i < 15; i++) b[i] = (float)check_rand(&rng, -3, 3);
    c[0] = 1e-7f, c[1] = -65504.0f;
    const dytcl_st_tensor t[3] = {
        {"a", 1, {N}, N, a, 0, DYTCL_F16, NULL},
        {"b", 2, {3, 5}, 15, b, 0, DYTCL_BF16, NULL},
        {"c", 1, {2}, 2, c, 0, DYTCL_F32, NULL},
    };
    CHECK_OK(NULL, dytcl_st_save(path, t, 3, NULL, 0));
    dytcl_st_file *f = NULL;
    CHECK_OK(NULL, dytcl_st_load(path, &f));
    for (int i = 0; f && i < 3; i++) {
        dytcl_st_tensor g;
        CHECK_OK(NULL, dytcl_st_get(f, t[i].name, &g));
        CHECK(g.dtype == t[i].dtype && g.numel == t[i].numel && g.ndim == t[i].ndim && g.bytes == t[i].numel * 4,
              "%s: dtype %s, %zu elements, %zu bytes", t[i].name, dytcl_dtype_name(g.dtype), g.numel, g.bytes);
        int bad = 0;
        for (size_t j = 0; j < g.numel; j++) {
            float want = t[i].data[j];
            if (t[i].dtype != DYTCL_F32) want = dytcl_half_to_float(dytcl_half_from_float(want, t[i].dtype), t[i].dtype);
            float got;
            memcpy(&got, (const char *)g.data + 4 * j, 4);
            bad += memcmp(&got, &want, 4) != 0;
        }
        CHECK(bad == 0, "%s: %d values differ from the rounded ones", t[i].name, bad);
    }
    dytcl_st_free(f);
    /* the bytes: the format's dtype strings and 2-byte elements, little-endian */
    FILE *fp = fopen(path, "rb");
    unsigned char whole[4096];
    size_t size = fp ? fread(whole, 1, sizeof whole, fp) : 0;
    if (fp) fclose(fp);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | whole[i];
    CHECK(size == 8 + hl + 2 * N + 2 * 15 + 4 * 2, "file size %zu, header %llu", size, (unsigned long long)hl);
    char head[1024] = "";
    memcpy(head, whole + 8, hl < sizeof head - 1 ? hl : sizeof head - 1);
    CHECK(strstr(head, "\"a\":{\"dtype\":\"F16\",\"shape\":[37],\"data_offsets\":[0,74]}") != NULL, "header: %s", head);
    CHECK(strstr(head, "\"b\":{\"dtype\":\"BF16\",\"shape\":[3,5],\"data_offsets\":[74,104]}") != NULL, "header: %s",
          head);
    const unsigned char *d = whole + 8 + hl;
    const uint16_t a0 = dytcl_half_from_float(a[0], DYTCL_F16), b0 = dytcl_half_from_float(b[0], DYTCL_BF16);
    CHECK(d[0] == (a0 & 0xff) && d[1] == a0 >> 8, "a[0] bytes %02x %02x, expected 0x%04x", d[0], d[1], a0);
    CHECK(d[74] == (b0 & 0xff) && d[75] == b0 >> 8, "b[0] bytes %02x %02x, expected 0x%04x", d[74], d[75], b0);
    /* a bad dtype on save is refused, the file kept */
    dytcl_st_tensor bad = t[0];
    bad.dtype = (dytcl_dtype)7;
    CHECK(dytcl_st_save(path, &bad, 1, NULL, 0) == DYTCL_ERR_INVALID_ARG, "dtype 7 saved");
    CHECK_OK(NULL, dytcl_st_load(path, &f));
    CHECK(f && dytcl_st_count(f) == 3, "the previous file was damaged");
    dytcl_st_free(f);
    unlink(path);
}

int main(void)
{
    conversions();
    char dir[] = "/tmp/dytcl-half-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    files(dir);
    rmdir(dir);
    return check_done("test_half");
}
