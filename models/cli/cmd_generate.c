/* cmd_generate.c -- `dytcl generate`: text from a checkpoint, streamed as it
 * is sampled (dytcl_model_generate: the prompt goes through the model once,
 * filling the KV cache on the device, then one token per step; past max_seq
 * the context slides). DyT/Derf models are folded first (their norms'
 * weight and bias moved into the next linear layers). A checkpoint trained
 * on subword tokens carries its tokenizer (tokens.h): the prompt is encoded
 * and each token printed as its text; otherwise a token is a byte. --dtype
 * f16|bf16|q8 keeps the linear layers' weights half-width or 8-bit on the
 * device, where decoding reads them (dytcl_model_set_weight_dtype; a q8
 * export decodes as q8 unless told otherwise); --stats times the
 * decoding. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dytcl_model.h"
#include "opts.h"
#include "tokens.h"

typedef struct {
    const char *model, *prompt;
    int tokens, no_cache, no_fold, print_ids, stats;
    int dtype;                 /* of the linear layers' weights (a dytcl_dtype; -1: as loaded) */
    dytcl_sampling s;          /* its seed: --seed */
    const dytcl_tokenizer *tk; /* the checkpoint's, or NULL: tokens are bytes */
    int emitted;               /* tokens so far, and the clock at the first */
    double first_ms;
} gen_opts;

static const char *const dtype_names[] = {"f32", "f16", "bf16", "q8", NULL}; /* dytcl_dtype order */

static const opt_spec specs[] = {
#define F(f) offsetof(gen_opts, f)
    {"model", OPT_STR, F(model), "FILE", .help = "checkpoint written by dytcl train (required)"},
    {"prompt", OPT_STR, F(prompt), "TEXT", .help = "text to continue", .def = "a newline"},
    {"tokens", OPT_INT, F(tokens), "N", 0, 1e9, .help = "tokens (bytes, or the checkpoint tokenizer's) to generate; past max_seq the context slides"},
    {"temperature", OPT_FLOAT, F(s.temperature), "X", 0, 100, .help = "0: greedy"},
    {"top-k", OPT_INT, F(s.top_k), "N", 0, 1e9, .help = "sample among the N most likely (0: all)"},
    {"top-p", OPT_FLOAT, F(s.top_p), "X", 0, 1, 1, .help = "nucleus: the smallest set with mass X (1: all)"},
    {"seed", OPT_U64, F(s.seed), "N", .help = "sampling seed"},
    {"no-cache", OPT_SWITCH, F(no_cache), .help = "recompute the whole sequence for every token (no KV cache)"},
    {"no-fold", OPT_SWITCH, F(no_fold), .help = "keep DyT's weight and bias in the norms"},
    {"dtype", OPT_ENUM, F(dtype), .names = dtype_names, .help = "the linear layers' weights on the device (rounded to nearest even, or 8-bit blocks; the sums stay float32)", .def = "f32; q8 for a q8 export"},
    {"stats", OPT_SWITCH, F(stats), .help = "print the decoding speed (tokens/s after the first token) to stderr"},
    {"ids", OPT_SWITCH, F(print_ids), .help = "print token ids, one per line, instead of text"},
#undef F
};
static const opt_cmd generate_cmd = {
    "generate", "--model CKPT [options]",
    "Samples text from a checkpoint of dytcl train, streamed as it is sampled.\n",
    NULL, specs, (int)(sizeof specs / sizeof specs[0]), 0, NULL};

/* -1: go on; else the exit status. */
static int parse(int argc, char **argv, gen_opts *o)
{
    *o = (gen_opts){NULL, "\n", 200, 0, 0, 0, 0, -1, {0.8f, 0, 1.0f, 1}, NULL, 0, 0};
    int rc = opt_parse(&generate_cmd, argc, argv, o, NULL);
    if (rc >= 0) return rc;
    if (!o->model) return cli_error("generate", 2, "--model: required (a checkpoint of dytcl train)");
    if (!o->prompt[0]) return cli_error("generate", 2, "--prompt: must not be empty");
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
    if (o.dtype < 0) o.dtype = (int)dytcl_model_weight_dtype(m); /* a q8 export loads as q8 */
    if (tokens_for_model(o.model, &md, dytcl_model_get_config(m)->vocab, &tm, err, sizeof err)) {
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
    if (dytcl_model_set_weight_dtype(m, (dytcl_dtype)o.dtype)) {
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
                dytcl_dtype_name((dytcl_dtype)o.dtype), o.no_cache ? "no KV cache" : "KV cache");
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
