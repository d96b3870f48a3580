/* cmd_train.c -- `dytcl train`: a language model from a text file (its
 * bytes the tokens, V = 256) or from subword tokens (--tokenizer: a text
 * encoded with it, or a token file it made; V its vocabulary, and the
 * tokenizer saved in the checkpoint). Validation loss in nats per token and
 * in bits per byte of the text, so the two compare.
 *
 * Each step (the trainer's loop, trainer.h, shared with train-image): accum
 * micro-batches of B x T tokens (forward, backward into one gradient
 * buffer), global-norm clipping and AdamW with warm-up then cosine decay, and
 * one device read (the step's losses and gradient norm). This file is the
 * data source: a live line on a terminal, a CSV row per step, evaluation and
 * DyT diagnostics every N steps; checkpoints resume bit-exactly.
 *
 * Under mpirun each process is a rank (dist.h): every rank draws the same
 * global batch and trains on its rows of it, the gradients are summed over
 * the ranks before the optimiser step, and rank 0 alone logs and saves. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "data.h"
#include "dist.h"
#include "dytcl_model.h"
#include "outputs.h"
#include "resume.h"
#include "trainer.h"
#include "tokens.h"
#include "train_opts.h"

/* "train", or "train (rank 3)" on the ranks after the first */
static char who[32] = "train";

/* ------------------------------------------------------------ logging */

typedef struct {
    out_file *csv, *diag;   /* rank 0 only (diag: with --diag-every) */
    int tty;
    int quiet;              /* ranks after the first: no output but errors */
} logs;

static void progress(const logs *lg, const train_opts *o, int step, float loss, double tok_s, double elapsed)
{
    if (!lg->tty || lg->quiet) return;
    double left = o->steps - step, eta = step > 0 ? elapsed / step * left : 0;
    if (o->time_limit > 0 && o->time_limit - elapsed < eta) eta = o->time_limit - elapsed;
    fprintf(stderr, "\r\033[Kstep %d/%d  loss %.4f  %.0f tok/s  ETA %dm%02ds", step, o->steps, loss, tok_s,
            (int)eta / 60, (int)eta % 60);
    fflush(stderr);
}

/* The line a terminal keeps (progress lines are overwritten). */
static void say(const logs *lg, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void say(const logs *lg, const char *fmt, ...)
{
    va_list ap;
    if (lg->quiet) return;
    if (lg->tty) fprintf(stderr, "\r\033[K");
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* What the tokens are: the tokenizer (tm.tk NULL: bytes) and the bytes of
 * text each token id stands for [V]. */
typedef struct {
    tokens_model tm;
    double *bytes_per_id;
} vocab;

/* ---------------------------------------------------------- evaluation */

/* The mean loss over (at most max_batches of) the validation split,
 * weighting each batch by its targets, and the same in bits per byte: the
 * targets' nats / the bytes of text they stand for / ln 2. Every rank
 * evaluates its rows of each batch (`shard` is the offset of its first
 * token) and the sums are added over the ranks. */
static int evaluate(dytcl_model *m, const text_data *d, const vocab *vb, const train_opts *o, size_t shard,
                    int32_t *tok, int32_t *tgt, double *out, double *bpb)
{
    int nb = text_data_val_batches(d, o->batch, o->seq);
    if (o->eval_batches > 0 && nb > o->eval_batches) nb = o->eval_batches;
    size_t BT = (size_t)o->batch * o->seq / dist_size();
    double sum[3] = {0, 0, 0}; /* loss x targets, targets, their bytes */
    for (int i = 0; i < nb; i++) {
        text_data_val_batch(d, i, o->batch, o->seq, tok, tgt);
        int valid = 0;
        for (size_t j = 0; j < BT; j++)
            if (tgt[shard + j] != -1) valid++, sum[2] += vb->bytes_per_id[tgt[shard + j]];
        float loss;
        /* a shard past the end of the split still runs, for the diagnostics of the last batch */
        if (dytcl_model_forward(m, tok + shard, tgt + shard) || (valid && dytcl_model_read_loss(m, &loss))) return -1;
        if (valid) sum[0] += (double)loss * valid, sum[1] += valid;
    }
    dist_sum(sum, 3);
    *out = sum[1] ? sum[0] / sum[1] : NAN;
    *bpb = sum[2] > 0 ? sum[0] / sum[2] / log(2.0) : NAN;
    return 0;
}

/* The saturation guard: a DyT/Derf layer with more than SAT_FRAC of its
 * inputs at |alpha x| > 2 (Derf: |alpha x + shift| > 2) at SAT_RUNS
 * diagnostics in a row acts as a sign function and passes little gradient
 * back: the run says so once, naming the layer. */
#define SAT_FRAC 0.9
#define SAT_RUNS 3

typedef struct {
    int *streak;      /* [2L + 1]: diagnostics in a row above SAT_FRAC */
    int warned;
} sat_guard;

/* The flag that sets the alpha0 of norm i (norm1, norm2, normf order). */
static const char *alpha_flag(int i, int n) { return i == n - 1 ? "--alpha-final" : i % 2 ? "--alpha-ffn" : "--alpha-attn"; }

/* α and the saturated fraction of every DyT/Derf input, to the diag CSV;
 * the guard's warning (once) to the terminal and into the CSV's last column.
 * 0, or 1 after reporting a failure. */
static int diagnose(dytcl_model *m, const logs *lg, const train_opts *o, sat_guard *g, int step)
{
    const dytcl_model_config *c = dytcl_model_get_config(m);
    if (c->norm != DYTCL_NORM_DYT && c->norm != DYTCL_NORM_DERF) return 0;
    int n = 2 * c->n_layer + 1, rc = 1, warn = -1;
    float *frac = malloc((size_t)n * 2 * sizeof *frac), *alpha = frac ? frac + n : NULL;
    double *f = malloc((size_t)n * sizeof *f);
    if (!g->streak) g->streak = calloc((size_t)n, sizeof *g->streak);
    if (!frac || !f || !g->streak) {
        free(frac), free(f);
        return cli_error(who, 1, "out of host memory for the diagnostics of %d layers", c->n_layer);
    }
    if (dytcl_model_saturation(m, frac, alpha)) {
        cli_error(who, 1, "%s", dytcl_last_error(dytcl_model_ctx(m)));
        goto out;
    }
    if (dist_size() > 1) { /* over the whole batch: the mean of the ranks' equal shares */
        for (int i = 0; i < n; i++) f[i] = frac[i];
        dist_sum(f, n);
        for (int i = 0; i < n; i++) frac[i] = (float)(f[i] / dist_size());
    }
    double worst = 0;
    for (int i = 0; i < n; i++) {
        g->streak[i] = frac[i] > SAT_FRAC ? g->streak[i] + 1 : 0;
        if (!g->warned && g->streak[i] >= SAT_RUNS && (warn < 0 || frac[i] > frac[warn])) warn = i;
        if (frac[i] > worst) worst = frac[i];
    }
    char name[32], wname[32] = "", msg[512] = "";
    if (warn >= 0) {
        g->warned = 1;
        if (warn == n - 1) snprintf(wname, sizeof wname, "normf");
        else snprintf(wname, sizeof wname, "h.%d.norm%d", warn / 2, warn % 2 + 1);
        snprintf(msg, sizeof msg,
                 "warning: %s (%s) saturates: %.0f%% of its inputs have |alpha x| > 2 at %d diagnostics in a "
                 "row (more than %.0f%%); it passes little gradient. Try a lower --lr (now %g) or a smaller %s (now "
                 "%g); see the README's DyT recipe",
                 wname, dytcl_norm_kind_name(c->norm), 100.0 * frac[warn], g->streak[warn], 100.0 * SAT_FRAC,
                 (double)o->lr, alpha_flag(warn, n), (double)alpha[warn]);
    }
    for (int i = 0; i < n; i++) {
        if (i == n - 1) snprintf(name, sizeof name, "normf");
        else snprintf(name, sizeof name, "h.%d.norm%d", i / 2, i % 2 + 1);
        if (lg->diag && out_printf(lg->diag, "%d,%s,%.6g,%.6g,%s\n", step, name, alpha[i], frac[i], i == warn ? msg : "")) {
            rc = 1;
            goto out;
        }
    }
    say(lg, "step %d: alpha normf %.4f, h.0.norm1 %.4f; largest |alpha x| > 2 fraction %.4f\n", step,
        alpha[n - 1], alpha[0], worst);
    if (warn >= 0) say(lg, "step %d: %s\n", step, msg);
    rc = 0;
out:
    free(frac), free(f);
    return rc;
}

/* ----------------------------------------------------------------- main */

/* The mean step time (forward, backward, all-reduce, AdamW, the stats read)
 * and the all-reduce's share of it, over the steps after the run's first
 * (which compiles kernels); and whether the ranks' parameters still agree
 * bit for bit, as they should. */
static int report(dytcl_model *m, logs *lg, double step_ms, int timed, double tokens_per_step, dist_stats ar0)
{
    int N = dist_size();
    if (timed > 0) {
        double ms = step_ms / timed;
        say(lg, "step time: %.1f ms/step, %.0f tok/s (mean of %d steps after the first)\n", ms,
            tokens_per_step / ms * 1e3, timed);
        if (N > 1) {
            dist_stats s = dist_get_stats();
            double ar = (s.total_ms - ar0.total_ms) / timed, in_mpi = (s.mpi_ms - ar0.mpi_ms) / timed;
            say(lg, "all-reduce: %.2f ms/step (%.1f%% of the step; %.2f ms of it in MPI), %d ranks\n", ar,
                100 * ar / ms, in_mpi, N);
        }
    }
    if (N > 1) {
        float norm;
        if (dytcl_model_param_norm(m, &norm)) return -1;
        int32_t bits;
        memcpy(&bits, &norm, sizeof bits);
        int same = dist_max_int(bits) == ~dist_max_int(~bits); /* the largest equals the smallest */
        say(lg, "%d ranks: the parameters are %s on every rank\n", N, same ? "identical" : "NOT identical");
    }
    return 0;
}

/* ------------------------------------------------- the trainer's source */

/* A run of dytcl train as the trainer's data source (trainer.h): every
 * rank draws the whole batch of B x T; rank r trains on rows
 * [r B / N, (r + 1) B / N), `shard` tokens in. */
typedef struct {
    const train_opts *o;
    const text_data *d;
    const vocab *vb;
    logs *lg;
    int32_t *tok, *tgt;
    size_t shard;
    uint64_t rng;       /* the data generator's state */
    int step0;
    double val, bpb;    /* the last evaluation's */
    sat_guard guard;
    dist_stats ar0;     /* the all-reduce's time before the first timed step */
} text_run;

static int text_forward(void *self, dytcl_model *m, int step, int micro)
{
    text_run *r = self;
    (void)step, (void)micro;
    text_data_train_batch(r->d, r->o->batch, r->o->seq, &r->rng, r->tok, r->tgt);
    return dytcl_model_forward(m, r->tok + r->shard, r->tgt + r->shard) ? -1 : 0;
}

static int text_evaluate(void *self, dytcl_model *m, const trainer_step *st)
{
    text_run *r = self;
    if (evaluate(m, r->d, r->vb, r->o, r->shard, r->tok, r->tgt, &r->val, &r->bpb)) return -1;
    say(r->lg, "step %d: train loss %.4f, val loss %.4f (%.4f bits/byte), %.0f tok/s\n", st->step, st->loss, r->val,
        r->bpb, st->items / st->elapsed);
    return 0;
}

static int text_after_step(void *self, dytcl_model *m, const trainer_step *st)
{
    text_run *r = self;
    const train_opts *o = r->o;
    double tok_s = st->items / st->elapsed;
    if (st->step == r->step0 + 1) r->ar0 = dist_get_stats(); /* the run's first step (compiling kernels) is not timed */
    if (o->diag_every > 0 && (st->step % o->diag_every == 0 || st->last) && diagnose(m, r->lg, o, &r->guard, st->step))
        return 1;
    char vs[32] = "", bs[32] = "";
    if (st->evaluated && !isnan(r->val)) snprintf(vs, sizeof vs, "%.6f", r->val);
    if (st->evaluated && !isnan(r->bpb)) snprintf(bs, sizeof bs, "%.6f", r->bpb);
    if (r->lg->csv && out_printf(r->lg->csv, "%d,%.6g,%.6f,%.6f,%s,%.1f,%.3f,%s\n", st->step, st->lr, st->loss,
                                 st->grad_norm, vs, tok_s, st->elapsed, bs))
        return 1;
    progress(r->lg, o, st->step, (float)st->loss, tok_s, st->elapsed);
    return 0;
}

static int text_to_meta(void *self, dytcl_meta *md, int step)
{
    text_run *r = self;
    char v[64];
    int bad = 0;
    train_opts_to_meta(r->o, md);
    snprintf(v, sizeof v, "%d", step), bad |= dytcl_meta_set(md, "step", v) != DYTCL_OK;
    snprintf(v, sizeof v, "%llu", (unsigned long long)r->rng), bad |= dytcl_meta_set(md, "data_rng", v) != DYTCL_OK;
    if (r->o->data_id[0]) bad |= dytcl_meta_set(md, "data_id", r->o->data_id) != DYTCL_OK;
    if (r->vb->tm.tk) bad |= tokens_to_meta(&r->vb->tm, md) != 0;
    return bad ? -1 : 0;
}

static int text_finish(void *self, dytcl_model *m, int step, const trainer_timing *t)
{
    text_run *r = self;
    say(r->lg, "trained to step %d%s%s\n", step, r->o->out[0] ? "; checkpoint " : "", r->o->out);
    if (report(m, r->lg, t->step_ms, t->timed, (double)r->o->batch * r->o->seq * r->o->accum, r->ar0))
        return cli_error(who, 1, "%s", dytcl_last_error(dytcl_model_ctx(m)));
    return 0;
}

static int train(dytcl_model *m, const text_data *d, const vocab *vb, const train_opts *o, int step0, uint64_t rng,
                 logs *lg, out_file *out)
{
    int N = dist_size();
    size_t BT = (size_t)o->batch * o->seq;
    text_run r = {o, d, vb, lg, malloc(BT * sizeof(int32_t)), malloc(BT * sizeof(int32_t)), BT / N * dist_rank(),
                  rng, step0, NAN, NAN, {0}, dist_get_stats()};
    int rc = 1;
    if (!r.tok || !r.tgt) {
        cli_error(who, 1, "out of host memory");
        dist_abort(1);
    } else {
        /* warm-up, then cosine decay: dytcl_model_step takes each step's rate from the schedule */
        trainer_config c = {.who = who,
                            .optim = {.lr = o->lr, .min_lr_frac = o->min_lr_frac, .warmup = o->warmup,
                                      .steps = o->steps, .beta1 = 0.9f, .beta2 = o->beta2, .eps = 1e-8f,
                                      .weight_decay = o->weight_decay, .clip = o->clip, .decay_norm = o->decay_norm},
                            .step0 = step0, .accum = o->accum, .eval_every = o->eval_every, .eval_last = 1,
                            .save_every = o->save_every, .saves = o->out[0] != '\0', .out = out,
                            .out_is_resume = o->resume[0] && o->out[0] && output_same_file(o->resume, o->out),
                            .stop_at = o->stop_at, .time_limit = o->time_limit,
                            .items_per_step = (double)BT * o->accum};
        trainer_source src = {&r, text_forward, text_evaluate, text_after_step, text_to_meta, text_finish};
        rc = trainer_run(m, &c, &src);
    }
    free(r.tok), free(r.tgt), free(r.guard.streak);
    return rc;
}

/* "; 2 ranks x batch 8 on devices 0, 1" (every rank's device index), or
 * nothing for a single process. */
static void describe_ranks(char *out, size_t cap, int batch, int device)
{
    int N = dist_size();
    if (N < 2) return;
    int *devs = malloc((size_t)N * sizeof *devs);
    if (!devs) {
        cli_error(who, 1, "out of host memory");
        dist_abort(1);
        return;
    }
    dist_allgather_int(device, devs);
    size_t k = (size_t)snprintf(out, cap, "; %d ranks x batch %d on devices", N, batch / N);
    for (int r = 0; r < N && k + 16 < cap; r++)
        k += (size_t)snprintf(out + k, cap - k, "%s%d", r ? ", " : " ", devs[r]);
    free(devs);
}

/* The tokenizer: --tokenizer's (the model's vocabulary becomes its size;
 * with --init it must be the model's), a resumed checkpoint's, the --init
 * model's, or none (bytes); and the bytes of its tokens. */
static int load_vocab(train_opts *o, const dytcl_meta *md, vocab *vb, char *err, size_t cap)
{
    if (o->tokenizer[0]) {
        if (input_check("--tokenizer", o->tokenizer, err, cap) || tokens_load_file(o->tokenizer, &vb->tm, err, cap))
            return -1;
        if (!o->init[0]) o->model.vocab = dytcl_tokenizer_vocab(vb->tm.tk);
        if (dytcl_model_config_check(&o->model)) return snprintf(err, cap, "%s", dytcl_last_error(NULL)), -1;
    } else if (o->resume[0] && tokens_from_meta(md, o->resume, &vb->tm, err, cap)) {
        return -1;
    } else if (o->init[0] && tokens_for_model(o->init, md, o->model.vocab, &vb->tm, err, cap)) {
        return -1;
    }
    const int tv = vb->tm.tk ? dytcl_tokenizer_vocab(vb->tm.tk) : 256;
    if ((vb->tm.tk || o->init[0]) && tv != o->model.vocab)
        return snprintf(err, cap, "%.300s: the model's vocabulary is %d, the data's tokenizer's (%.300s) %d",
                        o->init[0] ? o->init : o->resume, o->model.vocab,
                        o->tokenizer[0] ? o->tokenizer : vb->tm.tk ? "the model's own" : "bytes", tv), -1;
    if (!(vb->bytes_per_id = malloc((size_t)o->model.vocab * sizeof *vb->bytes_per_id)))
        return snprintf(err, cap, "out of host memory"), -1;
    tokens_bytes_per_id(&vb->tm, o->model.vocab, vb->bytes_per_id);
    return 0;
}

/* --data: a token file (needs the tokenizer that made it), a text encoded
 * with the tokenizer, or a text as bytes. */
static int load_data(const train_opts *o, const vocab *vb, text_data **d, char *err, size_t cap)
{
    if (text_data_is_token_file(o->data)) {
        if (!vb->tm.tk)
            return snprintf(err, cap, "%s is a token file: give --tokenizer, the tokenizer that made it", o->data), -1;
        return text_data_load_tokens(o->data, o->model.vocab, o->val_fraction, o->seq, 0, d, err, cap);
    }
    if (!vb->tm.tk) return text_data_load(o->data, o->val_fraction, o->seq, 0, d, err, cap);
    uint8_t *text;
    int32_t *ids = NULL;
    size_t n, count;
    if (data_read_file(o->data, 0, &text, &n, err, cap)) return -1;
    int rc = dytcl_tokenizer_encode(vb->tm.tk, (const char *)text, n, &ids, &count) ? -1 : 0;
    if (rc) {
        snprintf(err, cap, "%.600s: %.512s", o->data, dytcl_last_error(NULL));
    } else {
        rc = text_data_from_tokens(ids, count, o->model.vocab, o->val_fraction, o->seq, d, err, cap);
    }
    free(text), free(ids);
    return rc;
}

/* Options, data, device, model and logs, then training. Every rank runs
 * this; a failure anywhere in the set-up stops all of them. */
static int run(int argc, char **argv)
{
    train_opts o;
    dytcl_meta md = {0};
    /* every rank reads the options (and a checkpoint's); what is wrong with them is said once, by rank 0 */
    dist_mute(1);
    int rc = train_opts_parse(argc, argv, &o, &md);
    dist_mute(0);
    int worst = dist_max_int(rc); /* -1: go on, 0: --help, 1: failure, 2: usage */
    if (worst >= 0) {
        if (rc < 0 && dist_rank() == 0)
            cli_error(who, worst, "another rank could not read the options or the checkpoint (run it there alone "
                                  "to see why)");
        dytcl_meta_clear(&md);
        return worst;
    }
    int N = dist_size();
    if (o.batch % N) {
        if (dist_rank() == 0)
            cli_error(who, 2, "%s %d does not divide among %d ranks: each rank takes batch / ranks of the sequences "
                      "of every batch; make --batch a multiple of %d", o.batch_given || !o.resume[0] ? "--batch"
                      : "the resumed checkpoint's batch", o.batch, N, N);
        dytcl_meta_clear(&md);
        return 2;
    }

    char err[1200], dev[32];
    text_data *d = NULL;
    vocab vb = {0};
    dytcl_ctx *ctx = NULL;
    dytcl_model *m = NULL;
    logs lg = {0};
    int ok = 0, step0 = 0;
    uint64_t rng = o.seed;
    dytcl_ctx_options copt = {.device = dist_device(dev, sizeof dev)};
    lg.quiet = dist_rank() > 0;
    rc = 1;
    trainer_files files = {.out = NULL}; /* rank 0's: --out, --log and LOG.diag.csv */
    /* --init is an input too (a Hugging Face directory: its weights file) */
    char init_file[PATH_MAX];
    struct stat init_st;
    if (o.init[0] && stat(o.init, &init_st) == 0 && S_ISDIR(init_st.st_mode))
        snprintf(init_file, sizeof init_file, "%.*s/model.safetensors", PATH_MAX - 40, o.init);
    else
        snprintf(init_file, sizeof init_file, "%s", o.init);
    const char *in_opt[] = {"--data", "--tokenizer", "--init"}, *in[] = {o.data, o.tokenizer, init_file};
    outs_init(&files.set, who, 0);
    if (!lg.quiet && trainer_claim(&files, who, o.force, o.out, o.log, output_is_train_log, "a training log", 1,
                                   o.resume, in_opt, in, 3))
        goto ready;
    if (input_check("--data", o.data, err, sizeof err)) { /* before any open: a FIFO would block it */
        cli_error(who, 1, "%s", err);
        goto ready;
    }
    if (resume_data_id(o.data, o.data_id, sizeof o.data_id)) o.data_id[0] = '\0'; /* unreadable: load says why */
    if (load_vocab(&o, &md, &vb, err, sizeof err) || load_data(&o, &vb, &d, err, sizeof err)) {
        cli_error(who, 1, "%s", err);
        goto ready;
    }
    if (dytcl_ctx_create(&copt, &ctx)) {
        cli_error(who, 1, "%s", dytcl_last_error(NULL));
        goto ready;
    }
    if (o.resume[0]) {
        int has_opt = 0;
        if (dytcl_model_load(ctx, o.resume, NULL, &has_opt, &m)) {
            cli_error(who, 1, "%s", dytcl_last_error(ctx));
            goto ready;
        }
        float norm = 0;
        if (!has_opt) {
            cli_error(who, 1, "%s: not a training checkpoint (no optimiser state)", o.resume);
            goto ready;
        }
        char limit[96];
        if (o.steps_given) snprintf(limit, sizeof limit, "--steps %d", o.steps);
        else snprintf(limit, sizeof limit, "its %d steps (give --steps to train further)", o.steps);
        if (resume_position(&md, o.resume, "step", "data_rng", o.steps, limit, &step0, &rng, err, sizeof err) ||
            resume_same_data(&md, o.resume, o.data, o.data_id, o.force, err, sizeof err)) {
            cli_error(who, 1, "%s", err);
            goto ready;
        }
        if (dytcl_model_param_norm(m, &norm) || !isfinite(norm)) {
            cli_error(who, 1, "%s: the parameters are not finite (norm %g): not a checkpoint to resume from",
                      o.resume, norm);
            goto ready;
        }
    } else if (o.init[0] ? dytcl_model_load(ctx, o.init, NULL, NULL, &m) : dytcl_model_create(ctx, &o.model, o.seed, &m)) {
        cli_error(who, 1, "%s", dytcl_last_error(ctx));
        goto ready;
    }
    if (dytcl_model_set_batch(m, o.batch / N, o.seq)) {
        cli_error(who, 1, "%s", dytcl_last_error(ctx));
        goto ready;
    }
    if (dist_grads_init(dytcl_model_param_count(dytcl_model_get_config(m)))) {
        cli_error(who, 1, "out of host memory for the all-reduce (%zu gradients)",
                  dytcl_model_param_count(dytcl_model_get_config(m)));
        goto ready;
    }
    lg.tty = !lg.quiet && isatty(2);
    /* rank 0 logs (--log "": none); a resumed run keeps the rows up to its checkpoint, diagnostics too */
    if (step0 && !o.diag_every && files.diag && out_log_keep(files.diag, step0)) goto ready;
    if (trainer_open_log(files.log, step0 != 0, step0,
                         "step,lr,loss,grad_norm,val_loss,tokens_per_s,elapsed_s,val_bpb\n") ||
        (o.diag_every > 0 &&
         trainer_open_log(files.diag, step0 != 0, step0, "step,norm,alpha,saturated_fraction,warning\n")))
        goto ready;
    lg.csv = files.log, lg.diag = o.diag_every > 0 ? files.diag : NULL;
    ok = 1;
ready:
    if (!dist_all_ok(ok)) goto done;
    dytcl_device_info info;
    dytcl_ctx_device(ctx, &info);
    const dytcl_model_config *c = dytcl_model_get_config(m);
    char ranks[256] = "";
    describe_ranks(ranks, sizeof ranks, o.batch, info.index);
    say(&lg, "%s-%s: %d layers, d_model %d, %d heads, d_ff %d, vocab %d, %zu parameters; %s; %zu train / %zu val %s%s%s\n",
        dytcl_arch_name(c->arch), dytcl_norm_kind_name(c->norm), c->n_layer, c->d_model, c->n_head, c->d_ff, c->vocab,
        dytcl_model_param_count(c), info.name, text_data_size(d, 0), text_data_size(d, 1),
        vb.tm.tk ? "tokens" : "bytes", ranks, step0 ? "; resumed" : "");
    rc = train(m, d, &vb, &o, step0, rng, &lg, files.out);
    if ((out_close(lg.csv) | out_close(lg.diag)) && !rc) rc = 1; /* a log that did not reach the disk */
done:
    outs_release(&files.set);
    dytcl_model_free(m);
    dytcl_ctx_free(ctx);
    text_data_free(d);
    tokens_free(&vb.tm), free(vb.bytes_per_id);
    dytcl_meta_clear(&md);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    if (dist_init()) return 1;
    if (dist_rank() > 0) snprintf(who, sizeof who, "train (rank %d)", dist_rank());
    int rc = run(argc, argv);
    dist_finalize();
    return rc;
}
