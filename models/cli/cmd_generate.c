/* cmd_generate.c -- `dytcl generate`: text from a checkpoint, streamed as it
 * is sampled. The prompt goes through the model once (filling the KV cache
 * on the device), then one token per step. When the context reaches the
 * model's max_seq, its last half becomes the new context (read again). DyT/Derf models are folded first
 * (their norms' weight and bias moved into the next linear layers). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "sample.h"

typedef struct {
    const char *model, *prompt;
    int tokens, no_cache, no_fold, print_ids;
    sample_opts s;
    unsigned long long seed;
} gen_opts;

static void usage(FILE *f)
{
    fprintf(f, "usage: dytcl generate --model CKPT [options]\n\n"
               "  --model FILE       checkpoint written by dytcl train (required)\n"
               "  --prompt TEXT      text to continue (default: a newline)\n"
               "  --tokens N         bytes to generate (default 200; past max_seq the context slides)\n"
               "  --temperature X    0: greedy (default 0.8)\n"
               "  --top-k N          sample among the N most likely (default 0: all)\n"
               "  --top-p X          nucleus: the smallest set with mass X (default 1: all)\n"
               "  --seed N           sampling seed (default 1)\n"
               "  --no-cache         recompute the whole sequence for every token (no KV cache)\n"
               "  --no-fold          keep DyT's weight and bias in the norms\n"
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
    *o = (gen_opts){NULL, "\n", 200, 0, 0, 0, {0.8f, 0, 1.0f}, 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        double v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), 0;
        if (!strcmp(a, "--no-cache")) { o->no_cache = 1; continue; }
        if (!strcmp(a, "--no-fold")) { o->no_fold = 1; continue; }
        if (!strcmp(a, "--ids")) { o->print_ids = 1; continue; }
        if (i + 1 >= argc) return usage(stderr), cli_error("generate", 2, "unknown option or missing value: %s", a);
        const char *val = argv[++i];
        if (!strcmp(a, "--model")) o->model = val;
        else if (!strcmp(a, "--prompt")) o->prompt = val;
        else if (!strcmp(a, "--tokens") && !parse_num(val, 0, 1e9, &v) && v == (int)v) o->tokens = (int)v;
        else if (!strcmp(a, "--temperature") && !parse_num(val, 0, 100, &v)) o->s.temperature = (float)v;
        else if (!strcmp(a, "--top-k") && !parse_num(val, 0, 1e9, &v) && v == (int)v) o->s.top_k = (int)v;
        else if (!strcmp(a, "--top-p") && !parse_num(val, 1e-6, 1, &v)) o->s.top_p = (float)v;
        else if (!strcmp(a, "--seed") && !parse_num(val, 0, 1.8e19, &v)) o->seed = (unsigned long long)v;
        else return usage(stderr), cli_error("generate", 2, "bad option or value: %s %s", a, val);
    }
    if (!o->model) return usage(stderr), cli_error("generate", 2, "--model FILE is required");
    if (!o->prompt[0]) return cli_error("generate", 2, "--prompt must not be empty");
    return -1;
}

static void emit(const gen_opts *o, int tok)
{
    if (o->print_ids) printf("%d\n", tok);
    else putchar(tok);
    fflush(stdout);
}

/* The next token's logits after seq[0..len): through the cache (only the
 * tokens not yet in it) or by a full forward pass. */
static dytcl_status next_logits(model *m, const gen_opts *o, const int32_t *seq, int len, int *cached, float *logits)
{
    if (!o->no_cache) {
        dytcl_status s = model_decode(m, seq + *cached, len - *cached, *cached, logits);
        if (!s) *cached = len;
        return s;
    }
    const int V = model_cfg(m)->vocab;
    float *all = malloc((size_t)len * V * sizeof(float));
    if (!all) return DYTCL_ERR_HOST_MEMORY;
    dytcl_status s = model_set_batch(m, 1, len);
    if (!s) s = model_forward(m, seq, NULL);
    if (!s) s = model_read_logits(m, all);
    if (!s) memcpy(logits, all + (size_t)(len - 1) * V, (size_t)V * sizeof(float));
    free(all);
    return s;
}

int cmd_generate(int argc, char **argv)
{
    gen_opts o;
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return rc;
    dytcl_ctx *ctx = NULL;
    model *m = NULL, *folded = NULL;
    int32_t *seq = NULL;
    float *logits = NULL;
    char err[1200];
    rc = 1;
    if (dytcl_ctx_create(&ctx, NULL)) {
        cli_error("generate", 1, "%s", dytcl_last_error(NULL));
        goto done;
    }
    if (ckpt_load(ctx, o.model, &m, NULL, NULL, err, sizeof err)) {
        cli_error("generate", 1, "%s", err);
        goto done;
    }
    const model_config *c = model_cfg(m);
    if (!o.no_fold && (c->norm == NORM_DYT || c->norm == NORM_DERF) && !c->folded) {
        if (model_fold(m, &folded)) {
            cli_error("generate", 1, "%s", model_error(m));
            goto done;
        }
        model_free(m);
        m = folded;
        c = model_cfg(m);
    }
    int plen = (int)strlen(o.prompt), max = c->max_seq;
    if (plen > max) {
        cli_error("generate", 2, "the prompt has %d bytes, more than the model's max_seq %d", plen, max);
        rc = 2;
        goto done;
    }
    seq = malloc((size_t)max * sizeof *seq);
    logits = malloc((size_t)c->vocab * 3 * sizeof *logits);
    if (!seq || !logits) {
        cli_error("generate", 1, "out of host memory");
        goto done;
    }
    for (int i = 0; i < plen; i++) seq[i] = (unsigned char)o.prompt[i];
    if (!o.no_cache && model_decode_begin(m)) {
        cli_error("generate", 1, "%s", model_error(m));
        goto done;
    }
    if (!o.print_ids) fputs(o.prompt, stdout);
    uint64_t rng = o.seed;
    int len = plen, cached = 0;
    for (int i = 0; i < o.tokens; i++) {
        if (len == max) { /* slide: keep the last half as the new context, re-read it */
            int keep = max / 2;
            memmove(seq, seq + len - keep, (size_t)keep * sizeof *seq);
            len = keep, cached = 0;
        }
        if (next_logits(m, &o, seq, len, &cached, logits)) {
            cli_error("generate", 1, "%s", model_error(m));
            goto done;
        }
        int tok = sample_token(logits, c->vocab, &o.s, &rng, logits + c->vocab);
        seq[len++] = tok;
        emit(&o, tok);
    }
    if (!o.print_ids) putchar('\n');
    rc = 0;
done:
    free(seq), free(logits);
    model_free(m);
    dytcl_ctx_free(ctx);
    return rc;
}
