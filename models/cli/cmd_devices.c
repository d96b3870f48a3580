/* cmd_devices.c -- `dytcl devices`: every device, then a self-test of one. */
#include <stddef.h>
#include <stdio.h>

#include "cli.h"
#include "dytcl.h"
#include "opts.h"

typedef struct {
    const char *device;
    int no_selftest;
} devices_args;

static const opt_spec specs[] = {
    {"device", OPT_STR, offsetof(devices_args, device), "SPEC", .help = "the device to self-test: an index or a name substring", .def = "$DYTCL_DEVICE, else the first GPU, else the CPU"},
    {"no-selftest", OPT_SWITCH, offsetof(devices_args, no_selftest), .help = "only list the devices"},
};
static const opt_cmd devices_cmd = {
    "devices", "[options]",
    "Lists every OpenCL platform and device, then runs a kernel on the chosen\n"
    "device and checks its result.\n",
    NULL, specs, 2, 0, NULL};

static void print_device(const dytcl_device_info *d)
{
    printf("[%d] %s\n", d->index, d->name);
    printf("    platform      %s (%s)\n", d->platform, d->platform_version);
    printf("    type          %s, %u compute units, %u MHz\n",
           d->is_gpu ? "GPU" : d->is_cpu ? "CPU" : "other", d->compute_units, d->clock_mhz);
    printf("    memory        global %.2f GiB, max alloc %.2f GiB, local %llu KiB (%s)\n",
           d->global_mem / 1073741824.0, d->max_alloc / 1073741824.0,
           (unsigned long long)(d->local_mem / 1024), d->local_mem_is_scratchpad ? "on chip" : "in global memory");
    printf("    work-group    max %zu, preferred float vector %u\n", d->max_work_group,
           d->preferred_vector_float);
    printf("    features      fp16 %s, fp64 %s, subgroups %s; profiling timer resolution %llu ns\n",
           d->fp16 ? "yes" : "no", d->fp64 ? "yes" : "no", d->subgroups ? "yes" : "no",
           (unsigned long long)d->timer_resolution_ns);
    printf("    versions      %s; %s; driver %s\n", d->device_version, d->c_version, d->driver_version);
}

int cmd_devices(int argc, char **argv)
{
    devices_args a = {NULL, 0};
    int rc = opt_parse(&devices_cmd, argc, argv, &a, NULL);
    if (rc >= 0) return rc;
    const char *spec = a.device;
    const int selftest = !a.no_selftest;

    dytcl_device_info list[64];
    int n = 0;
    if (dytcl_devices(list, 64, &n) != DYTCL_OK) return cli_error("devices", 1, "%s", dytcl_last_error(NULL));
    for (int i = 0; i < n && i < 64; i++) print_device(&list[i]);
    if (!selftest) return 0;

    /* Start to first checked kernel result: what a program pays at start. */
    double t0 = dytcl_now_ms();
    dytcl_ctx *ctx = NULL;
    dytcl_ctx_options opt = {.device = spec};
    if (dytcl_ctx_create(&opt, &ctx) != DYTCL_OK)
        return cli_error("devices", 1, "%s", dytcl_last_error(NULL));
    dytcl_device_info d;
    dytcl_ctx_device(ctx, &d);
    dytcl_status s = dytcl_selftest(ctx);
    double ms = dytcl_now_ms() - t0;
    int code = 0;
    if (s != DYTCL_OK) {
        code = cli_error("devices", 1, "self-test on [%d] %s failed: %s: %s", d.index, d.name,
                         dytcl_status_name(s), dytcl_last_error(ctx));
    } else {
        dytcl_ctx_stats st;
        dytcl_ctx_get_stats(ctx, &st);
        printf("\nself-test on [%d] %s: ok (copy of 1000003 floats checked)\n", d.index, d.name);
        printf("start to first checked result: %.1f ms (programs: %d compiled, %d from cache; build %.1f ms)\n",
               ms, st.programs_compiled, st.programs_from_cache, st.build_ms);
        char desc[4096];
        if (dytcl_ctx_describe(ctx, desc, sizeof desc) == DYTCL_OK) printf("\non this device dytcl uses:\n%s\n", desc);
    }
    dytcl_ctx_free(ctx);
    return code;
}
