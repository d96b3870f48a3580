/* train_opts.c -- `dytcl train`'s flags: one table gives each flag its
 * field, kind, help line and whether it belongs to the model (fixed by a
 * checkpoint) or to training (saved in checkpoints, overridable on resume). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "opts.h"
#include "train_opts.h"

enum { TRAIN_MAX_LAYERS = 1024 }; /* beyond: minutes of set-up before a word */
enum { MODEL = 1, SAVED = 2 };     /* tags: part of the model config; stored in checkpoints */

static const char *const arch_names[] = {"gpt", "llama", NULL};              /* dytcl_arch order */
static const char *const norm_names[] = {"dyt", "derf", "rmsnorm", "layernorm", NULL}; /* dytcl_norm_kind */

#define F(f) offsetof(train_opts, f)
#define BIG 1e9
static const opt_spec specs[] = {
    {"data", OPT_BUF, F(data), "FILE", .help = "text (bytes, or encoded with --tokenizer) or a token file (required)"},
    {"tokenizer", OPT_BUF, F(tokenizer), "FILE", .help = ".model of dytcl tokenize train: subword tokens, the vocabulary its size", .tag = MODEL},
    {"out", OPT_BUF, F(out), "FILE", .help = "checkpoint to write (.safetensors)", .output = 1},
    {"resume", OPT_BUF, F(resume), "FILE", .help = "continue from a training checkpoint, bit-exactly"},
    {"init", OPT_BUF, F(init), "PATH", .help = "fine-tune this model (a checkpoint or a Hugging Face directory): its weights and vocabulary, a fresh optimiser"},
    {"log", OPT_BUF, F(log), "FILE", .help = "CSV log, a row per step (diagnostics in FILE.diag.csv; \"\": none)", .output = 1},
    {"force", OPT_SWITCH, F(force), .help = "replace an existing --out or --log that is not a checkpoint / log"},
    {"arch", OPT_ENUM, F(model.arch), .names = arch_names, .help = "the model family", .tag = MODEL},
    {"norm", OPT_ENUM, F(model.norm), .names = norm_names, .help = "the norm layers", .tag = MODEL},
    {"layers", OPT_INT, F(model.n_layer), "N", 1, TRAIN_MAX_LAYERS, .help = "transformer blocks", .tag = MODEL},
    {"heads", OPT_INT, F(model.n_head), "N", 1, 1 << 16, .help = "attention heads", .tag = MODEL},
    {"dim", OPT_INT, F(model.d_model), "N", 2, 1 << 20, .help = "d_model", .tag = MODEL},
    {"ff", OPT_INT, F(model.d_ff), "N", 0, 1 << 22, .help = "d_ff (0: by arch)", .def = "gpt 4 dim, llama 8 dim / 3 rounded up to 32", .tag = MODEL},
    {"alpha-attn", OPT_FLOAT, F(model.alpha_attn), "A", 0, 1e6, .help = "DyT alpha0 before attention (0: by width)", .def = "by width", .tag = MODEL},
    {"alpha-ffn", OPT_FLOAT, F(model.alpha_ffn), "A", 0, 1e6, .help = "DyT alpha0 before the MLP (0: by width)", .def = "by width", .tag = MODEL},
    {"alpha-final", OPT_FLOAT, F(model.alpha_final), "A", 0, 1e6, .help = "DyT alpha0 of the final norm (0: by width)", .def = "by width", .tag = MODEL},
    {"seq", OPT_INT, F(seq), "T", 2, 1 << 20, .help = "tokens per sequence (the model's max_seq)", .tag = SAVED},
    {"batch", OPT_INT, F(batch), "B", 1, 1 << 20, .help = "sequences per micro-batch", .tag = SAVED},
    {"accum", OPT_INT, F(accum), "N", 1, 64, .help = "micro-batches per step", .tag = SAVED},
    {"steps", OPT_INT, F(steps), "N", 1, BIG, .help = "total optimiser steps", .tag = SAVED},
    {"time-limit", OPT_DOUBLE, F(time_limit), "S", 0, BIG, .help = "stop (evaluate, save) after S seconds of training (0: none)"},
    {"stop-at", OPT_INT, F(stop_at), "N", 0, BIG, .help = "stop (evaluate, save) after step N, to resume later (0: none)"},
    {"lr", OPT_FLOAT, F(lr), "X", 0, 1e38, 1, .help = "peak learning rate", .tag = SAVED},
    {"min-lr-frac", OPT_FLOAT, F(min_lr_frac), "X", 0, 1, .help = "cosine decays to lr * X", .tag = SAVED},
    {"warmup", OPT_INT, F(warmup), "N", 0, BIG, .help = "linear warm-up steps", .def = "steps / 20", .tag = SAVED},
    {"wd", OPT_FLOAT, F(weight_decay), "X", 0, 1e38, .help = "AdamW weight decay", .tag = SAVED},
    {"decay-norm", OPT_SWITCH, F(decay_norm), .help = "also decay alpha, gamma, beta, emb_scale", .tag = SAVED},
    {"clip", OPT_FLOAT, F(clip), "X", 0, 1e38, .help = "gradient-norm clipping (0: off)", .tag = SAVED},
    {"beta2", OPT_FLOAT, F(beta2), "X", 0, 1, 1, 1, .help = "AdamW beta2 (beta1 is 0.9)", .tag = SAVED},
    {"val-fraction", OPT_FLOAT, F(val_fraction), "X", 0, 0.5, 1, .help = "the last X of the file is validation", .tag = SAVED},
    {"eval-every", OPT_INT, F(eval_every), "N", 0, BIG, .help = "evaluate every N steps (0: at the end only)", .tag = SAVED},
    {"eval-batches", OPT_INT, F(eval_batches), "N", 0, BIG, .help = "at most N validation batches (0: all)", .tag = SAVED},
    {"diag-every", OPT_INT, F(diag_every), "N", 0, BIG, .help = "DyT alpha and saturation every N steps (0: off)", .tag = SAVED},
    {"save-every", OPT_INT, F(save_every), "N", 0, BIG, .help = "checkpoint every N steps and at the end (0: at the end)", .tag = SAVED},
    {"seed", OPT_U64, F(seed), "N", .help = "initialisation and data order", .tag = SAVED},
};
#undef F
#define NSPECS (int)(sizeof specs / sizeof specs[0])

#ifdef DYTCL_HAVE_MPI
#define MPI_NOTE ""
#else
#define MPI_NOTE " (this build has no MPI)"
#endif

static const char *const train_outputs[] = {"derived --log .diag.csv", NULL};

static const opt_cmd train_cmd = {
    "train", "--data FILE [options]",
    "Trains a GPT- or LLaMA-style model on a text or token file: a progress line,\n"
    "a CSV log, checkpoints.\n",
    "With --resume the model options come from the checkpoint and the training options\n"
    "default to the checkpoint's; --steps sets the new total. With --init the model\n"
    "(its options, weights and tokenizer) comes from PATH and training starts at step 0;\n"
    "the data's tokenizer (--tokenizer, else PATH's, else bytes) must have its vocabulary.\n"
    "\nData-parallel: mpirun -np N dytcl train ... trains one model on N devices" MPI_NOTE ":\n"
    "--batch is the global batch (a multiple of N), each rank takes batch / N of its\n"
    "sequences, the gradients are summed over the ranks, rank 0 logs and saves.\n",
    specs, NSPECS, 0, train_outputs};

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

void train_opts_to_meta(const train_opts *o, dytcl_meta *md)
{
    for (int i = 0; i < NSPECS; i++) {
        char v[64];
        if (!(specs[i].tag & SAVED)) continue;
        opt_format(&specs[i], o, v, sizeof v);
        dytcl_meta_set(md, specs[i].name, v); /* "lr", "batch", ... */
    }
}

/* The checkpoint's training options (saved keys) into o. */
static int from_meta(train_opts *o, const dytcl_meta *md)
{
    for (int i = 0; i < NSPECS; i++) {
        const char *v = specs[i].tag & SAVED ? dytcl_meta_get(md, specs[i].name) : NULL;
        char why[512];
        if (v && opt_set(&specs[i], o, v, why, sizeof why))
            return cli_error("train", 1, "%s: the checkpoint's %s is malformed: %s", o->resume, specs[i].name, why);
    }
    return 0;
}

static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
    return 0;
}

/* The model options as a user would type them, for a config the library refuses. */
static void model_flags(const train_opts *o, char *buf, size_t cap)
{
    size_t k = 0;
    for (int i = 0; i < NSPECS && k < cap; i++) {
        char v[OPT_BUF_LEN];
        if (!(specs[i].tag & MODEL) || specs[i].kind == OPT_BUF) continue;
        opt_format(&specs[i], o, v, sizeof v);
        k += (size_t)snprintf(buf + k, cap - k, "%s--%s %s", k ? " " : "", specs[i].name, v);
    }
}

int train_opts_parse(int argc, char **argv, train_opts *o, dytcl_meta *md)
{
    defaults(o);
    /* a first pass finds --resume: its options are the defaults for the rest */
    for (int i = 1; i + 1 < argc && !wants_help(argc, argv); i++)
        if (!strcmp(argv[i], "--resume")) {
            snprintf(o->resume, sizeof o->resume, "%s", argv[i + 1]);
            if (dytcl_model_read_config(o->resume, &o->model, md))
                return cli_error("train", 1, "%s", dytcl_last_error(NULL));
            const char *dt = dytcl_meta_get(md, "dtype"); /* absent in older checkpoints: f32 */
            if (dt && strcmp(dt, "f32"))
                return cli_error("train", 1, "%s holds %s weights (dytcl export): an inference checkpoint; training "
                                 "resumes only from its f32 training checkpoint", o->resume, dt);
            if (from_meta(o, md)) return 1;
        } else if (!strcmp(argv[i], "--init")) { /* the model only: the training options stay the command line's */
            snprintf(o->init, sizeof o->init, "%s", argv[i + 1]);
            if (dytcl_model_read_config(o->init, &o->model, md))
                return cli_error("train", 1, "--init: %s", dytcl_last_error(NULL));
        }
    opt_seen seen;
    int rc = opt_parse(&train_cmd, argc, argv, o, &seen);
    if (rc >= 0) return rc;
    if (!o->data[0]) return cli_error("train", 2, "--data: required (a text or token file)");
    if (o->init[0] && o->resume[0]) return cli_error("train", 2, "--init: not with --resume");
    for (int i = 0; o->init[0] && i < NSPECS; i++)
        if (seen.given[i] && (specs[i].tag & MODEL) && strcmp(specs[i].name, "tokenizer"))
            return cli_error("train", 2, "--%s: not with --init, the model options come from %s", specs[i].name,
                             o->init);
    for (int i = 0; i < NSPECS; i++) {
        if (!strcmp(specs[i].name, "steps")) o->steps_given = seen.given[i];
        if (!strcmp(specs[i].name, "batch")) o->batch_given = seen.given[i];
    }
    for (int i = 0; o->resume[0] && i < NSPECS; i++) {
        if (!seen.given[i]) continue;
        if (!strcmp(specs[i].name, "seed"))
            return cli_error("train", 2, "--seed: not with --resume, the initialisation and data order continue from "
                                         "the checkpoint");
        if (specs[i].tag & MODEL)
            return cli_error("train", 2, "--%s: not with --resume, the model options come from the checkpoint",
                             specs[i].name);
    }
    if (o->warmup < 0) o->warmup = o->steps / 20;
    if (o->init[0] && o->seq > o->model.max_seq) {
        return cli_error("train", 2, "--seq: %d is longer than %s's max_seq %d", o->seq, o->init, o->model.max_seq);
    } else if (!o->resume[0] && !o->init[0]) {
        o->model.max_seq = o->seq;
        dytcl_model_config_defaults(&o->model);
        if (dytcl_model_config_check(&o->model)) {
            /* the library's reason, then the options in words */
            char why[512], flags[512];
            snprintf(why, sizeof why, "%s", dytcl_last_error(NULL));
            char *cut = strstr(why, " (arch ");
            if (cut) *cut = '\0';
            model_flags(o, flags, sizeof flags);
            return cli_error("train", 2, "%s (%s)", why, flags);
        }
    } else if (o->seq > o->model.max_seq) {
        int given = 0;
        for (int i = 0; i < NSPECS; i++)
            if (!strcmp(specs[i].name, "seq")) given = seen.given[i];
        if (given)
            return cli_error("train", 2, "--seq: %d is longer than the checkpoint's max_seq %d", o->seq,
                             o->model.max_seq);
        return cli_error("train", 1, "%s: the checkpoint's seq %d is longer than its max_seq %d: a damaged checkpoint",
                         o->resume, o->seq, o->model.max_seq);
    }
    return -1;
}
