/* bench_decode_peer.c -- `dytcl bench decode --peer`: dytcl against
 * llama.cpp (PyPI's llama-cpp-python) on one model, in one run, interleaved.
 *
 * The model is a random llama-rmsnorm (llama.cpp has no DyT op, so DyT models
 * have no llama.cpp twin). Its norm weights are drawn around 1 and its q and
 * k rows scaled by 4, so that the attention is far from uniform and a wrong
 * q/k row order (RoPE pairs) or norm mapping changes the logits. Steps:
 *   1. save it as a checkpoint in a temporary directory, and decode a
 *      24-token prompt one token at a time with each weight dtype (f32, f16,
 *      and q8 where this build has it), keeping every position's logits;
 *   2. start bench/peers/llama_peer.py, which converts the checkpoint to GGUF
 *      once per type (bench/peers/to_gguf.py), loads it and checks its logits
 *      at every position against dytcl's, and refuses to be timed otherwise;
 *   3. rounds: per dtype, dytcl and llama.cpp one after the other (which goes
 *      first alternates), each prompt processing (a --prompt-token prompt in
 *      one call, from an empty cache, its last logits on the host) and
 *      generation (an 8-token prompt, then --tokens single-token steps, each
 *      step's logits on the host and the next token drawn from them).
 * Reported: medians of tokens/s and the median of each round's dytcl ÷
 * llama.cpp. Without Python, llama-cpp-python or gguf the peer is skipped
 * with a notice and dytcl runs alone. DYTCL_PEER_KEEP=1 keeps the temporary
 * directory (checkpoint, dytcl's logits, GGUF files) for a look afterwards. */
#define _GNU_SOURCE
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "dytcl_model.h"

extern char **environ;

#define NCHECK 24 /* tokens of the logits check */
#define MAXD 4

#ifndef DYTCL_PEER_SCRIPT
#define DYTCL_PEER_SCRIPT "bench/peers/train_peer.py"
#endif

typedef struct {
    dytcl_dtype dt;
    const char *gguf; /* llama.cpp's name of the same storage */
} dtype_case;

/* ------------------------------------------------------------ dytcl's side */

/* Norm weights around 1, q and k rows x 4 (see the top). */
static int perturb(dytcl_model *m)
{
    const dytcl_model_config *c = dytcl_model_get_config(m);
    const size_t n = dytcl_model_param_count(c);
    const int nt = dytcl_model_param_table(c, NULL, 0);
    float *p = malloc(n * sizeof *p);
    dytcl_model_tensor *tab = malloc((size_t)nt * sizeof *tab);
    int bad = !p || !tab || dytcl_model_read_params(m, p);
    uint64_t seed = 77;
    if (!bad) dytcl_model_param_table(c, tab, nt);
    for (int i = 0; i < nt && !bad; i++) {
        const dytcl_model_tensor *t = &tab[i];
        size_t len = strlen(t->name);
        if (t->is_norm && len > 7 && !strcmp(t->name + len - 7, ".weight"))
            for (size_t j = 0; j < t->numel; j++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                p[t->offset + j] = 0.8f + 0.4f * (float)(seed >> 40) / (float)(1u << 24);
            }
        else if (strstr(t->name, "attn.qkv.weight")) { /* q and k: the first 2C rows (fewer with GQA's k: some v too) */
            const size_t rows = t->shape[0] < 2 * c->d_model ? (size_t)t->shape[0] : (size_t)(2 * c->d_model);
            for (size_t j = 0; j < rows * (size_t)t->shape[1]; j++) p[t->offset + j] *= 4.0f;
        }
    }
    bad = bad || dytcl_model_write_params(m, p);
    free(p), free(tab);
    return bad;
}

/* Every position's logits of tokens [n], one token at a time, into out [n, V]. */
static int check_logits(dytcl_model *m, const int32_t *tokens, int n, float *out)
{
    const int V = dytcl_model_get_config(m)->vocab;
    if (dytcl_model_decode_begin(m)) return 1;
    for (int i = 0; i < n; i++)
        if (dytcl_model_decode(m, tokens + i, 1, i, out + (size_t)i * V)) return dytcl_model_decode_end(m), 1;
    dytcl_model_decode_end(m);
    return 0;
}

/* Prompt processing: tokens/s of one n-token call; < 0 on failure. */
static double dytcl_pp(dytcl_model *m, int n, int32_t *prompt, float *logits)
{
    if (dytcl_model_decode_begin(m)) return -1;
    const double t0 = dytcl_now_ms();
    if (dytcl_model_decode(m, prompt, n, 0, logits)) return dytcl_model_decode_end(m), -1;
    const double ms = dytcl_now_ms() - t0;
    dytcl_model_decode_end(m);
    return n / ms * 1e3;
}


/* ------------------------------------------------------------ the peer process */

typedef struct {
    pid_t pid;
    FILE *in, *out; /* its stdin, its stdout */
} peer;

static const char *python(void)
{
    const char *py = getenv("DYTCL_PYTHON");
    return py && *py ? py : "python3";
}

/* The script beside train_peer.py (DYTCL_PEER_SCRIPT), or $DYTCL_LLAMA_PEER_SCRIPT. */
static void script_path(char *out, size_t cap)
{
    const char *s = getenv("DYTCL_LLAMA_PEER_SCRIPT");
    if (s && *s) {
        snprintf(out, cap, "%s", s);
        return;
    }
    const char *train = DYTCL_PEER_SCRIPT, *slash = strrchr(train, '/');
    snprintf(out, cap, "%.*sllama_peer.py", slash ? (int)(slash - train + 1) : 0, train);
}

/* Starts argv[0] with pipes to its stdin and from its stdout. */
static int peer_start(peer *p, char *const argv[])
{
    int to[2], from[2];
    if (pipe(to)) return 1;
    if (pipe(from)) return close(to[0]), close(to[1]), 1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, to[0], 0);
    posix_spawn_file_actions_adddup2(&fa, from[1], 1);
    posix_spawn_file_actions_addclose(&fa, to[1]);
    posix_spawn_file_actions_addclose(&fa, from[0]);
    int rc = posix_spawnp(&p->pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(to[0]), close(from[1]);
    if (rc) return close(to[1]), close(from[0]), 1;
    p->in = fdopen(to[1], "w"), p->out = fdopen(from[0], "r");
    return !p->in || !p->out;
}

/* One JSON line from the peer (NULL when it ended or wrote something else). */
static json_t *peer_read(peer *p)
{
    char line[1 << 15];
    if (!fgets(line, sizeof line, p->out)) return NULL;
    json_error_t e;
    return json_loads(line, 0, &e);
}

/* Sends "what type n"; returns the tokens/s answered, or < 0. */
static double peer_rate(peer *p, const char *what, const char *type, int n)
{
    if (fprintf(p->in, "%s %s %d\n", what, type, n) < 0 || fflush(p->in)) return -1;
    json_t *j = peer_read(p);
    double r = j && json_is_number(json_object_get(j, "tok_s")) ? json_number_value(json_object_get(j, "tok_s")) : -1;
    if (j && r < 0) fprintf(stderr, "bench decode: the peer: %s\n", json_string_value(json_object_get(j, "error")));
    json_decref(j);
    return r;
}

static void peer_stop(peer *p)
{
    if (p->in) fprintf(p->in, "quit\n"), fclose(p->in);
    if (p->out) fclose(p->out);
    if (p->pid > 0) waitpid(p->pid, NULL, 0);
    *p = (peer){0};
}

/* ------------------------------------------------------------ the run */

int bench_decode_peer(const bench_decode_peer_opts *o, char *err, size_t cap)
{
    const int rounds = o->rounds < 64 ? o->rounds : 64, P = o->prompt, N = o->tokens;
    dytcl_model_config c = {0};
    c.arch = DYTCL_ARCH_LLAMA, c.norm = DYTCL_NORM_RMSNORM, c.n_layer = o->layers, c.n_head = o->heads;
    c.d_model = o->dim;
    c.max_seq = P > 8 + N ? P : 8 + N;
    if (c.max_seq < NCHECK) c.max_seq = NCHECK;
    dytcl_model_config_defaults(&c);
    dytcl_ctx *ctx = NULL;
    dytcl_model *m = NULL;
    float *logits = NULL, *ref = NULL;
    int32_t *prompt = NULL;
    char dir[] = "/tmp/dytcl-peer-XXXXXX", path[4][600];
    int made_dir = 0, nfiles = 0, rc = 1, have_peer = 0;
    peer pr = {0};
    json_t *records = json_array(), *checks = NULL;
    void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN); /* a peer that dies is an error, not a signal */
    if (dytcl_ctx_create(NULL, &ctx)) {
        bench_fail(err, cap, "%s", dytcl_last_error(NULL));
        goto done;
    }
    dytcl_device_info dev;
    dytcl_ctx_device(ctx, &dev);
    if (dytcl_model_create(ctx, &c, 1, &m) || perturb(m)) {
        bench_fail(err, cap, "%s", dytcl_last_error(ctx));
        goto done;
    }
    /* the dtypes: f32, f16, and q8 where this build has a dtype of that name */
    dtype_case dts[MAXD] = {{DYTCL_F32, "f32"}, {DYTCL_F16, "f16"}};
    int nd = 2;
    for (int d = 0; d < 16; d++)
        if (!strcmp(dytcl_dtype_name((dytcl_dtype)d), "q8")) dts[nd++] = (dtype_case){(dytcl_dtype)d, "q8_0"};
    const size_t V = (size_t)c.vocab;
    logits = malloc(V * sizeof *logits), ref = malloc(NCHECK * V * sizeof *ref);
    prompt = malloc((size_t)(P > NCHECK ? P : NCHECK) * sizeof *prompt);
    if (!logits || !ref || !prompt) {
        bench_fail(err, cap, "out of memory");
        goto done;
    }
    for (int i = 0; i < (P > NCHECK ? P : NCHECK); i++) prompt[i] = (int32_t)((7 * i + 3) % c.vocab);
    const double weights = (double)dytcl_model_param_count(&c) - (double)c.vocab * c.d_model;
    printf("decode vs llama.cpp: llama-rmsnorm d_model %d, %d layers, %d heads, %.1fM linear weights; prompt %d "
           "tokens, generation %d tokens; %d rounds, interleaved; device %s\n",
           c.d_model, c.n_layer, c.n_head, weights / 1e6, P, N, rounds, dev.name);
    if (nd == 2) printf("q8: skipped (this build has no q8 weights)\n");

    /* 1. the checkpoint and dytcl's logits per dtype */
    char tokens[NCHECK * 8] = "", refs[4 * 640] = "", types[64] = "";
    for (int i = 0; i < NCHECK; i++)
        snprintf(tokens + strlen(tokens), sizeof tokens - strlen(tokens), "%s%d", i ? "," : "", (int)prompt[i]);
    if (!mkdtemp(dir)) {
        bench_fail(err, cap, "cannot make a temporary directory in /tmp");
        goto done;
    }
    made_dir = 1;
    snprintf(path[nfiles++], sizeof path[0], "%s/model.safetensors", dir);
    if (dytcl_model_save(m, path[0], 0, NULL)) {
        bench_fail(err, cap, "%s", dytcl_last_error(ctx));
        goto done;
    }
    for (int k = 0; k < nd; k++) {
        snprintf(path[nfiles], sizeof path[0], "%s/ref-%s.f32", dir, dts[k].gguf);
        FILE *f = NULL;
        if (k >= 2 && dytcl_model_set_weight_dtype(m, dts[k].dt)) { /* q8 where the model refuses it */
            printf("%s: skipped (%s)\n", dytcl_dtype_name(dts[k].dt), dytcl_last_error(ctx));
            nd = k;
            break;
        }
        if (dytcl_model_set_weight_dtype(m, dts[k].dt) || check_logits(m, prompt, NCHECK, ref) ||
            !(f = fopen(path[nfiles], "wb")) || fwrite(ref, sizeof *ref, NCHECK * V, f) != NCHECK * V) {
            if (f) fclose(f);
            bench_fail(err, cap, "logits with %s weights: %s", dytcl_dtype_name(dts[k].dt), dytcl_last_error(ctx));
            goto done;
        }
        fclose(f);
        snprintf(refs + strlen(refs), sizeof refs - strlen(refs), "%s%s=%s", k ? "," : "", dts[k].gguf, path[nfiles]);
        snprintf(types + strlen(types), sizeof types - strlen(types), "%s%s", k ? "," : "", dts[k].gguf);
        nfiles++;
    }

    /* 2. the peer: converts, loads, checks */
    char cmd[1400], script[1024], threads[16], nctx[16];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import llama_cpp, gguf' >/dev/null 2>&1", python());
    if (system(cmd) != 0) {
        printf("llama.cpp: skipped (%s cannot import llama_cpp and gguf: pip install llama-cpp-python gguf)\n",
               python());
    } else {
        script_path(script, sizeof script);
        snprintf(threads, sizeof threads, "%d", o->peer_threads);
        snprintf(nctx, sizeof nctx, "%d", c.max_seq);
        char *argv[] = {(char *)python(), script, "--checkpoint", path[0], "--workdir", dir, "--tokens", tokens,
                        "--ref", refs, "--types", types, "--threads", threads, "--ctx", nctx, NULL};
        json_t *ready = NULL;
        if (peer_start(&pr, argv) || !(ready = peer_read(&pr))) {
            printf("llama.cpp: skipped (the peer did not start: %s %s)\n", python(), script);
        } else {
            checks = json_incref(json_object_get(ready, "checks"));
            const char *key;
            json_t *v;
            json_object_foreach(checks, key, v)
            printf("logits check %-5s llama.cpp vs dytcl, %d positions: max |diff| %.3g, max |logit| %.3g, "
                   "relative %.2g (tolerance %.0e; as timed, flash attention on: %.2g): %s\n",
                   key, NCHECK, json_number_value(json_object_get(v, "max_abs")),
                   json_number_value(json_object_get(v, "max_ref")), json_number_value(json_object_get(v, "rel")),
                   json_number_value(json_object_get(v, "tol")),
                   json_number_value(json_object_get(json_object_get(v, "timed"), "rel")),
                   json_is_true(json_object_get(v, "ok")) ? "ok" : "DIFFERENT");
            if (json_is_true(json_object_get(ready, "ready"))) {
                have_peer = 1;
                printf("llama.cpp: llama-cpp-python %s, %d threads; %s\n",
                       json_string_value(json_object_get(ready, "llama_cpp")),
                       (int)json_integer_value(json_object_get(ready, "threads")),
                       json_string_value(json_object_get(ready, "system")));
                size_t ni;
                json_t *note;
                json_array_foreach(json_object_get(ready, "notes"), ni, note)
                printf("llama.cpp: %s\n", json_string_value(note));
            } else {
                printf("llama.cpp: not timed (%s)\n", json_string_value(json_object_get(ready, "error")));
            }
        }
        json_decref(ready);
    }
    if (!have_peer) peer_stop(&pr);

    /* 3. warm-up (kernels compiled for both shapes), then the rounds */
    static double rate[MAXD][2][2][64], ratio[MAXD][2][64]; /* [dtype][pp, tg][dytcl, peer][round] */
    const char *what[2] = {"pp", "tg"};
    const int len[2] = {P, N};
    for (int r = -1; r < rounds; r++)
        for (int k = 0; k < nd; k++) {
            if (dytcl_model_set_weight_dtype(m, dts[k].dt)) {
                bench_fail(err, cap, "%s", dytcl_last_error(ctx));
                goto done;
            }
            for (int w = 0; w < 2; w++)
                for (int s = 0; s < 2; s++) {
                    const int who = (r & 1) ? 1 - s : s; /* alternate who goes first */
                    double x;
                    if (who == 1 && !have_peer) continue;
                    if (who == 0) x = w == 0 ? dytcl_pp(m, P, prompt, logits) : bench_decode_rate(m, N, logits);
                    else x = peer_rate(&pr, what[w], dts[k].gguf, len[w]);
                    if (x < 0) {
                        bench_fail(err, cap, "%s with %s weights: %s", who ? "llama.cpp" : "dytcl",
                                   dytcl_dtype_name(dts[k].dt), who ? "the peer failed" : dytcl_last_error(ctx));
                        goto done;
                    }
                    if (r >= 0) rate[k][w][who][r] = x;
                }
        }
    printf("\n%-6s %-8s %14s %16s %18s\n", "dtype", "case", "dytcl tok/s", "llama.cpp tok/s", "dytcl / llama.cpp");
    for (int k = 0; k < nd; k++)
        for (int w = 0; w < 2; w++) {
            double med[2] = {0, 0}, rat = 0;
            char name[16];
            snprintf(name, sizeof name, "%s%d", what[w], len[w]);
            if (have_peer) {
                for (int r = 0; r < rounds; r++) ratio[k][w][r] = rate[k][w][0][r] / rate[k][w][1][r];
                rat = bench_median(ratio[k][w], rounds);
                med[1] = bench_median(rate[k][w][1], rounds);
            }
            med[0] = bench_median(rate[k][w][0], rounds);
            if (have_peer)
                printf("%-6s %-8s %14.1f %16.1f %17.2fx\n", dytcl_dtype_name(dts[k].dt), name, med[0], med[1], rat);
            else
                printf("%-6s %-8s %14.1f %16s %18s\n", dytcl_dtype_name(dts[k].dt), name, med[0], "-", "-");
            json_t *rec = json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:f}", "dtype", dytcl_dtype_name(dts[k].dt),
                                    "case", what[w], "tokens", len[w], "dim", c.d_model, "layers", c.n_layer,
                                    "heads", c.n_head, "dytcl_tokens_per_s", med[0]);
            if (have_peer) {
                json_object_set_new(rec, "llama_cpp_tokens_per_s", json_real(med[1]));
                json_object_set_new(rec, "dytcl_vs_llama_cpp", json_real(rat));
            }
            json_array_append_new(records, rec);
        }
    printf("(medians over the rounds; dytcl / llama.cpp: the median of each round's ratio of tokens/s, > 1: dytcl "
           "faster;\n pp: one call of the whole prompt from an empty cache; tg: single-token steps after 8 tokens)\n");
    rc = 0;
    if (o->json) {
        json_t *d = bench_device_json(ctx, &dev);
        if (checks) json_object_set(d, "llama_cpp_checks", checks);
        rc = bench_write_json(o->json, d, records, err, cap);
        json_decref(d);
    }
done:
    peer_stop(&pr);
    signal(SIGPIPE, old_pipe);
    json_decref(records), json_decref(checks);
    if (made_dir && getenv("DYTCL_PEER_KEEP") && *getenv("DYTCL_PEER_KEEP")) {
        fprintf(stderr, "bench decode: kept %s (DYTCL_PEER_KEEP)\n", dir);
    } else if (made_dir) { /* the checkpoint, the logits, the GGUF files */
        static const char *const gg[] = {"f32", "f16", "q8_0"};
        for (int i = 0; i < nfiles; i++) unlink(path[i]);
        for (int i = 0; i < 3; i++) {
            char g[600];
            snprintf(g, sizeof g, "%s/model-%s.gguf", dir, gg[i]);
            unlink(g);
        }
        rmdir(dir);
    }
    free(logits), free(ref), free(prompt);
    dytcl_model_free(m);
    dytcl_ctx_free(ctx);
    return rc;
}
