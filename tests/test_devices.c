/* test_devices.c -- enumeration, selection by index/name, and bad selections. */
#include <stdlib.h>
#include <string.h>

#include "check.h"

int main(void)
{
    dytcl_device_info list[16];
    int n = -1;
    CHECK_OK(NULL, dytcl_devices(list, 16, &n));
    CHECK(n >= 1, "expected at least one device, got %d", n);
    for (int i = 0; i < n && i < 16; i++) {
        const dytcl_device_info *d = &list[i];
        printf("device %d: %s / %s\n", i, d->platform, d->name);
        CHECK(d->index == i, "index %d at position %d", d->index, i);
        CHECK(d->name[0] && d->platform[0], "device %d has no name", i);
        CHECK(d->compute_units >= 1, "device %d: %u compute units", i, d->compute_units);
        CHECK(d->global_mem > 0 && d->max_alloc > 0 && d->max_alloc <= d->global_mem,
              "device %d: global %llu, max alloc %llu", i, (unsigned long long)d->global_mem,
              (unsigned long long)d->max_alloc);
        CHECK(d->max_work_group >= 1, "device %d: max work-group %zu", i, d->max_work_group);
        CHECK(strstr(d->c_version, "OpenCL C") != NULL, "device %d: C version '%s'", i, d->c_version);
    }

    /* Counting only. */
    int n2 = -1;
    CHECK_OK(NULL, dytcl_devices(NULL, 0, &n2));
    CHECK(n2 == n, "count without a list %d != %d", n2, n);
    CHECK(dytcl_devices(NULL, 3, &n2) == DYTCL_ERR_INVALID_ARG, "NULL list with cap 3 accepted");
    CHECK(dytcl_devices(list, 16, NULL) == DYTCL_ERR_INVALID_ARG, "NULL count accepted");

    /* Selection by index and by a case-changed name substring. */
    dytcl_ctx *ctx = NULL;
    dytcl_ctx_options opt = {.device = "0", .no_cache = 1};
    CHECK_OK(NULL, dytcl_ctx_create(&opt, &ctx));
    dytcl_device_info got;
    if (ctx) {
        CHECK_OK(ctx, dytcl_ctx_device(ctx, &got));
        CHECK(got.index == 0, "index 0 selected device %d", got.index);
        dytcl_ctx_free(ctx);
    }
    char sub[8] = {0};
    for (int i = 0; i < 4 && list[0].name[i]; i++) {
        char c = list[0].name[i];
        sub[i] = (c >= 'a' && c <= 'z') ? (char)(c - 32) : (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    opt.device = sub;
    CHECK_OK(NULL, dytcl_ctx_create(&opt, &ctx));
    if (ctx) {
        dytcl_ctx_device(ctx, &got);
        CHECK(got.index == 0, "name \"%s\" selected device %d", sub, got.index);
        dytcl_ctx_free(ctx);
    }

    /* A device that does not exist: a clear error, no context, the list in the message. */
    opt.device = "no-such-device-xyz";
    ctx = (dytcl_ctx *)&opt; /* must be overwritten with NULL */
    dytcl_status s = dytcl_ctx_create(&opt, &ctx);
    CHECK(s == DYTCL_ERR_NO_DEVICE, "bad name gave %s", dytcl_status_name(s));
    CHECK(ctx == NULL, "a failed create left a context");
    CHECK(strstr(dytcl_last_error(NULL), "no-such-device-xyz") != NULL, "message: %s", dytcl_last_error(NULL));
    CHECK(strstr(dytcl_last_error(NULL), list[0].name) != NULL, "message lists no devices: %s",
          dytcl_last_error(NULL));
    printf("bad name message: %s\n", dytcl_last_error(NULL));

    opt.device = "99";
    s = dytcl_ctx_create(&opt, &ctx);
    CHECK(s == DYTCL_ERR_NO_DEVICE, "index 99 gave %s", dytcl_status_name(s));
    CHECK(strstr(dytcl_last_error(NULL), "index 99") != NULL, "message: %s", dytcl_last_error(NULL));

    /* The environment variable is read when the option is empty. */
    setenv("DYTCL_DEVICE", "definitely-not-a-device", 1);
    s = dytcl_ctx_create(NULL, &ctx);
    CHECK(s == DYTCL_ERR_NO_DEVICE, "bad DYTCL_DEVICE gave %s", dytcl_status_name(s));
    CHECK(strstr(dytcl_last_error(NULL), "DYTCL_DEVICE") != NULL, "message: %s", dytcl_last_error(NULL));
    unsetenv("DYTCL_DEVICE");
    return check_done("test_devices");
}
