/* test_memory.c -- no allocation reaches the driver that the device, or the
 * process, cannot hold: under an address-space limit (ulimit -v) a buffer or
 * a model that does not fit is refused with its sizes, where PoCL would
 * otherwise abort at the buffer's first use; what fits still works. */
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>

#include "check.h"
#include "dytcl_model.h"

#if defined(__SANITIZE_ADDRESS__)
#define DY_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DY_ASAN 1
#endif
#endif

int main(void)
{
    dytcl_ctx *ctx = check_ctx(NULL);
    uint64_t room = 0, room2 = 0;
    char why[96];
    CHECK(dytcl_ctx_memory_room(NULL, &room, why, sizeof why) == DYTCL_ERR_INVALID_ARG, "NULL ctx");
    CHECK(dytcl_ctx_memory_room(ctx, NULL, why, sizeof why) == DYTCL_ERR_INVALID_ARG, "NULL bytes");
    CHECK_OK(ctx, dytcl_ctx_memory_room(ctx, &room, NULL, 0));
    CHECK(room > 0, "no room at all on a fresh context");

    /* A buffer backed at creation works. (How much room it takes is checked
     * under the address-space limit below: the machine's free memory, which
     * bounds the room otherwise, moves with every other process.) */
    dytcl_buf *b = NULL;
    CHECK_OK(ctx, dytcl_buf_create(ctx, (size_t)64 << 20, &b));
    CHECK_OK(ctx, dytcl_ctx_memory_room(ctx, &room2, why, sizeof why));
    float x = 0;
    CHECK_OK(ctx, dytcl_fill(ctx, dytcl_tensor_1d(b, 1000, 1), 3.5f));
    CHECK_OK(ctx, dytcl_buf_read(ctx, b, 1000 * sizeof(float), &x, sizeof x));
    CHECK(x == 3.5f, "a buffer backed at creation works: read %g", x);
    dytcl_buf_free(b);

#ifndef DY_ASAN
    dytcl_device_info d;
    CHECK_OK(ctx, dytcl_ctx_device(ctx, &d));
    struct rlimit old;
    if (d.is_cpu && getrlimit(RLIMIT_AS, &old) == 0) {
        /* The limit: what is mapped now + 768 MiB (256 of it the driver's margin). */
        CHECK_OK(ctx, dytcl_ctx_memory_room(ctx, &room, why, sizeof why));
        struct rlimit rl = old;
        FILE *f = fopen("/proc/self/statm", "r");
        unsigned long long pages = 0;
        if (f) {
            if (fscanf(f, "%llu", &pages) != 1) pages = 0;
            fclose(f);
        }
        rl.rlim_cur = (rlim_t)(pages * 4096ull + (768ull << 20));
        if (pages && (old.rlim_cur == RLIM_INFINITY || rl.rlim_cur < old.rlim_cur) && setrlimit(RLIMIT_AS, &rl) == 0) {
            CHECK_OK(ctx, dytcl_ctx_memory_room(ctx, &room, why, sizeof why));
            CHECK(room < ((uint64_t)600 << 20) && strstr(why, "address-space"), "room %llu by %s",
                  (unsigned long long)room, why);
            /* A buffer past the limit: refused, naming the sizes, not aborted. */
            dytcl_status s = dytcl_buf_create(ctx, (size_t)room + ((size_t)1 << 20), &b);
            CHECK(s == DYTCL_ERR_DEVICE_MEMORY && b == NULL, "too large: %s", dytcl_status_name(s));
            CHECK(strstr(dytcl_last_error(ctx), "MiB") && strstr(dytcl_last_error(ctx), "ulimit -v"),
                  "message: %s", dytcl_last_error(ctx));
            /* Several that fit one by one but not together: the later ones are refused. */
            dytcl_buf *parts[8] = {0};
            int made = 0, refused = 0;
            for (int i = 0; i < 8; i++) {
                s = dytcl_buf_create(ctx, (size_t)128 << 20, &parts[i]);
                made += s == DYTCL_OK;
                refused += s == DYTCL_ERR_DEVICE_MEMORY;
            }
            CHECK(made >= 2 && made <= 5 && refused == 8 - made, "128 MiB x 8 under the limit: %d made, %d refused",
                  made, refused);
            for (int i = 0; i < 8; i++) {
                if (parts[i]) CHECK_OK(ctx, dytcl_fill(ctx, dytcl_tensor_1d(parts[i], 0, 32 << 20), 1.0f));
                dytcl_buf_free(parts[i]);
            }
            CHECK_OK(ctx, dytcl_finish(ctx));
            /* A model past the limit: refused before anything is allocated. */
            dytcl_model_config c;
            memset(&c, 0, sizeof c);
            c.arch = DYTCL_ARCH_LLAMA;
            c.norm = DYTCL_NORM_DYT;
            c.vocab = 256;
            c.max_seq = 64;
            c.n_layer = 8;
            c.n_head = 8;
            c.d_model = 1024;
            dytcl_model_config_defaults(&c);
            dytcl_model *m = NULL;
            s = dytcl_model_create(ctx, &c, 1, &m);
            CHECK(s == DYTCL_ERR_DEVICE_MEMORY && m == NULL, "model past the limit: %s", dytcl_status_name(s));
            CHECK(strstr(dytcl_last_error(ctx), "MiB in all"), "message: %s", dytcl_last_error(ctx));
            setrlimit(RLIMIT_AS, &old);
        } else {
            printf("test_memory: could not lower RLIMIT_AS; the limit checks are skipped\n");
        }
    }
#endif
    dytcl_ctx_free(ctx);
    return check_done("test_memory");
}
