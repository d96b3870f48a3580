/* train_opts.c -- `dytcl train`'s flags: one table gives each flag its
 * field, kind, help line and whether it belongs to the model (fixed by a
 * checkpoint) or to training (saved in checkpoints, overridable on resume). */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train_opts.h"

typedef enum { K_INT, K_FLOAT, K_DOUBLE, K_U64, K_STR, K_ARCH, K_NORM, K_FLAG } kind;

typedef struct {
    const char *flag;     /* "--lr" */
    kind k;
    size_t off;           /* offset of the field in train_opts */
    int model;            /* 1: part of the model config */
    int saved;            /* 1: stored in checkpoints */
    const char *help;
} opt_spec;

enum { TRAIN_MAX_LAYERS = 1024 }; /* beyond: minutes of set-up before a word */

#define OFF(f) offsetof(train_opts, f)
static const opt_spec specs[] = {
    {"--data", K_STR, OFF(data), 0, 0, "FILE   text (bytes, or encoded with --tokenizer) or a token file (required)"},
    {"--tokenizer", K_STR, OFF(tokenizer), 1, 0, "FILE .model of dytcl tokenize train: subword tokens, the vocabulary its size"},
    {"--out", K_STR, OFF(out), 0, 0, "FILE    checkpoint to write (.safetensors; default model.safetensors)"},
    {"--resume", K_STR, OFF(resume), 0, 0, "FILE continue from a training checkpoint, bit-exactly"},
    {"--log", K_STR, OFF(log), 0, 0, "FILE    CSV log, a row per step (default train.csv; diagnostics in FILE.diag.csv)"},
    {"--force", K_FLAG, OFF(force), 0, 0, "       replace an existing --out or --log that is not a checkpoint / log"},
    {"--arch", K_ARCH, OFF(model.arch), 1, 0, "gpt|llama (default llama)"},
    {"--norm", K_NORM, OFF(model.norm), 1, 0, "dyt|derf|rmsnorm|layernorm (default dyt)"},
    {"--layers", K_INT, OFF(model.n_layer), 1, 0, "N    (default 4)"},
    {"--heads", K_INT, OFF(model.n_head), 1, 0, "N     (default 4)"},
    {"--dim", K_INT, OFF(model.d_model), 1, 0, "N       d_model (default 128)"},
    {"--ff", K_INT, OFF(model.d_ff), 1, 0, "N        d_ff (default: gpt 4 dim, llama 8 dim / 3 rounded up to 32)"},
    {"--alpha-attn", K_FLOAT, OFF(model.alpha_attn), 1, 0, "A DyT alpha0 before attention (default by width)"},
    {"--alpha-ffn", K_FLOAT, OFF(model.alpha_ffn), 1, 0, "A  DyT alpha0 before the MLP (default by width)"},
    {"--alpha-final", K_FLOAT, OFF(model.alpha_final), 1, 0, "A DyT alpha0 of the final norm (default by width)"},
    {"--seq", K_INT, OFF(seq), 0, 1, "T       tokens per sequence (default 128; the model's max_seq)"},
    {"--batch", K_INT, OFF(batch), 0, 1, "B     sequences per micro-batch (default 16)"},
    {"--accum", K_INT, OFF(accum), 0, 1, "N     micro-batches per step (default 1, at most 64)"},
    {"--steps", K_INT, OFF(steps), 0, 1, "N     total optimiser steps (default 1000)"},
    {"--time-limit", K_DOUBLE, OFF(time_limit), 0, 0, "S stop (evaluate, save) after S seconds of training"},
    {"--stop-at", K_INT, OFF(stop_at), 0, 0, "N   stop (evaluate, save) after step N, to resume later"},
    {"--lr", K_FLOAT, OFF(lr), 0, 1, "X        peak learning rate (default 1e-3)"},
    {"--min-lr-frac", K_FLOAT, OFF(min_lr_frac), 0, 1, "X cosine decays to lr * X (default 0.1)"},
    {"--warmup", K_INT, OFF(warmup), 0, 1, "N    linear warm-up steps (default steps / 20)"},
    {"--wd", K_FLOAT, OFF(weight_decay), 0, 1, "X        AdamW weight decay (default 0.1)"},
    {"--decay-norm", K_FLAG, OFF(decay_norm), 0, 1, "     also decay alpha, gamma, beta, emb_scale"},
    {"--clip", K_FLOAT, OFF(clip), 0, 1, "X      gradient-norm clipping (default 1; 0: off)"},
    {"--beta2", K_FLOAT, OFF(beta2), 0, 1, "X     AdamW beta2 (default 0.95; beta1 is 0.9)"},
    {"--val-fraction", K_FLOAT, OFF(val_fraction), 0, 1, "X the last X of the file is validation (default 0.1)"},
    {"--eval-every", K_INT, OFF(eval_every), 0, 1, "N evaluate every N steps (default 100)"},
    {"--eval-batches", K_INT, OFF(eval_batches), 0, 1, "N at most N validation batches (default 20; 0: all)"},
    {"--diag-every", K_INT, OFF(diag_every), 0, 1, "N DyT alpha and saturation every N steps (default 100)"},
    {"--save-every", K_INT, OFF(save_every), 0, 1, "N checkpoint every N steps (default 500) and at the end"},
    {"--seed", K_U64, OFF(seed), 0, 1, "N      initialisation and data order (default 1)"},
};
#define NSPECS (int)(sizeof specs / sizeof specs[0])

static void defaults(train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->model.arch = DYTCL_ARCH_LLAMA;
    o->model.norm = DYTCL_NORM_DYT;
    o->model.n_layer = 4, o->model.n_head = 4, o->model.d_model = 128;
    snprintf(o->out, sizeof o->out, "model.safetensors");
    snprintf(o->log, sizeof o->log, "train.csv");
    o->seq = 128, o->batch = 16, o->accum = 1, o->steps = 1000, o->warmup = -1;
    o->lr = 1e-3f, o->min_lr_frac = 0.1f, o->weight_decay = 0.1f, o->clip = 1.0f, o->beta2 = 0.95f;
    o->val_fraction = 0.1f, o->eval_every = 100, o->eval_batches = 20, o->diag_every = 100, o->save_every = 500;
    o->seed = 1;
}

static void usage(FILE *f)
{
#ifdef DYTCL_HAVE_MPI
    const char *mpi = "";
#else
    const char *mpi = " (this build has no MPI)";
#endif
    fprintf(f, "usage: dytcl train --data FILE [options]\n\n");
    for (int i = 0; i < NSPECS; i++) fprintf(f, "  %s %s\n", specs[i].flag, specs[i].help);
    fprintf(f, "\nWith --resume the model options come from the checkpoint and the training options\n"
               "default to the checkpoint's; --steps sets the new total.\n"
               "\nData-parallel: mpirun -np N dytcl train ... trains one model on N devices%s:\n"
               "--batch is the global batch (a multiple of N), each rank takes batch / N of its\n"
               "sequences, the gradients are summed over the ranks, rank 0 logs and saves.\n",
            mpi);
}

/* Stores text into the field of spec s; non-zero when it does not parse. */
static int set(train_opts *o, const opt_spec *s, const char *text)
{
    char *p = (char *)o + s->off, *end = NULL;
    errno = 0;
    switch (s->k) {
    case K_INT: {
        long v = strtol(text, &end, 10);
        if (*end || end == text || errno || v < 0 || v > 1000000000) return -1;
        *(int *)p = (int)v;
        return 0;
    }
    case K_FLOAT:
    case K_DOUBLE: {
        double v = strtod(text, &end);
        if (*end || end == text || errno || !isfinite(v) || v < 0) return -1;
        if (s->k == K_FLOAT) *(float *)p = (float)v;
        else *(double *)p = v;
        return 0;
    }
    case K_U64: {
        unsigned long long v = strtoull(text, &end, 10);
        if (*end || end == text || errno || text[0] == '-') return -1;
        *(unsigned long long *)p = v;
        return 0;
    }
    case K_STR: return snprintf(p, 1024, "%s", text) >= 1024 ? -1 : 0;
    case K_ARCH: return dytcl_arch_parse(text, (dytcl_arch *)p);
    case K_NORM: return dytcl_norm_kind_parse(text, (dytcl_norm_kind *)p);
    case K_FLAG: return *(int *)p = atoi(text) != 0, 0;
    }
    return -1;
}

static const opt_spec *find(const char *flag)
{
    for (int i = 0; i < NSPECS; i++)
        if (!strcmp(specs[i].flag, flag)) return &specs[i];
    return NULL;
}

void train_opts_to_meta(const train_opts *o, dytcl_meta *md)
{
    for (int i = 0; i < NSPECS; i++) {
        const opt_spec *s = &specs[i];
        if (!s->saved) continue;
        const char *p = (const char *)o + s->off;
        char v[64];
        switch (s->k) {
        case K_INT:
        case K_FLAG: snprintf(v, sizeof v, "%d", *(const int *)p); break;
        case K_FLOAT: snprintf(v, sizeof v, "%.9g", (double)*(const float *)p); break;
        case K_DOUBLE: snprintf(v, sizeof v, "%.17g", *(const double *)p); break;
        case K_U64: snprintf(v, sizeof v, "%llu", *(const unsigned long long *)p); break;
        default: continue;
        }
        dytcl_meta_set(md, s->flag + 2, v); /* "lr", "batch", ... */
    }
}

/* The checkpoint's training options (saved keys) into o. */
static int from_meta(train_opts *o, const dytcl_meta *md)
{
    for (int i = 0; i < NSPECS; i++) {
        const char *v = specs[i].saved ? dytcl_meta_get(md, specs[i].flag + 2) : NULL;
        if (v && set(o, &specs[i], v)) return cli_error("train", 1, "checkpoint metadata %s = \"%s\" is malformed", specs[i].flag + 2, v);
    }
    return 0;
}

int train_opts_parse(int argc, char **argv, train_opts *o, dytcl_meta *md)
{
    defaults(o);
    /* a first pass finds --resume: its options are the defaults for the rest */
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--resume")) {
            snprintf(o->resume, sizeof o->resume, "%s", argv[i + 1]);
            if (dytcl_model_read_config(o->resume, &o->model, md))
                return cli_error("train", 1, "%s", dytcl_last_error(NULL));
            const char *dt = dytcl_meta_get(md, "dtype"); /* absent in older checkpoints: f32 */
            if (dt && strcmp(dt, "f32"))
                return cli_error("train", 1, "%s holds %s weights (dytcl export): an inference checkpoint; training "
                                 "resumes only from its f32 training checkpoint", o->resume, dt);
            if (from_meta(o, md)) return 1;
        }
    int model_flag = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return usage(stdout), 0;
        const opt_spec *s = find(argv[i]);
        if (!s) return usage(stderr), cli_error("train", 2, "unknown option %s", argv[i]);
        if (s->k == K_FLAG) {
            *(int *)((char *)o + s->off) = 1;
            continue;
        }
        if (i + 1 >= argc) return cli_error("train", 2, "%s needs a value", argv[i]);
        if (set(o, s, argv[++i])) return cli_error("train", 2, "%s: bad value \"%s\"", s->flag, argv[i]);
        model_flag |= s->model;
    }
    if (!o->data[0]) return usage(stderr), cli_error("train", 2, "--data FILE is required");
    for (int i = 1; o->resume[0] && i < argc; i++)
        if (!strcmp(argv[i], "--seed"))
            return cli_error("train", 2, "with --resume the initialisation and data order continue from the "
                                         "checkpoint; drop --seed");
    if (o->resume[0] && model_flag)
        return cli_error("train", 2, "with --resume the model options come from the checkpoint; drop them");
    if (o->batch < 1 || o->seq < 2 || o->accum < 1 || o->accum > 64 || o->steps < 1)
        return cli_error("train", 2, "need --batch >= 1, --seq >= 2, 1 <= --accum <= 64, --steps >= 1");
    if (!(o->val_fraction > 0 && o->val_fraction <= 0.5f))
        return cli_error("train", 2, "--val-fraction must be in (0, 0.5]");
    if (o->warmup < 0) o->warmup = o->steps / 20;
    if (o->model.n_layer > TRAIN_MAX_LAYERS)
        return cli_error("train", 2, "--layers %d: at most %d are supported", o->model.n_layer, TRAIN_MAX_LAYERS);
    if (!o->resume[0]) {
        o->model.max_seq = o->seq;
        dytcl_model_config_defaults(&o->model);
        if (dytcl_model_config_check(&o->model)) return cli_error("train", 2, "%s", dytcl_last_error(NULL));
    } else if (o->seq > o->model.max_seq) {
        return cli_error("train", 2, "--seq %d is longer than the checkpoint's max_seq %d", o->seq, o->model.max_seq);
    }
    return -1;
}
