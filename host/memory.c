/* memory.c -- how much a context may still allocate: the one gate in front
 * of every buffer (dytcl_buf_create) and of the models' up-front totals.
 *
 * A GPU driver refuses an allocation it cannot back with an error code. A
 * CPU driver whose buffers live in host memory may not: PoCL takes the pages
 * when a buffer is first used, and aborts the process when malloc fails
 * there. So on such a device every buffer is backed with pages as it is
 * created (dytcl_buf_create fills it), which makes the process's own figures
 * (what it has mapped, what the machine has available) count every buffer
 * the context holds, and each new buffer is checked against what is left.
 */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "internal.h"

/* Room kept free on a host-memory device for the driver's own use (its
 * threads, compiling kernels) after the last buffer. */
#define DY_HOST_MARGIN ((uint64_t)256 << 20)

int dy_host_memory(dytcl_ctx *ctx)
{
    if (!ctx->host_memory_known) {
        cl_bool unified = CL_FALSE;
        if (clGetDeviceInfo(ctx->device, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified, &unified, NULL) != CL_SUCCESS)
            unified = CL_FALSE;
        ctx->host_memory = ctx->info.is_cpu || unified == CL_TRUE;
        ctx->host_memory_known = 1;
    }
    return ctx->host_memory;
}

/* MemAvailable from /proc/meminfo in bytes; UINT64_MAX when unknown. */
static uint64_t mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return UINT64_MAX;
    char line[256];
    unsigned long long kb = 0;
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = sscanf(line, "MemAvailable: %llu kB", &kb) == 1;
    fclose(f);
    return found && kb < UINT64_MAX / 1024 ? (uint64_t)kb * 1024 : UINT64_MAX;
}

/* The address space the process may still map: RLIMIT_AS less what is
 * mapped (/proc/self/statm); UINT64_MAX when there is no limit. */
static uint64_t address_space_left(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return UINT64_MAX;
    unsigned long long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%llu", &pages) != 1) pages = 0;
        fclose(f);
    }
    long page = sysconf(_SC_PAGESIZE);
    uint64_t mapped = (uint64_t)pages * (uint64_t)(page > 0 ? page : 4096);
    return (uint64_t)rl.rlim_cur > mapped ? (uint64_t)rl.rlim_cur - mapped : 0;
}

static void say(char *why, size_t cap, const char *text)
{
    if (why && cap) snprintf(why, cap, "%s", text);
}

dytcl_status dytcl_ctx_memory_room(dytcl_ctx *ctx, uint64_t *bytes, char *why, size_t cap)
{
    DY_CHECK_CTX(ctx);
    if (!bytes) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "dytcl_ctx_memory_room: bytes is NULL");
    const uint64_t global = ctx->info.global_mem;
    uint64_t room = global > ctx->allocated ? global - ctx->allocated : 0;
    say(why, cap, "the device's global memory (CL_DEVICE_GLOBAL_MEM_SIZE)");
    if (dy_host_memory(ctx)) {
        uint64_t as = address_space_left(), avail = mem_available();
        as = as > DY_HOST_MARGIN ? as - DY_HOST_MARGIN : 0;
        avail = avail > DY_HOST_MARGIN ? avail - DY_HOST_MARGIN : 0;
        if (as < room) {
            room = as;
            say(why, cap, "the process's address-space limit (ulimit -v) less what it has mapped");
        }
        if (avail < room) {
            room = avail;
            say(why, cap, "the machine's available memory (MemAvailable)");
        }
    }
    *bytes = room;
    return DYTCL_OK;
}
