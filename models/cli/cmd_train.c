/* cmd_train.c -- `dytcl train`: a language model from a text file (its
 * bytes the tokens, V = 256) or from subword tokens (--tokenizer: a text
 * encoded with it, or a token file it made; V its vocabulary, and the
 * tokenizer saved in the checkpoint). Validation loss in nats per token and
 * in bits per byte of the text, so the two compare.
 *
 * Each step: accum micro-batches of B x T tokens (forward, backward into one
 * gradient buffer), global-norm clipping and AdamW with warm-up then cosine
 * decay, and one device read (the step's losses and gradient norm). A live
 * line on a terminal, a CSV row per step, evaluation and DyT diagnostics
 * every N steps, checkpoints that resume bit-exactly.
 *
 * Under mpirun each process is a rank (dist.h): every rank draws the same
 * global batch and trains on its rows of it, the gradients are summed over
 * the ranks before the optimiser step, and rank 0 alone logs and saves. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "data.h"
#include "dist.h"
#include "dytcl_model.h"
#include "outputs.h"
#include "resume.h"
#include "signals.h"
#include "tokens.h"
#include "train_opts.h"

/* "train", or "train (rank 3)" on the ranks after the first */
static char who[32] = "train";

/* ------------------------------------------------------------ logging */

typedef struct {
    FILE *csv, *diag;       /* rank 0 only */
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
 * the guard's warning (once) to the terminal and into the CSV's last column. */
static int diagnose(dytcl_model *m, const logs *lg, const train_opts *o, sat_guard *g, int step)
{
    const dytcl_model_config *c = dytcl_model_get_config(m);
    if (c->norm != DYTCL_NORM_DYT && c->norm != DYTCL_NORM_DERF) return 0;
    int n = 2 * c->n_layer + 1, rc = -1, warn = -1;
    float *frac = malloc((size_t)n * 2 * sizeof *frac), *alpha = frac ? frac + n : NULL;
    double *f = malloc((size_t)n * sizeof *f);
    if (!g->streak) g->streak = calloc((size_t)n, sizeof *g->streak);
    if (!frac || !f || !g->streak) {
        free(frac), free(f);
        return cli_error(who, 1, "out of host memory for the diagnostics of %d layers", c->n_layer), -1;
    }
    if (dytcl_model_saturation(m, frac, alpha)) goto out;
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
        if (lg->diag) fprintf(lg->diag, "%d,%s,%.6g,%.6g,%s\n", step, name, alpha[i], frac[i], i == warn ? msg : "");
    }
    if (lg->diag) fflush(lg->diag);
    say(lg, "step %d: alpha normf %.4f, h.0.norm1 %.4f; largest |alpha x| > 2 fraction %.4f\n", step,
        alpha[n - 1], alpha[0], worst);
    if (warn >= 0) say(lg, "step %d: %s\n", step, msg);
    rc = 0;
out:
    free(frac), free(f);
    return rc;
}

/* ---------------------------------------------------------- checkpoints */

static int save(dytcl_model *m, const vocab *vb, const train_opts *o, int step, uint64_t rng)
{
    float norm;
    if (dytcl_model_param_norm(m, &norm)) return cli_error(who, 1, "%s", dytcl_last_error(dytcl_model_ctx(m))), -1;
    if (!isfinite(norm))
        return cli_error(who, 1,
                         "step %d: the parameters are no longer finite (norm %g); not saving over %s, which "
                         "keeps the last good checkpoint", step, norm, o->out), -1;
    dytcl_meta md = {0};
    char v[64];
    train_opts_to_meta(o, &md);
    snprintf(v, sizeof v, "%d", step);
    dytcl_meta_set(&md, "step", v);
    snprintf(v, sizeof v, "%llu", (unsigned long long)rng);
    dytcl_meta_set(&md, "data_rng", v);
    if (o->data_id[0]) dytcl_meta_set(&md, "data_id", o->data_id);
    if (vb->tm.tk && tokens_to_meta(&vb->tm, &md)) {
        dytcl_meta_clear(&md);
        return cli_error(who, 1, "out of host memory for the tokenizer's metadata"), -1;
    }
    int bad = dytcl_model_save(m, o->out, 1, &md) != DYTCL_OK;
    dytcl_meta_clear(&md);
    if (bad) return cli_error(who, 1, "%s", dytcl_last_error(dytcl_model_ctx(m))), -1;
    return 0;
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

/* Where the last good checkpoint of this run is, for a run that stops early. */
static const char *last_good(const train_opts *o, int saved_step, char *buf, size_t cap)
{
    if (!o->out[0]) snprintf(buf, cap, "no checkpoint: --out is empty");
    else if (saved_step < 0) snprintf(buf, cap, "no checkpoint was saved by this run; %s is not from it", o->out);
    else snprintf(buf, cap, "the last good checkpoint is %s, at step %d", o->out, saved_step);
    return buf;
}

static int train(dytcl_model *m, const text_data *d, const vocab *vb, const train_opts *o, int step0, uint64_t rng,
                 logs *lg)
{
    int N = dist_size();
    /* every rank draws the whole batch of B x T; rank r trains on rows [r B / N, (r + 1) B / N) */
    size_t BT = (size_t)o->batch * o->seq, shard = BT / N * dist_rank();
    int32_t *tok = malloc(BT * sizeof *tok), *tgt = malloc(BT * sizeof *tgt);
    float losses[64];
    int rc = 1;
    sat_guard guard = {0};
    if (!tok || !tgt) {
        cli_error(who, 1, "out of host memory");
        dist_abort(1);
        goto done;
    }
    /* warm-up, then cosine decay: dytcl_model_step takes each step's rate from the schedule */
    dytcl_model_optim opt = {.lr = o->lr, .min_lr_frac = o->min_lr_frac, .warmup = o->warmup, .steps = o->steps,
                             .beta1 = 0.9f, .beta2 = o->beta2, .eps = 1e-8f, .weight_decay = o->weight_decay,
                             .clip = o->clip, .decay_norm = o->decay_norm};
    double t_start = dytcl_now_ms(), tokens = 0, step_ms = 0;
    int step = step0, timed = 0;
    /* the step of the checkpoint at --out that this run stands on: none yet,
     * unless it resumed from that very file */
    int saved_step = o->resume[0] && o->out[0] && output_same_file(o->resume, o->out) ? step0 : -1;
    char where[1200];
    dist_stats ar0 = dist_get_stats();
    while (step < o->steps) {
        step++;
        double t_step = dytcl_now_ms();
        if (dytcl_model_zero_grad(m)) goto fail;
        for (int a = 0; a < o->accum; a++) {
            text_data_train_batch(d, o->batch, o->seq, &rng, tok, tgt);
            /* each rank's mean over its rows, / N: the sum over the ranks is the batch's mean */
            if (dytcl_model_forward(m, tok + shard, tgt + shard) ||
                dytcl_model_backward(m, 1.0f / (float)(o->accum * N)))
                goto fail;
        }
        if (dist_allreduce_grads(m)) goto fail;
        float gnorm;
        if (dytcl_model_step(m, &opt, step) || dytcl_model_step_stats(m, losses, o->accum, &gnorm)) goto fail;
        double loss = 0;
        for (int a = 0; a < o->accum; a++) loss += losses[a] / o->accum;
        dist_sum(&loss, 1);
        loss /= N;
        if (step > step0 + 1) step_ms += dytcl_now_ms() - t_step, timed++;
        else ar0 = dist_get_stats(); /* the run's first step (compiling kernels) is not timed */
        tokens += (double)BT * o->accum;
        double elapsed = (dytcl_now_ms() - t_start) / 1e3, tok_s = tokens / elapsed;
        /* the loss and the gradient norm are the same on every rank: all stop together */
        if (!isfinite(loss) || !isfinite(gnorm)) {
            say(lg, "\n");
            if (!lg->quiet)
                cli_error(who, 1, "step %d: the loss (%g) or gradient norm (%g) is not finite; stopping without saving "
                          "(%s)", step, loss, gnorm, last_good(o, saved_step, where, sizeof where));
            goto done;
        }
        double val = NAN, bpb = NAN;
        int last = step == o->steps || step == o->stop_at || (o->time_limit > 0 && elapsed >= o->time_limit);
        if (o->time_limit > 0) last = dist_bcast_int(last); /* rank 0's clock decides */
        int sig = signals_pending();
        if (N > 1) sig = dist_max_int(sig); /* a signal to any rank stops all */
        last |= sig != 0;
        if ((o->eval_every > 0 && step % o->eval_every == 0) || last) {
            if (evaluate(m, d, vb, o, shard, tok, tgt, &val, &bpb)) goto fail;
            say(lg, "step %d: train loss %.4f, val loss %.4f (%.4f bits/byte), %.0f tok/s\n", step, loss, val, bpb,
                tok_s);
        }
        if (o->diag_every > 0 && (step % o->diag_every == 0 || last) && diagnose(m, lg, o, &guard, step)) goto fail;
        char vs[32] = "", bs[32] = "";
        if (!isnan(val)) snprintf(vs, sizeof vs, "%.6f", val);
        if (!isnan(bpb)) snprintf(bs, sizeof bs, "%.6f", bpb);
        if (lg->csv) {
            fprintf(lg->csv, "%d,%.6g,%.6f,%.6f,%s,%.1f,%.3f,%s\n", step, dytcl_lr_at(&opt, step), loss, gnorm, vs,
                    tok_s, elapsed, bs);
            fflush(lg->csv);
        }
        progress(lg, o, step, (float)loss, tok_s, elapsed);
        if (o->out[0] && ((o->save_every > 0 && step % o->save_every == 0) || last)) {
            int saved = dist_rank() > 0 || !save(m, vb, o, step, rng); /* rank 0 writes */
            if (!dist_all_ok(saved)) goto done;
            saved_step = step;
        }
        if (sig) { /* stopped at the end of this step; its checkpoint (if any) is complete */
            say(lg, "\n");
            if (!lg->quiet)
                cli_error(who, 128 + sig, "%s at step %d: stopped (%s)", signals_name(sig), step,
                          last_good(o, saved_step, where, sizeof where));
            rc = 128 + sig;
            goto done;
        }
        if (last) break;
    }
    say(lg, "trained to step %d%s%s\n", step, o->out[0] ? "; checkpoint " : "", o->out);
    if (report(m, lg, step_ms, timed, (double)BT * o->accum, ar0)) goto fail;
    rc = 0;
    goto done;
fail:
    say(lg, "\n");
    cli_error(who, 1, "%s", dytcl_last_error(dytcl_model_ctx(m)));
    dist_abort(1); /* the other ranks may be waiting for this one */
done:
    free(tok), free(tgt), free(guard.streak);
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

/* Before any work (rank 0): --out and --log are neither input however
 * spelled, hold nothing of another kind (unless --force), lie in writable
 * directories, and are locked against a second run. */
static int claim_outputs(const train_opts *o, output_lock locks[2])
{
    char err[1400], diag[1100];
    snprintf(diag, sizeof diag, "%s.diag.csv", o->log);
    const char *ins_out[] = {o->data, o->log, diag, o->tokenizer}, *ins_log[] = {o->data, o->resume, o->out, o->tokenizer};
    if ((o->out[0] && output_check("--out", o->out, output_is_checkpoint, "a checkpoint", ins_out, 4, o->force, err,
                                   sizeof err)) ||
        output_check("--log", o->log, output_is_train_log, "a training log", ins_log, 4, o->force, err, sizeof err) ||
        (o->out[0] && output_lock_take(&locks[0], o->out, err, sizeof err)) || output_lock_take(&locks[1], o->log, err, sizeof err))
        return cli_error(who, 1, "%s", err);
    return 0;
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
            cli_error(who, 2, "--batch %d does not divide among %d ranks: each rank takes batch / ranks of the "
                              "sequences of every batch; make --batch a multiple of %d", o.batch, N, N);
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
    output_lock locks[2] = {{.fd = -1}, {.fd = -1}};
    if (!lg.quiet && claim_outputs(&o, locks)) goto ready;
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
        if (resume_state(&md, o.resume, o.steps, &step0, &rng, err, sizeof err) ||
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
    if (!lg.quiet) { /* rank 0 logs */
        lg.tty = isatty(2);
        char diag_path[1100];
        snprintf(diag_path, sizeof diag_path, "%s.diag.csv", o.log);
        if (step0 && (output_log_truncate(o.log, step0, err, sizeof err) || /* rows past the checkpoint go */
                      output_log_truncate(diag_path, step0, err, sizeof err))) {
            cli_error(who, 1, "%s", err);
            goto ready;
        }
        lg.csv = fopen(o.log, step0 ? "a" : "w");
        if (!lg.csv) {
            cli_error(who, 1, "cannot write the log %s", o.log);
            goto ready;
        }
        if (!step0) fprintf(lg.csv, "step,lr,loss,grad_norm,val_loss,tokens_per_s,elapsed_s,val_bpb\n");
        if (o.diag_every > 0) {
            char path[1100];
            snprintf(path, sizeof path, "%s.diag.csv", o.log);
            lg.diag = fopen(path, step0 ? "a" : "w");
            if (lg.diag && !step0) fprintf(lg.diag, "step,norm,alpha,saturated_fraction,warning\n");
        }
    }
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
    signals_install(); /* from here a first SIGINT/SIGTERM ends the step and saves */
    rc = train(m, d, &vb, &o, step0, rng, &lg);
done:
    output_lock_release(&locks[0]), output_lock_release(&locks[1]);
    if (lg.csv) fclose(lg.csv);
    if (lg.diag) fclose(lg.diag);
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
