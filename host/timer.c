/* timer.c -- profiling spans, and the check that decides whether the
 * device's profiling events can be believed (else the host clock). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

double dytcl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void release_events(dytcl_ctx *ctx)
{
    for (int i = 0; i < ctx->nevents; i++) clReleaseEvent(ctx->events[i]);
    ctx->nevents = 0;
}

/* The events' span: first start to last end. */
static dytcl_status events_span(dytcl_ctx *ctx, double *ns)
{
    cl_ulong first = ~(cl_ulong)0, last = 0;
    for (int i = 0; i < ctx->nevents; i++) {
        cl_ulong a = 0, b = 0;
        cl_int err = clGetEventProfilingInfo(ctx->events[i], CL_PROFILING_COMMAND_START, sizeof a, &a, NULL);
        if (err == CL_SUCCESS)
            err = clGetEventProfilingInfo(ctx->events[i], CL_PROFILING_COMMAND_END, sizeof b, &b, NULL);
        if (err != CL_SUCCESS) return dy_cl_fail(ctx, err, "clGetEventProfilingInfo");
        if (a < first) first = a;
        if (b > last) last = b;
    }
    *ns = ctx->nevents > 0 && last > first ? (double)(last - first) : 0;
    return DYTCL_OK;
}

/* n fills of `elems` floats, timed by events and by the host clock. */
static dytcl_status time_fills(dytcl_ctx *ctx, dytcl_buf *b, size_t elems, int n, double *ev_ns, double *host_ns)
{
    dytcl_status s = dytcl_finish(ctx);
    release_events(ctx);
    ctx->profiling = 1;
    double t0 = dytcl_now_ms();
    for (int i = 0; i < n && !s; i++) s = dytcl_fill(ctx, dytcl_tensor_1d(b, 0, (int64_t)elems), (float)i);
    if (!s) s = dytcl_finish(ctx);
    *host_ns = (dytcl_now_ms() - t0) * 1e6;
    ctx->profiling = 0;
    if (!s) s = events_span(ctx, ev_ns);
    release_events(ctx);
    return s;
}

static dytcl_status timer_run_check(dytcl_ctx *ctx)
{
    dytcl_timer_info *t = &ctx->timer;
    const char *force = getenv("DYTCL_TIMER");
    if (force && (!strcmp(force, "host") || !strcmp(force, "events"))) {
        t->host = force[0] == 'h';
        snprintf(t->reason, sizeof t->reason, "DYTCL_TIMER=%s", force);
        return DYTCL_OK;
    }
    /* A batch long enough for the host clock to see (>= 2 ms): fills of
     * 4 MiB, doubled up to 64 MiB or a quarter of the largest allocation. */
    size_t cap = (size_t)(ctx->info.max_alloc / 4 / sizeof(float)), max_elems = (size_t)1 << 24;
    if (max_elems > cap) max_elems = cap > 0 ? cap : 1;
    size_t elems = (size_t)1 << 20;
    if (elems > max_elems) elems = max_elems;
    double ev = 0, host = 0;
    dytcl_status s = DYTCL_OK;
    for (;;) {
        dytcl_buf *b = NULL;
        if ((s = dytcl_buf_create(ctx, elems * sizeof(float), &b))) break;
        s = time_fills(ctx, b, elems, 2, &ev, &host); /* warm: compiles, touches the pages */
        if (!s) s = time_fills(ctx, b, elems, 8, &ev, &host);
        dytcl_buf_free(b);
        if (s || host >= 2e6 || elems * 2 > max_elems) break;
        elems *= 2;
    }
    if (s) return s;
    t->events_ns = ev, t->host_ns = host;
    const int ok = ev >= 0.3 * host && ev <= 1.05 * host + 5e5;
    t->host = !ok;
    if (ok)
        snprintf(t->reason, sizeof t->reason, "profiling events (8 fills: %.3f ms by events, %.3f ms by the host)",
                 ev / 1e6, host / 1e6);
    else
        snprintf(t->reason, sizeof t->reason,
                 "host clock: the driver's profiling events are implausible (8 fills of %zu floats: %.6f ms by "
                 "events, %.3f ms by the host)",
                 elems, ev / 1e6, host / 1e6);
    return DYTCL_OK;
}

dytcl_status dytcl_timer_check(dytcl_ctx *ctx, dytcl_timer_info *out)
{
    DY_CHECK_CTX(ctx);
    if (ctx->profiling)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "dytcl_timer_check inside a profiling span");
    if (!ctx->timer_checked) {
        dytcl_status s = timer_run_check(ctx);
        if (s) return s;
        ctx->timer_checked = 1;
        ctx->timer_host = ctx->timer.host;
    }
    if (out) *out = ctx->timer;
    return DYTCL_OK;
}

const char *dytcl_timer_name(dytcl_ctx *ctx)
{
    if (!ctx) return "events";
    if (!ctx->timer_checked && !ctx->profiling) dytcl_timer_check(ctx, NULL);
    return ctx->timer_host ? "host" : "events";
}

dytcl_status dytcl_profile_begin(dytcl_ctx *ctx)
{
    DY_CHECK_CTX(ctx);
    ctx->profiling = 0; /* a begin inside a span starts it again */
    dytcl_status s = dytcl_timer_check(ctx, NULL);
    if (s) return s;
    release_events(ctx);
    if (ctx->timer_host) { /* the span starts when earlier work is done */
        if ((s = dytcl_finish(ctx))) return s;
        ctx->span_t0_ms = dytcl_now_ms();
    }
    ctx->profiling = 1;
    return DYTCL_OK;
}

dytcl_status dytcl_profile_end(dytcl_ctx *ctx, double *ns)
{
    DY_CHECK_CTX(ctx);
    if (!ns) return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "dytcl_profile_end: ns is NULL");
    *ns = 0;
    if (!ctx->profiling)
        return dy_fail(ctx, DYTCL_ERR_INVALID_ARG, "dytcl_profile_end without dytcl_profile_begin");
    ctx->profiling = 0;
    dytcl_status s = dytcl_finish(ctx);
    if (!s && ctx->timer_host) *ns = (dytcl_now_ms() - ctx->span_t0_ms) * 1e6;
    else if (!s) s = events_span(ctx, ns);
    release_events(ctx);
    return s;
}
