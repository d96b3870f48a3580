/* test_checkpoint.c -- checkpoint metadata has no length limit: a dytcl_model
 * saved with more than 4 KB of the caller's keys (so that the "keys" list
 * alone is longer than 4 KB) and one value of 10 KB reads back every pair,
 * and the config (rope_theta included) comes back exactly. Then the
 * parameters round-trip bit for bit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dytcl_model.h"

#define NKEYS 200
#define LONG_VALUE 10000

int main(void)
{
    dytcl_ctx *ctx = NULL;
    if (dytcl_ctx_create(NULL, &ctx)) {
        fprintf(stderr, "test_checkpoint: %s\n", dytcl_last_error(NULL));
        return 1;
    }
    dytcl_model_config c = {.arch = DYTCL_ARCH_LLAMA, .norm = DYTCL_NORM_DYT, .vocab = 11, .max_seq = 6, .n_layer = 1,
                      .n_head = 2, .d_model = 8, .rope_theta = 5000};
    dytcl_model_config_defaults(&c);
    char path[] = "test_checkpoint.safetensors";
    dytcl_model *m = NULL;
    CHECK(dytcl_model_create(ctx, &c, 7, &m) == DYTCL_OK, "dytcl_model_create: %s", dytcl_last_error(ctx));
    if (!m) return check_done("test_checkpoint");

    /* 200 keys of ~25 characters: a key list of ~5 KB */
    dytcl_meta md = {0};
    char key[64], value[64], *big = malloc(LONG_VALUE + 1);
    for (int i = 0; i < NKEYS; i++) {
        snprintf(key, sizeof key, "user.option_number_%04d", i);
        snprintf(value, sizeof value, "value %d", i * 31);
        CHECK(dytcl_meta_set(&md, key, value) == DYTCL_OK, "dytcl_meta_set %s", key);
    }
    for (int i = 0; i < LONG_VALUE; i++) big[i] = (char)('a' + i % 26);
    big[LONG_VALUE] = '\0';
    CHECK(dytcl_meta_set(&md, "long", big) == 0, "dytcl_meta_set long");
    CHECK(dytcl_meta_set(&md, "user.option_number_0003", "replaced") == 0, "replace");
    CHECK(md.n == NKEYS + 1, "%d pairs, expected %d", md.n, NKEYS + 1);
    CHECK(dytcl_model_save(m, path, 1, &md) == DYTCL_OK, "dytcl_model_save: %s", dytcl_last_error(ctx));

    /* the file's own key list is longer than 4 KB */
    dytcl_st_file *f = NULL;
    CHECK_OK(NULL, dytcl_st_load(path, &f));
    const char *keys = f ? dytcl_st_metadata(f, "keys") : NULL;
    CHECK(keys && strlen(keys) > 4096, "the key list has %zu bytes, expected > 4096", keys ? strlen(keys) : 0);
    CHECK(keys && strstr(keys, "rope_theta"), "rope_theta is not in the key list");
    dytcl_st_free(f);

    /* every pair back, through dytcl_model_read_config and through dytcl_model_load */
    for (int way = 0; way < 2; way++) {
        dytcl_meta back = {0};
        dytcl_model_config rc = {0};
        dytcl_model *m2 = NULL;
        int has_opt = 0;
        if (way == 0) CHECK(dytcl_model_read_config(path, &rc, &back) == DYTCL_OK, "read: %s", dytcl_last_error(NULL));
        else CHECK(dytcl_model_load(ctx, path, &back, &has_opt, &m2) == DYTCL_OK, "load: %s", dytcl_last_error(ctx));
        if (m2) rc = *dytcl_model_get_config(m2);
        for (int i = 0; i < NKEYS; i++) {
            snprintf(key, sizeof key, "user.option_number_%04d", i);
            snprintf(value, sizeof value, "value %d", i * 31);
            const char *v = dytcl_meta_get(&back, key), *want = i == 3 ? "replaced" : value;
            CHECK(v && !strcmp(v, want), "%s = %s, expected %s", key, v ? v : "(missing)", want);
        }
        const char *l = dytcl_meta_get(&back, "long");
        CHECK(l && !strcmp(l, big), "the 10 KB value came back %s", l ? "changed" : "missing");
        const char *theta = dytcl_meta_get(&back, "rope_theta");
        CHECK(theta && !strcmp(theta, "5000"), "rope_theta = %s", theta ? theta : "(missing)");
        CHECK(!memcmp(&rc, &c, sizeof c), "the config changed in the round trip");
        if (m2) {
            size_t n = dytcl_model_param_count(&c);
            float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
            CHECK(has_opt, "the optimiser state was not found");
            CHECK(dytcl_model_read_params(m, a) == DYTCL_OK && dytcl_model_read_params(m2, b) == DYTCL_OK,
                  "read params");
            CHECK(!memcmp(a, b, n * sizeof *a), "the parameters changed in the round trip");
            free(a), free(b);
        }
        dytcl_model_free(m2);
        dytcl_meta_clear(&back);
        CHECK(back.n == 0 && !back.key, "dytcl_meta_clear leaves an empty set");
    }
    remove(path);
    free(big);
    dytcl_meta_clear(&md);
    dytcl_model_free(m);
    dytcl_ctx_free(ctx);
    return check_done("test_checkpoint");
}
