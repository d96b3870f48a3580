/* test_copy.c -- copy and fill round trips on random data, odd sizes and
 * offsets, with the destination poisoned beforehand; and the self-test. */
#include <math.h>
#include <string.h>

#include "check.h"

int main(void)
{
    dytcl_ctx *ctx = check_ctx(getenv("DYTCL_TEST_CACHE"));
    unsigned long long rng = 42;
    const int sizes[] = {1, 2, 3, 4, 5, 7, 255, 256, 257, 1023, 4097, 65537, 1 << 20};
    const int offsets[][2] = {{0, 0}, {1, 0}, {0, 3}, {5, 7}};

    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        for (size_t oi = 0; oi < 4; oi++) {
            int n = sizes[si], so = offsets[oi][0], dof = offsets[oi][1];
            if (check_small() && n > 5000) continue;
            int total = n + 16;
            float *src = malloc(sizeof(float) * total), *back = malloc(sizeof(float) * total);
            for (int i = 0; i < total; i++) src[i] = (float)check_rand(&rng, -1e3, 1e3);
            dytcl_buf *a = NULL, *b = NULL;
            CHECK_OK(ctx, dytcl_buf_create(ctx, sizeof(float) * total, &a));
            CHECK_OK(ctx, dytcl_buf_create(ctx, sizeof(float) * total, &b));
            CHECK_OK(ctx, dytcl_buf_write(ctx, a, 0, src, sizeof(float) * total));
            CHECK_OK(ctx, dytcl_fill(ctx, dytcl_tensor_1d(b, 0, total), NAN));
            CHECK_OK(ctx, dytcl_copy(ctx, dytcl_tensor_1d(b, dof, n), dytcl_tensor_1d(a, so, n)));
            CHECK_OK(ctx, dytcl_buf_read(ctx, b, 0, back, sizeof(float) * total));
            int bad = 0;
            for (int i = 0; i < total && bad < 3; i++) {
                int inside = i >= dof && i < dof + n;
                int ok = inside ? back[i] == src[i - dof + so] : isnan(back[i]);
                if (!ok) {
                    bad++;
                    CHECK(ok, "n=%d src_off=%d dst_off=%d: element %d is %g", n, so, dof, i, back[i]);
                }
            }
            dytcl_buf_free(a);
            dytcl_buf_free(b);
            free(src);
            free(back);
        }
    }

    /* fill over a 2-D view with an offset leaves the rest alone. */
    dytcl_buf *b = NULL;
    float host[3 * 7 + 2];
    for (int i = 0; i < 23; i++) host[i] = -1.0f;
    CHECK_OK(ctx, dytcl_buf_create(ctx, sizeof host, &b));
    CHECK_OK(ctx, dytcl_buf_write(ctx, b, 0, host, sizeof host));
    CHECK_OK(ctx, dytcl_fill(ctx, dytcl_tensor_2d(b, 1, 3, 7), 2.5f));
    CHECK_OK(ctx, dytcl_buf_read(ctx, b, 0, host, sizeof host));
    for (int i = 0; i < 23; i++) {
        float want = (i >= 1 && i < 22) ? 2.5f : -1.0f;
        CHECK(host[i] == want, "fill: element %d is %g, expected %g", i, host[i], want);
    }
    dytcl_buf_free(b);

    if (!check_small()) CHECK_OK(ctx, dytcl_selftest(ctx));
    dytcl_ctx_free(ctx);
    return check_done("test_copy");
}
