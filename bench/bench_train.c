/* bench_train.c -- `dytcl bench train`: one model shape with DyT, RMSNorm
 * and LayerNorm as its norms, the same everything else:
 *   - training: tokens/s of a whole step (forward, backward, clipping,
 *     AdamW, one host read), wall clock, median of --steps steps after a
 *     warm-up;
 *   - the share of the step's device time spent in norm layers (forward and
 *     backward, residual adds fused in where the norm has a fused kernel),
 *     from a separate step with each norm call timed by profiling events;
 *   - generation: tokens/s decoding one token at a time with the KV cache
 *     (DyT folded into the next linear layers, as dytcl generate runs), and
 *     its bandwidth limit: copy bandwidth (bench_host_copy_gbps, measured
 *     before each norm) / the bytes of weights a token reads;
 *   - with --peer, the same model, step and decoding in PyTorch
 *     (bench/peers/train_peer.py), eager and torch.compile, at 1 and 2
 *     threads (--peer-modes, --peer-threads; DYTCL_PEER_THREADS where
 *     --peer-threads is not given): per norm and peer, a dytcl run and then
 *     the peer's, on the same CPU, and the ratios dytcl / PyTorch; only where
 *     `python3 -c "import torch"` works (DYTCL_PYTHON names another Python). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "dytcl_model.h"
#include "dytcl_model_experimental.h"

typedef bench_train_opts opts;

typedef struct {
    double step_ms, train_tok_s, norm_share, step_device_ms, norm_ms, gen_tok_s;
    double step_min_ms, cpu_ms;     /* the fastest step; the process's CPU time per step (all threads) */
    json_t *steps;                  /* every timed step's ms */
    double weight_bytes; /* read per generated token: every weight but the embedding table */
} result;

/* The process's CPU time (every thread) in ms: the work a step does, apart
 * from the time it waited for a CPU on a shared machine. */
static double cpu_ms(void)
{
    struct timespec t;
    return clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t) ? 0 : t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* One training step on fixed random tokens; returns non-zero on failure. */
static int step(dytcl_model *m, const int32_t *tok, const int32_t *tgt, int n)
{
    dytcl_model_optim o = {.lr = 1e-4f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f,
                           .clip = 1.0f};
    float loss, gn;
    return dytcl_model_zero_grad(m) || dytcl_model_forward(m, tok, tgt) || dytcl_model_backward(m, 1.0f) ||
           dytcl_model_step(m, &o, n) || dytcl_model_step_stats(m, &loss, 1, &gn);
}

static int measure(dytcl_ctx *ctx, const opts *o, dytcl_norm_kind norm, result *r, char *err, size_t cap)
{
    dytcl_model_config c = {0};
    c.arch = o->arch, c.norm = norm, c.max_seq = o->seq, c.n_layer = o->layers, c.n_head = o->heads;
    c.d_model = o->dim;
    dytcl_model_config_defaults(&c);
    r->weight_bytes = 4.0 * ((double)dytcl_model_param_count(&c) - (double)c.vocab * c.d_model);
    dytcl_model *m = NULL;
    if (dytcl_model_create(ctx, &c, 1, &m)) return bench_fail(err, cap, "%s", dytcl_last_error(ctx));
    size_t BT = (size_t)o->batch * o->seq;
    int32_t *tok = malloc(BT * sizeof *tok), *tgt = malloc(BT * sizeof *tgt);
    double *ms = malloc(sizeof(double) * (size_t)o->steps);
    int rc = 1;
    uint64_t seed = 12345;
    for (size_t i = 0; i < BT; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        tok[i] = (int32_t)(seed >> 56), tgt[i] = (int32_t)((seed >> 48) & 255);
    }
    if (dytcl_model_set_batch(m, o->batch, o->seq)) goto fail;
    /* warm-up: compiles kernels for these shapes */
    for (int i = 1; i <= 2; i++)
        if (step(m, tok, tgt, i)) goto fail;
    const double c0 = cpu_ms();
    r->steps = json_array();
    r->step_min_ms = 0;
    for (int i = 0; i < o->steps; i++) {
        double t0 = dytcl_now_ms();
        if (step(m, tok, tgt, 3 + i)) goto fail;
        ms[i] = dytcl_now_ms() - t0;
        json_array_append_new(r->steps, json_real(ms[i]));
        if (!i || ms[i] < r->step_min_ms) r->step_min_ms = ms[i];
    }
    r->cpu_ms = (cpu_ms() - c0) / o->steps;
    r->step_ms = bench_median(ms, o->steps);
    r->train_tok_s = BT / (r->step_ms / 1e3);
    /* device time of a step, then of its norm layers */
    double ns = 0;
    if (dytcl_profile_begin(ctx) || step(m, tok, tgt, 100) || dytcl_profile_end(ctx, &ns)) goto fail;
    r->step_device_ms = ns / 1e6;
    dytcl_model_profile_norms(m, 1);
    dytcl_model_norm_ns(m);
    if (step(m, tok, tgt, 101)) goto fail;
    r->norm_ms = dytcl_model_norm_ns(m) / 1e6;
    dytcl_model_profile_norms(m, 0);
    r->norm_share = r->norm_ms / r->step_device_ms;
    /* generation: prompt of 8 tokens, then o->gen single-token steps */
    dytcl_model *g = m;
    if ((norm == DYTCL_NORM_DYT || norm == DYTCL_NORM_DERF) && dytcl_model_fold(m, &g)) goto fail;
    float *logits = malloc(sizeof(float) * (size_t)c.vocab);
    int n = o->gen < o->seq - 8 ? o->gen : o->seq - 8;
    double t0 = 0;
    int bad = dytcl_model_decode_begin(g) || dytcl_model_decode(g, tok, 8, 0, logits);
    for (int i = 0; !bad && i < n; i++) {
        if (i == 1) t0 = dytcl_now_ms(); /* the first step compiles for T = 1 */
        bad = dytcl_model_decode(g, tok + 8 + i, 1, 8 + i, logits);
    }
    r->gen_tok_s = n > 1 ? (n - 1) / ((dytcl_now_ms() - t0) / 1e3) : 0;
    free(logits);
    if (bad) {
        bench_fail(err, cap, "generation: %s", dytcl_last_error(dytcl_model_ctx(g)));
        if (g != m) dytcl_model_free(g);
        goto done;
    }
    if (g != m) dytcl_model_free(g);
    rc = 0;
    goto done;
fail:
    bench_fail(err, cap, "%s", dytcl_last_error(ctx));
done:
    free(tok), free(tgt), free(ms);
    dytcl_model_free(m);
    return rc;
}

/* ------------------------------------------------------------ the PyTorch peer */

#ifndef DYTCL_PEER_SCRIPT
#define DYTCL_PEER_SCRIPT "bench/peers/train_peer.py"
#endif

static const char *peer_python(void)
{
    const char *py = getenv("DYTCL_PYTHON");
    return py && *py ? py : "python3";
}

/* 1 when the Python interpreter imports torch. */
static int peer_available(void)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import torch' >/dev/null 2>&1", peer_python());
    return system(cmd) == 0;
}

/* One PyTorch configuration: eager or compiled, at some threads. */
typedef struct {
    int compile, threads; /* threads 0: the peer's default, one per CPU */
} peer_kind;

#define MAX_PEERS 16

/* --peer-modes and --peer-threads into kinds (every mode at every thread
 * count); the count, or -1 with the reason in err. */
static int peer_kinds(const opts *o, peer_kind *kinds, char *err, size_t cap)
{
    const char *modes = o->peer_modes ? o->peer_modes : "eager,compile";
    const char *threads = o->peer_threads;
    if (!threads) threads = getenv("DYTCL_PEER_THREADS");
    if (!threads || !*threads) threads = "1,2";
    int nm = 0, nt = 0, mode[2], th[8];
    for (const char *p = modes; *p;) {
        size_t n = strcspn(p, ",");
        int m = n == 5 && !strncmp(p, "eager", 5) ? 0 : n == 7 && !strncmp(p, "compile", 7) ? 1 : -1;
        for (int i = 0; i < nm; i++)
            if (mode[i] == m) m = -1;
        if (m < 0 || nm == 2) return bench_fail(err, cap, "--peer-modes: \"%s\" is not a list of eager, compile", modes), -1;
        mode[nm++] = m;
        p += n + (p[n] == ',');
    }
    for (const char *p = threads; *p;) {
        char *end;
        long t = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',') || t < 0 || t > 1024 || nt == 8)
            return bench_fail(err, cap, "--peer-threads: \"%s\" is not a list of thread counts (0: one per CPU)",
                              threads), -1;
        th[nt++] = (int)t;
        p = *end ? end + 1 : end;
    }
    if (!nm || !nt) return bench_fail(err, cap, "--peer-modes and --peer-threads need at least one value"), -1;
    int k = 0;
    for (int i = 0; i < nm; i++)
        for (int j = 0; j < nt; j++) kinds[k++] = (peer_kind){mode[i], th[j]};
    return k;
}

/* Runs the peer for one norm; returns its JSON object (NULL on failure). */
static json_t *peer_run(const opts *o, dytcl_norm_kind norm, peer_kind kind)
{
    const char *script = getenv("DYTCL_PEER_SCRIPT");
    if (!script || !*script) script = DYTCL_PEER_SCRIPT;
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "'%s' '%s' --norm %s --layers %d --dim %d --heads %d --batch %d --seq %d --steps %d --gen %d "
             "--threads %d%s",
             peer_python(), script, dytcl_norm_kind_name(norm), o->layers, o->dim, o->heads, o->batch, o->seq, o->steps,
             o->gen, kind.threads, kind.compile ? " --compile" : "");
    FILE *f = popen(cmd, "r");
    if (!f) return NULL;
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    int rc = pclose(f);
    json_error_t e;
    json_t *j = rc == 0 ? json_loads(buf, 0, &e) : NULL;
    if (!j) fprintf(stderr, "bench train: the peer failed (exit %d): %s\n", rc, cmd);
    return j;
}

int bench_train(const bench_train_opts *opt, char *err, size_t cap)
{
    opts o = *opt;
    if (o.seq < 10) return bench_fail(err, cap, "seq must be at least 10");
    if (o.peer && o.arch != DYTCL_ARCH_LLAMA) return bench_fail(err, cap, "the PyTorch peer is llama only");
    dytcl_ctx *ctx = NULL;
    if (dytcl_ctx_create(NULL, &ctx)) return bench_fail(err, cap, "%s", dytcl_last_error(NULL));
    dytcl_device_info dev;
    dytcl_ctx_device(ctx, &dev);
    printf("device: %s; %s, %d layers, d_model %d, %d heads, %d x %d tokens per step\n", dev.name,
           dytcl_arch_name(o.arch), o.layers, o.dim, o.heads, o.batch, o.seq);
    dytcl_gemm_path_t gp = DYTCL_GEMM_AUTO;
    dytcl_gemm_path(ctx, &gp);
    printf("GEMM: %s\n", dytcl_gemm_path_name(gp));
    peer_kind kinds[MAX_PEERS];
    int nkinds = 1;
    if (o.peer && (nkinds = peer_kinds(&o, kinds, err, cap)) < 0) return dytcl_ctx_free(ctx), 1;
    if (o.peer && !peer_available()) {
        printf("peer: skipped (%s cannot import torch)\n", peer_python());
        o.peer = 0, nkinds = 1;
    }
    printf("\n%-10s %10s %12s %14s %12s %12s %10s", "norm", "step ms", "train tok/s", "norm share", "norm ms",
           "gen tok/s", "of limit");
    if (o.peer)
        printf(" | %-12s %12s %12s %10s %10s %10s %10s", "peer", "torch step", "torch gen", "train x", "best x", "cpu x",
               "gen x");
    printf("\n");
    json_t *records = json_array();
    const dytcl_norm_kind norms[] = {DYTCL_NORM_DYT, DYTCL_NORM_RMSNORM, DYTCL_NORM_LAYERNORM};
    int rc = 0;
    for (int i = 0; i < 3 && !rc; i++) {
        if (o.norm && strcmp(o.norm, dytcl_norm_kind_name(norms[i]))) continue;
        for (int k = 0; k < nkinds && !rc; k++) { /* with peers: dytcl, then each peer, one after the other */
            result r = {0};
            double copy_gbps = 0;
            if (bench_host_copy_gbps(ctx, &copy_gbps)) copy_gbps = 0;
            if ((rc = measure(ctx, &o, norms[i], &r, err, cap))) {
                json_decref(r.steps);
                break;
            }
            const double limit = copy_gbps * 1e9 / r.weight_bytes;
            printf("%-10s %10.2f %12.0f %13.1f%% %12.3f %12.1f %9.2f", dytcl_norm_kind_name(norms[i]), r.step_ms,
                   r.train_tok_s, 100 * r.norm_share, r.norm_ms, r.gen_tok_s, limit > 0 ? r.gen_tok_s / limit : 0);
            fflush(stdout);
            json_t *rec = json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:f}", "arch",
                                    dytcl_arch_name(o.arch), "norm", dytcl_norm_kind_name(norms[i]), "layers", o.layers,
                                    "dim", o.dim, "heads", o.heads, "batch", o.batch, "seq", o.seq, "step_ms", r.step_ms,
                                    "train_tokens_per_s", r.train_tok_s, "step_device_ms", r.step_device_ms, "norm_ms",
                                    r.norm_ms, "norm_share", r.norm_share, "generate_tokens_per_s", r.gen_tok_s);
            json_object_set_new(rec, "step_ms_min", json_real(r.step_min_ms));
            json_object_set_new(rec, "step_ms_all", r.steps);
            json_object_set_new(rec, "cpu_ms_per_step", json_real(r.cpu_ms));
            json_object_set_new(rec, "copy_gbps", json_real(copy_gbps));
            json_object_set_new(rec, "weight_bytes_per_token", json_real(r.weight_bytes));
            json_object_set_new(rec, "generate_limit_tokens_per_s", json_real(limit));
            json_object_set_new(rec, "generate_of_limit", json_real(limit > 0 ? r.gen_tok_s / limit : 0));
            json_t *peer = o.peer ? peer_run(&o, norms[i], kinds[k]) : NULL;
            if (peer) {
                const double ps = json_number_value(json_object_get(peer, "step_ms"));
                const double pg = json_number_value(json_object_get(peer, "generate_tokens_per_s"));
                const double pmin = json_number_value(json_object_get(peer, "step_ms_min"));
                const double pcpu = json_number_value(json_object_get(peer, "cpu_ms_per_step"));
                const double tx = r.step_ms > 0 ? ps / r.step_ms : 0, gx = pg > 0 ? r.gen_tok_s / pg : 0;
                const double bx = r.step_min_ms > 0 ? pmin / r.step_min_ms : 0, cx = r.cpu_ms > 0 ? pcpu / r.cpu_ms : 0;
                char name[32];
                snprintf(name, sizeof name, "%s %dt", kinds[k].compile ? "compile" : "eager",
                         (int)json_integer_value(json_object_get(peer, "threads")));
                printf(" | %-12s %12.2f %12.1f %9.2fx %9.2fx %9.2fx %9.2fx", name, ps, pg, tx, bx, cx, gx);
                json_object_set_new(rec, "peer", peer);
                json_object_set_new(rec, "train_vs_peer", json_real(tx));
                json_object_set_new(rec, "train_vs_peer_best", json_real(bx));
                json_object_set_new(rec, "train_cpu_vs_peer", json_real(cx));
                json_object_set_new(rec, "generate_vs_peer", json_real(gx));
            } else if (o.peer) {
                printf(" | %-12s (failed)", kinds[k].compile ? "compile" : "eager");
            }
            printf("\n");
            fflush(stdout);
            json_array_append_new(records, rec);
        }
    }
    printf("(step: wall clock, median; norm share: device time of the norm layers / of the whole step;\n"
           " of limit: gen tok/s / (copy bandwidth / bytes of weights read per token))\n");
    if (o.peer)
        printf("(train x, gen x: dytcl's tokens/s / PyTorch's, measured one after the other; best x: the same\n"
               " from each one's fastest step; cpu x: PyTorch's CPU time per step (all threads) / dytcl's, what\n"
               " a step costs apart from waiting for a CPU; compile: the training step's model through\n"
               " torch.compile, decoding eager)\n");
    if (!rc && o.json) {
        json_t *d = bench_device_json(ctx, &dev);
        rc = bench_write_json(o.json, d, records, err, cap);
        json_decref(d);
    }
    json_decref(records);
    dytcl_ctx_free(ctx);
    return rc;
}
