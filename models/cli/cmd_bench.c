/* cmd_bench.c -- `dytcl bench <what>`: the options of the benchmarks in
 * bench/, parsed here; bench/ measures, prints its table and returns a
 * status and a message. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "opts.h"
#include "outputs.h"

#define BIG 1e9

/* --json FILE and --png FILE: claimed before measuring, not after it
 * (outputs.h); the benchmark writes them in their staging directories, and
 * they are renamed into place when it succeeded. */
typedef struct {
    outs s;
    out_file *json, *png;
} bench_outs;

static int claim_outputs(bench_outs *b, const char *cmd, const char **json, const char **png)
{
    outs_init(&b->s, cmd, 0);
    b->json = outs_add(&b->s, "--json", json ? *json : NULL, output_is_json, "JSON");
    b->png = outs_add(&b->s, "--png", png ? *png : NULL, output_is_png, "a PNG");
    if (outs_claim(&b->s)) return 1;
    if ((b->json && !(*json = out_stage(b->json))) || (b->png && !(*png = out_stage(b->png)))) {
        outs_release(&b->s);
        return 1;
    }
    return 0;
}

/* The benchmark's status, its outputs renamed into place when it is 0. */
static int commit_outputs(bench_outs *b, int rc)
{
    if (rc == 0 && ((b->json && out_commit(b->json)) || (b->png && out_commit(b->png)))) rc = 3; /* reported */
    outs_release(&b->s);
    return rc == 3 ? 1 : rc;
}

/* ---- bench norms */

typedef struct {
    bench_norms_opts b;
    const char *dtypes, *shape;
} norms_args;

static const opt_spec norms_specs[] = {
#define F(f) offsetof(norms_args, f)
    {"quick", OPT_SWITCH, F(b.quick), .help = "rows {1, 512, 4096} x C 4096, 7 rounds, 3 protocol rounds"},
    {"reps", OPT_INT, F(b.reps), "N", 1, 10000, .help = "interleaved rounds per shape"},
    {"iters", OPT_INT, F(b.iters), "N", 0, 100000, .help = "rounds of the LLaMA-7B protocol (0: skip it)"},
    {"json", OPT_STR, F(b.json), "FILE", .help = "the records as JSON", .output = 1},
    {"png", OPT_STR, F(b.png), "FILE", .help = "GB/s against rows at C = 4096, drawn with gnuplot", .output = 1},
    {"device", OPT_STR, F(b.device), "SPEC", .help = "device index or name substring"},
    {"only", OPT_STR, F(b.only), "OP[/PASS],...", .help = "just these cases (e.g. dyt,rmsnorm/fwd) beside copy"},
    {"shape", OPT_STR, F(shape), "ROWSxC", .help = "just this shape (e.g. 4096x4096), at most 2^28 elements"},
    {"dtype", OPT_STR, F(dtypes), "T[,T...]", .help = "the activations' storage, f32, f16, bf16, each once"},
#undef F
};
static const opt_cmd norms_cmd = {
    "bench norms", "[options]",
    "Times DyT, Derf, RMSNorm, LayerNorm (forward, backward, fused with the\n"
    "residual add) at rows x C in {1,16,512,4096,16384} x {768,4096} against a copy\n"
    "kernel in the same run, then all 65 norm layers of LLaMA-7B (4096 x 4096)\n"
    "for --iters rounds of forward and forward+backward. Cases are measured\n"
    "interleaved over --reps rounds; with several dtypes every case runs in each,\n"
    "with its time over f32's.\n",
    NULL, norms_specs, (int)(sizeof norms_specs / sizeof norms_specs[0]), 0, NULL};

/* "f16,bf16" into dtypes; -1 when a name is unknown or repeated. */
static int parse_dtypes(const char *text, dytcl_dtype *dts, int *nd)
{
    *nd = 0;
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, ",");
        int found = -1;
        for (int d = DYTCL_F32; d <= DYTCL_BF16; d++)
            if (n == strlen(dytcl_dtype_name((dytcl_dtype)d)) && !strncmp(p, dytcl_dtype_name((dytcl_dtype)d), n))
                found = d;
        for (int j = 0; j < *nd && found >= 0; j++)
            if (dts[j] == (dytcl_dtype)found) found = -1;
        if (found < 0 || *nd == 3) return -1;
        dts[(*nd)++] = (dytcl_dtype)found;
        p += n + (p[n] == ',');
    }
    return *nd ? 0 : -1;
}

static int run_norms(int argc, char **argv, char *err, size_t cap)
{
    norms_args a = {{.reps = 21, .iters = 100}, "f32,f16,bf16", NULL};
    int rc = opt_parse(&norms_cmd, argc, argv, &a, NULL);
    if (rc >= 0) return rc;
    if (parse_dtypes(a.dtypes, a.b.dtypes, &a.b.ndtypes))
        return cli_error(norms_cmd.cmd, 2, "--dtype: \"%s\" is not a list of f32, f16, bf16 (comma-separated, each once)",
                         a.dtypes);
    if (a.shape) {
        char tail;
        long long r = 0, c = 0;
        if (sscanf(a.shape, "%lldx%lld%c", &r, &c, &tail) != 2 || r < 1 || c < 1 || r > (1 << 20) || c > (1 << 20) ||
            r * c > (1LL << 28))
            return cli_error(norms_cmd.cmd, 2, "--shape: \"%s\" is not ROWSxC of at most 2^28 elements", a.shape);
        a.b.rows = r, a.b.cols = c;
    }
    bench_outs bo;
    if (claim_outputs(&bo, norms_cmd.cmd, &a.b.json, &a.b.png)) return 1;
    return commit_outputs(&bo, bench_norms(&a.b, err, cap));
}

/* ---- bench attention */

static const opt_spec attention_specs[] = {
#define F(f) offsetof(bench_attention_opts, f)
    {"reps", OPT_INT, F(reps), "N", 1, 10000, .help = "timed runs per case (the median)"},
    {"max-t", OPT_INT, F(max_t), "T", 64, 1 << 16, .help = "the longest sequence"},
    {"json", OPT_STR, F(json), "FILE", .help = "the records as JSON", .output = 1},
#undef F
};
static const opt_cmd attention_cmd = {
    "bench attention", "[options]",
    "Causal attention (H = 12, D = 64) for T = 64, 128, ... up to --max-t,\n"
    "GEMM path vs tiled path, forward and backward, and the memory each needs.\n",
    NULL, attention_specs, (int)(sizeof attention_specs / sizeof attention_specs[0]), 0, NULL};

static int run_attention(int argc, char **argv, char *err, size_t cap)
{
    bench_attention_opts o = {.reps = 5, .max_t = 1024};
    int rc = opt_parse(&attention_cmd, argc, argv, &o, NULL);
    if (rc >= 0) return rc;
    bench_outs bo;
    if (claim_outputs(&bo, attention_cmd.cmd, &o.json, NULL)) return 1;
    return commit_outputs(&bo, bench_attention(&o, err, cap));
}

/* ---- bench step */

static const opt_spec step_specs[] = {
#define F(f) offsetof(bench_step_opts, f)
    {"batch", OPT_INT, F(batch), "B", 1, 4096, .help = "sequences"},
    {"seq", OPT_INT, F(seq), "T", 1, 1 << 16, .help = "tokens per sequence"},
    {"reps", OPT_INT, F(reps), "N", 1, 10000, .help = "timed runs per op (the median)"},
    {"json", OPT_STR, F(json), "FILE", .help = "the records as JSON", .output = 1},
#undef F
};
static const opt_cmd step_cmd = {
    "bench step", "[options]",
    "Times every op of one GPT-2-small block (C 768, 12 heads, MLP 3072) forward and\n"
    "backward at B x T tokens, with DyT and with RMSNorm, and the share of the step\n"
    "each op takes.\n",
    NULL, step_specs, (int)(sizeof step_specs / sizeof step_specs[0]), 0, NULL};

static int run_step(int argc, char **argv, char *err, size_t cap)
{
    bench_step_opts o = {.batch = 4, .seq = 128, .reps = 5};
    int rc = opt_parse(&step_cmd, argc, argv, &o, NULL);
    if (rc >= 0) return rc;
    bench_outs bo;
    if (claim_outputs(&bo, step_cmd.cmd, &o.json, NULL)) return 1;
    return commit_outputs(&bo, bench_step(&o, err, cap));
}

/* ---- bench train */

static const char *const arch_names[] = {"gpt", "llama", NULL}; /* dytcl_arch order */

static const char *const norm_names[] = {"all", "dyt", "rmsnorm", "layernorm", NULL};

typedef struct {
    bench_train_opts b;
    int quick;
    int norm; /* norm_names */
} train_args;

static const opt_spec train_specs[] = {
#define F(f) offsetof(train_args, f)
    {"arch", OPT_ENUM, F(b.arch), .names = arch_names, .help = "the model family"},
    {"layers", OPT_INT, F(b.layers), "N", 1, 1024, .help = "transformer blocks"},
    {"dim", OPT_INT, F(b.dim), "N", 2, 1 << 16, .help = "d_model"},
    {"heads", OPT_INT, F(b.heads), "N", 1, 1024, .help = "attention heads"},
    {"batch", OPT_INT, F(b.batch), "B", 1, 100000, .help = "sequences per step"},
    {"seq", OPT_INT, F(b.seq), "T", 10, 100000, .help = "tokens per sequence"},
    {"steps", OPT_INT, F(b.steps), "N", 1, 100000, .help = "timed steps after a warm-up"},
    {"gen", OPT_INT, F(b.gen), "N", 1, 100000, .help = "tokens generated"},
    {"quick", OPT_SWITCH, F(quick), .help = "2 layers, dim 128, 4 x 64 tokens, 3 steps, 16 generated (where not given)"},
    {"peer", OPT_SWITCH, F(b.peer), .help = "also PyTorch on the CPU (bench/peers/train_peer.py; llama only)"},
    {"json", OPT_STR, F(b.json), "FILE", .help = "the records as JSON", .output = 1},
    {"peer-modes", OPT_STR, F(b.peer_modes), "M[,M]", .help = "with --peer: eager, compile (torch.compile)", .def = "eager,compile"},
    {"peer-threads", OPT_STR, F(b.peer_threads), "N[,N...]",
     .help = "with --peer: PyTorch's threads, each mode at each (0: one per CPU)", .def = "1,2"},
    {"norm", OPT_ENUM, F(norm), .names = norm_names, .help = "just this norm", .def = "all three"},
#undef F
};
static const opt_cmd train_cmd = {
    "bench train", "[options]",
    "Training and generation tokens/s of one model shape with DyT, RMSNorm and\n"
    "LayerNorm as its norms, and the share of the step the norm layers take.\n",
    NULL, train_specs, (int)(sizeof train_specs / sizeof train_specs[0]), 0, NULL};

static int run_train(int argc, char **argv, char *err, size_t cap)
{
    train_args a = {{DYTCL_ARCH_LLAMA, 4, 256, 4, 8, 128, 10, 64, 0, NULL, NULL, NULL, NULL}, 0, 0};
    opt_seen seen;
    int rc = opt_parse(&train_cmd, argc, argv, &a, &seen);
    if (rc >= 0) return rc;
    if (a.quick) { /* the sizes not given */
        const int quick[] = {2, 128, -1, 4, 64, 3, 16}; /* layers, dim, heads, batch, seq, steps, gen */
        int *field[] = {&a.b.layers, &a.b.dim, &a.b.heads, &a.b.batch, &a.b.seq, &a.b.steps, &a.b.gen};
        for (int i = 0; i < 7; i++)
            if (quick[i] > 0 && !seen.given[i + 1]) *field[i] = quick[i];
    }
    if (a.norm > 0) a.b.norm = norm_names[a.norm];
    if (a.b.peer && a.b.arch != DYTCL_ARCH_LLAMA)
        return cli_error(train_cmd.cmd, 2, "--peer: the PyTorch peer is llama only, not --arch %s",
                         dytcl_arch_name(a.b.arch));
    bench_outs bo;
    if (claim_outputs(&bo, train_cmd.cmd, &a.b.json, NULL)) return 1;
    return commit_outputs(&bo, bench_train(&a.b, err, cap));
}

/* ---- bench decode */

typedef struct {
    bench_decode_opts b; /* first: the specs below index it with offsetof(bench_decode_opts, f) */
    int peer, prompt, peer_threads;
    const char *json;
} decode_args;

static const opt_spec decode_specs[] = {
#define F(f) offsetof(bench_decode_opts, f)
    {"dim", OPT_INT, F(dim), "N", 2, 1 << 16, .help = "d_model"},
    {"layers", OPT_INT, F(layers), "N", 1, 1024, .help = "transformer blocks"},
    {"heads", OPT_INT, F(heads), "N", 1, 1024, .help = "attention heads"},
    {"tokens", OPT_INT, F(tokens), "N", 1, 1000000, .help = "tokens decoded per round"},
    {"rounds", OPT_INT, F(rounds), "N", 1, 64, .help = "interleaved rounds (the median)"},
#undef F
#define F(f) offsetof(decode_args, f)
    {"peer", OPT_SWITCH, F(peer),
     .help = "llama-rmsnorm vs llama.cpp (llama-cpp-python, bench/peers/llama_peer.py), logits checked first"},
    {"prompt", OPT_INT, F(prompt), "N", 8, 1 << 16, .help = "with --peer: tokens of the prompt-processing case"},
    {"peer-threads", OPT_INT, F(peer_threads), "N", 0, 1024, .help = "with --peer: llama.cpp's threads (0: one per CPU)"},
    {"json", OPT_STR, F(json), "FILE", .help = "with --peer: the records as JSON", .output = 1},
#undef F
};
static const opt_cmd decode_cmd = {
    "bench decode", "[options]",
    "Decoding tokens/s of a LLaMA-style DyT model with its linear weights in f32,\n"
    "f16, bf16 and q8, interleaved, the weight bytes each token reads, and the\n"
    "fraction of the copy bandwidth that makes.\n"
    "With --peer: a LLaMA-style RMSNorm model in dytcl and in llama.cpp (converted\n"
    "to GGUF, its logits checked against dytcl's), f32, f16 and q8 where built,\n"
    "prompt processing and generation interleaved, and dytcl / llama.cpp.\n",
    NULL, decode_specs, (int)(sizeof decode_specs / sizeof decode_specs[0]), 0, NULL};
/* 1 when c's option `name` was on the command line. */
static int given(const opt_cmd *c, const opt_seen *seen, const char *name)
{
    for (int i = 0; i < c->n && i < OPT_MAX; i++)
        if (!strcmp(c->specs[i].name, name)) return seen->given[i];
    return 0;
}

static int run_decode(int argc, char **argv, char *err, size_t cap)
{
    decode_args a = {{.dim = 512, .layers = 8, .heads = 8, .tokens = 64, .rounds = 5}, 0, 512, 0, NULL};
    bench_decode_opts *o = &a.b;
    opt_seen seen;
    int rc = opt_parse(&decode_cmd, argc, argv, &a, &seen);
    if (rc >= 0) return rc;
    if (!a.peer) {
        if (a.json || given(&decode_cmd, &seen, "prompt") || given(&decode_cmd, &seen, "peer-threads"))
            return cli_error(decode_cmd.cmd, 2, "--prompt, --peer-threads and --json go with --peer");
        return bench_decode(o, err, cap);
    }
    bench_outs bo;
    if (claim_outputs(&bo, decode_cmd.cmd, &a.json, NULL)) return 1;
    bench_decode_peer_opts p = {o->dim, o->layers, o->heads, o->tokens, o->rounds, a.prompt, a.peer_threads, a.json};
    return commit_outputs(&bo, bench_decode_peer(&p, err, cap));
}

/* ---- bench gemm */

static const opt_spec gemm_specs[] = {
#define F(f) offsetof(bench_gemm_opts, f)
    {"reps", OPT_INT, F(reps), "N", 1, 10000, .help = "timed runs per case (the median)"},
    {"json", OPT_STR, F(json), "FILE", .help = "the records as JSON", .output = 1},
    {"device", OPT_STR, F(device), "SPEC", .help = "device index or name substring"},
    {"no-defaults", OPT_SWITCH, F(no_defaults), .help = "skip CLBlast with its own parameters"},
#undef F
};
static const opt_cmd gemm_cmd = {
    "bench gemm", "[options]",
    "SGEMM GFLOP/s at 1024x768x768, 1024x3072x768, 1024x768x3072 (NT, NN, TN):\n"
    "CLBlast with its own parameters, CLBlast with dytcl's (the tuning file of\n"
    "`dytcl tune gemm`, else built-in for PoCL), and the host-BLAS path with\n"
    "OpenBLAS called directly beside it, when the build and the device have them.\n",
    NULL, gemm_specs, (int)(sizeof gemm_specs / sizeof gemm_specs[0]), 0, NULL};

static int run_gemm(int argc, char **argv, char *err, size_t cap)
{
    bench_gemm_opts o = {.reps = 9};
    int rc = opt_parse(&gemm_cmd, argc, argv, &o, NULL);
    if (rc >= 0) return rc;
    bench_outs bo;
    if (claim_outputs(&bo, gemm_cmd.cmd, &o.json, NULL)) return 1;
    return commit_outputs(&bo, bench_gemm(&o, err, cap));
}

/* ---- the dispatcher */

static const struct {
    const char *name;
    int (*run)(int argc, char **argv, char *err, size_t cap);
    const char *help;
} benches[] = {
    {"norms", run_norms, "DyT, Derf, RMSNorm, LayerNorm vs a copy kernel; LLaMA-7B protocol"},
    {"attention", run_attention, "causal attention vs T: GEMM path vs tiled path, time and memory"},
    {"step", run_step, "share of a training step per op: one GPT-2-small block, DyT vs RMSNorm"},
    {"train", run_train, "training and generation tokens/s, DyT vs RMSNorm vs LayerNorm, norm share"},
    {"decode", run_decode, "decoding tokens/s with f32, f16 and bf16 weights, interleaved"},
    {"gemm", run_gemm, "SGEMM through CLBlast at transformer shapes (OpenBLAS beside it)"},
};
#define NBENCH (sizeof benches / sizeof benches[0])

void cmd_bench_list(FILE *f, const char *indent, int width)
{
    for (size_t i = 0; i < NBENCH; i++) {
        char name[32];
        snprintf(name, sizeof name, "bench %s", benches[i].name);
        fprintf(f, "%s%-*s %s\n", indent, width, name, benches[i].help);
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: dytcl bench <what> [options]   (dytcl bench <what> --help)\n\n");
    cmd_bench_list(f, "  ", 16);
}

int cmd_bench(int argc, char **argv)
{
    if (argc < 2) return usage(stderr), cli_error("bench", 2, "which benchmark? (see dytcl bench --help)");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) return usage(stdout), 0;
    for (size_t i = 0; i < NBENCH; i++)
        if (!strcmp(argv[1], benches[i].name)) {
            char err[2048] = "", cmd[32];
            int rc = benches[i].run(argc - 1, argv + 1, err, sizeof err);
            snprintf(cmd, sizeof cmd, "bench %s", benches[i].name);
            if (rc == 1 && err[0]) cli_error(cmd, 1, "%s", err);
            return rc;
        }
    return cli_error("bench", 2, "%s: unknown benchmark (see dytcl bench --help)", argv[1]);
}
