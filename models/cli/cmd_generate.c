/* cmd_generate.c -- `dytcl generate`: text from a checkpoint, streamed as it
 * is sampled (dytcl_model_generate: the prompt goes through the model once,
 * filling the KV cache on the device, then one token per step; past max_seq
 * the context slides). DyT/Derf models are folded first (their norms'
 * weight and bias moved into the next linear layers). A checkpoint trained
 * on subword tokens carries its tokenizer (tokens.h): the prompt is encoded
 * and each token printed as its text; otherwise a token is a byte. --dtype
 * f16|bf16 keeps the linear layers' weights half-width on the device, where
 * decoding reads them (dytcl_model_set_weight_dtype); --stats times the
 * decoding. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dytcl_model.h"
#include "tokens.h"

typedef struct {
    const char *model, *prompt;
    int tokens, no_cache, no_fold, print_ids, stats;
    dytcl_dtype dtype;         /* of the linear layers' weights */
    dytcl_sampling s;          /* its seed: --seed */
    const dytcl_tokenizer *tk; /* the checkpoint's, or NULL: tokens are bytes */
    int emitted;               /* tokens so far, and the clock at the first */
    double first_ms;
} gen_opts;

static void usage(FILE *f)
{
    fprintf(f, "usage: dytcl generate --model CKPT [options]\n\n"
               "  --model FILE       checkpoint written by dytcl train (required)\n"
               "  --prompt TEXT      text to continue (default: a newline)\n"
               "  --tokens N         tokens (bytes, or the checkpoint tokenizer's) to generate (default 200; past max_seq the context slides)\n"
               "  --temperature X    0: greedy (default 0.8)\n"
               "  --top-k N          sample among the N most likely (default 0: all)\n"
               "  --top-p X          nucleus: the smallest set with mass X (default 1: all)\n"
               "  --seed N           sampling seed (default 1)\n"
               "  --no-cache         recompute the whole sequence for every token (no KV cache)\n"
               "  --no-fold          keep DyT's weight and bias in the norms\n"
               "  --dtype T          the linear layers' weights on the device: f32 (default), f16 or bf16\n"
               "                     (rounded to nearest even; the sums stay float32)\n"
               "  --stats            print the decoding speed (tokens/s after the first token) to stderr\n"
               "  --ids              print token ids, one per line, instead of text\n");
}

static int parse_num(const char *s, double lo, double hi, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

/* -1: go on; else the exit status. */
static int parse(int argc, char **argv, gen_opts *o)
{
    *o = (gen_opts){NULL, "\n", 200, 0, 0, 0, 0, DYTCL_F32, {0.8f, 0, 1.0f, 1}, NULL, 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        double v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), 0;
        if (!strcmp(a, "--no-cache")) { o->no_cache = 1; continue; }
        if (!strcmp(a, "--no-fold")) { o->no_fold = 1; continue; }
        if (!strcmp(a, "--ids")) { o->print_ids = 1; continue; }
        if (!strcmp(a, "--stats")) { o->stats = 1; continue; }
        if (i + 1 >= argc) return usage(stderr), cli_error("generate", 2, "unknown option or missing value: %s", a);
        const char *val = argv[++i];
        if (!strcmp(a, "--model")) o->model = val;
        else if (!strcmp(a, "--prompt")) o->prompt = val;
        else if (!strcmp(a, "--tokens") && !parse_num(val, 0, 1e9, &v) && v == (int)v) o->tokens = (int)v;
        else if (!strcmp(a, "--temperature") && !parse_num(val, 0, 100, &v)) o->s.temperature = (float)v;
        else if (!strcmp(a, "--top-k") && !parse_num(val, 0, 1e9, &v) && v == (int)v) o->s.top_k = (int)v;
        else if (!strcmp(a, "--top-p") && !parse_num(val, 1e-6, 1, &v)) o->s.top_p = (float)v;
        else if (!strcmp(a, "--seed") && !parse_num(val, 0, 1.8e19, &v)) o->s.seed = (uint64_t)v;
        else if (!strcmp(a, "--dtype") && !strcmp(val, "f32")) o->dtype = DYTCL_F32;
        else if (!strcmp(a, "--dtype") && !strcmp(val, "f16")) o->dtype = DYTCL_F16;
        else if (!strcmp(a, "--dtype") && !strcmp(val, "bf16")) o->dtype = DYTCL_BF16;
        else return usage(stderr), cli_error("generate", 2, "bad option or value: %s %s", a, val);
    }
    if (!o->model) return usage(stderr), cli_error("generate", 2, "--model FILE is required");
    if (!o->prompt[0]) return cli_error("generate", 2, "--prompt must not be empty");
    return -1;
}

/* Each token as it comes: a byte, its text, or its id on a line. */
static int emit(int32_t tok, void *user)
{
    gen_opts *o = user;
    if (!o->emitted++) o->first_ms = dytcl_now_ms();
    char piece[4096];
    if (o->print_ids) printf("%d\n", tok);
    else if (o->tk) fwrite(piece, 1, dytcl_tokenizer_piece(o->tk, tok, piece, sizeof piece), stdout);
    else putchar(tok);
    fflush(stdout);
    return 0;
}

int cmd_generate(int argc, char **argv)
{
    gen_opts o;
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return rc;
    dytcl_ctx *ctx = NULL;
    dytcl_model *m = NULL, *folded = NULL;
    int32_t *prompt = NULL;
    dytcl_meta md = {0};
    tokens_model tm = {0};
    char err[1400];
    size_t plen = 0;
    rc = 1;
    if (dytcl_ctx_create(NULL, &ctx)) {
        cli_error("generate", 1, "%s", dytcl_last_error(NULL));
        goto done;
    }
    if (dytcl_model_load(ctx, o.model, &md, NULL, &m)) {
        cli_error("generate", 1, "%s", dytcl_last_error(ctx));
        goto done;
    }
    if (tokens_from_meta(&md, o.model, &tm, err, sizeof err)) {
        cli_error("generate", 1, "%s", err);
        goto done;
    }
    o.tk = tm.tk;
    const dytcl_model_config *c = dytcl_model_get_config(m);
    if (!o.no_fold && (c->norm == DYTCL_NORM_DYT || c->norm == DYTCL_NORM_DERF) && !c->folded) {
        if (dytcl_model_fold(m, &folded)) {
            cli_error("generate", 1, "%s", dytcl_last_error(ctx));
            goto done;
        }
        dytcl_model_free(m);
        m = folded;
        c = dytcl_model_get_config(m);
    }
    if (dytcl_model_set_weight_dtype(m, o.dtype)) {
        cli_error("generate", 1, "%s", dytcl_last_error(ctx));
        goto done;
    }
    if (tm.tk) { /* the checkpoint's tokenizer */
        if (dytcl_tokenizer_encode(tm.tk, o.prompt, strlen(o.prompt), &prompt, &plen)) {
            cli_error("generate", 2, "--prompt: %s", dytcl_last_error(NULL));
            rc = 2;
            goto done;
        }
    } else if ((plen = strlen(o.prompt)) && (prompt = malloc(plen * sizeof *prompt))) {
        for (size_t i = 0; i < plen; i++) prompt[i] = (unsigned char)o.prompt[i];
    }
    if (!prompt) {
        cli_error("generate", 1, "out of host memory");
        goto done;
    }
    if (plen > (size_t)c->max_seq) {
        cli_error("generate", 2, "the prompt has %zu %s, more than the model's max_seq %d", plen,
                  tm.tk ? "tokens" : "bytes", c->max_seq);
        rc = 2;
        goto done;
    }
    if (!o.print_ids) fputs(o.prompt, stdout);
    if (dytcl_model_generate(m, prompt, (int)plen, o.tokens, &o.s, !o.no_cache, emit, &o)) {
        cli_error("generate", 1, "%s", dytcl_last_error(ctx));
        goto done;
    }
    if (!o.print_ids) putchar('\n');
    if (o.stats) {
        const double ms = dytcl_now_ms() - o.first_ms;
        fprintf(stderr, "dytcl generate: %d tokens after the first in %.1f ms: %.1f tokens/s (weights %s, %s)\n",
                o.emitted - 1, ms, o.emitted > 1 && ms > 0 ? (o.emitted - 1) / ms * 1e3 : 0.0,
                dytcl_dtype_name(o.dtype), o.no_cache ? "no KV cache" : "KV cache");
    }
    rc = 0;
done:
    free(prompt);
    tokens_free(&tm);
    dytcl_meta_clear(&md);
    dytcl_model_free(m);
    dytcl_ctx_free(ctx);
    return rc;
}
