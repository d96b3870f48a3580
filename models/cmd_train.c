/* cmd_train.c -- `dytcl train`: a byte-level language model from a text file.
 *
 * Each step: accum micro-batches of B x T tokens (forward, backward into one
 * gradient buffer), global-norm clipping and AdamW with warm-up then cosine
 * decay, and one device read (the step's losses and gradient norm). A live
 * line on a terminal, a CSV row per step, evaluation and DyT diagnostics
 * every N steps, checkpoints that resume bit-exactly. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli.h"
#include "data.h"
#include "train_opts.h"

/* ----------------------------------------------------------- schedule */

/* Linear warm-up to lr over `warmup` steps, then cosine to lr * min_lr_frac. */
static float lr_at(const train_opts *o, int step)
{
    if (step <= o->warmup) return o->lr * (float)step / (float)(o->warmup > 0 ? o->warmup : 1);
    double p = (double)(step - o->warmup) / (double)(o->steps - o->warmup > 0 ? o->steps - o->warmup : 1);
    if (p > 1) p = 1;
    double lo = o->lr * o->min_lr_frac;
    return (float)(lo + 0.5 * (o->lr - lo) * (1 + cos(3.141592653589793 * p)));
}

/* ------------------------------------------------------------ logging */

typedef struct {
    FILE *csv, *diag;
    int tty;
    double t0;
} logs;

static void progress(const logs *lg, const train_opts *o, int step, float loss, double tok_s, double elapsed)
{
    if (!lg->tty) return;
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
    if (lg->tty) fprintf(stderr, "\r\033[K");
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* ---------------------------------------------------------- evaluation */

/* The mean loss over (at most max_batches of) the validation split,
 * weighting each batch by its targets. */
static int evaluate(model *m, const text_data *d, const train_opts *o, int32_t *tok, int32_t *tgt, double *out)
{
    int nb = text_data_val_batches(d, o->batch, o->seq);
    if (o->eval_batches > 0 && nb > o->eval_batches) nb = o->eval_batches;
    double sum = 0, count = 0;
    for (int i = 0; i < nb; i++) {
        text_data_val_batch(d, i, o->batch, o->seq, tok, tgt);
        int valid = 0;
        for (int j = 0; j < o->batch * o->seq; j++) valid += tgt[j] != -1;
        float loss;
        if (model_forward(m, tok, tgt) || model_read_loss(m, &loss)) return -1;
        sum += (double)loss * valid, count += valid;
    }
    *out = count ? sum / count : NAN;
    return 0;
}

/* α and the saturated fraction of every DyT/Derf input, to the diag CSV. */
static int diagnose(model *m, const logs *lg, int step)
{
    const model_config *c = model_cfg(m);
    if (c->norm != NORM_DYT && c->norm != NORM_DERF) return 0;
    int n = 2 * c->n_layer + 1;
    float frac[2 * 256 + 1], alpha[2 * 256 + 1];
    if (n > (int)(sizeof frac / sizeof frac[0]) || model_saturation(m, frac, alpha)) return -1;
    double worst = 0;
    for (int i = 0; i < n; i++) {
        char name[32];
        if (i == n - 1) snprintf(name, sizeof name, "normf");
        else snprintf(name, sizeof name, "h.%d.norm%d", i / 2, i % 2 + 1);
        if (lg->diag) fprintf(lg->diag, "%d,%s,%.6g,%.6g\n", step, name, alpha[i], frac[i]);
        if (frac[i] > worst) worst = frac[i];
    }
    if (lg->diag) fflush(lg->diag);
    say(lg, "step %d: alpha normf %.4f, h.0.norm1 %.4f; largest |alpha x| > 2 fraction %.4f\n", step,
        alpha[n - 1], alpha[0], worst);
    return 0;
}

/* ---------------------------------------------------------- checkpoints */

static int save(model *m, const train_opts *o, int step, uint64_t rng)
{
    float norm;
    if (model_param_norm(m, &norm)) return cli_error("train", 1, "%s", model_error(m)), -1;
    if (!isfinite(norm))
        return cli_error("train", 1,
                         "step %d: the parameters are no longer finite (norm %g); not saving over %s, which "
                         "keeps the last good checkpoint", step, norm, o->out), -1;
    ckpt_meta md = {0};
    char v[64];
    train_opts_to_meta(o, &md);
    snprintf(v, sizeof v, "%d", step);
    ckpt_meta_set(&md, "step", v);
    snprintf(v, sizeof v, "%llu", (unsigned long long)rng);
    ckpt_meta_set(&md, "data_rng", v);
    char err[1200];
    if (ckpt_save(m, o->out, 1, &md, err, sizeof err)) return cli_error("train", 1, "%s", err), -1;
    return 0;
}

/* ----------------------------------------------------------------- main */

static int train(model *m, const text_data *d, const train_opts *o, int step0, uint64_t rng, logs *lg)
{
    size_t BT = (size_t)o->batch * o->seq;
    int32_t *tok = malloc(BT * sizeof *tok), *tgt = malloc(BT * sizeof *tgt);
    float losses[64];
    int rc = 1;
    if (!tok || !tgt) {
        cli_error("train", 1, "out of host memory");
        goto done;
    }
    model_optim opt = {o->lr, 0.9f, o->beta2, 1e-8f, o->weight_decay, o->clip, o->decay_norm};
    double t_start = cli_now_ms(), tokens = 0;
    int step = step0;
    while (step < o->steps) {
        step++;
        if (model_zero_grad(m)) goto fail;
        for (int a = 0; a < o->accum; a++) {
            text_data_train_batch(d, o->batch, o->seq, &rng, tok, tgt);
            if (model_forward(m, tok, tgt) || model_backward(m, 1.0f / (float)o->accum)) goto fail;
        }
        opt.lr = lr_at(o, step);
        float gnorm;
        if (model_step(m, &opt, step) || model_step_stats(m, losses, o->accum, &gnorm)) goto fail;
        double loss = 0;
        for (int a = 0; a < o->accum; a++) loss += losses[a] / o->accum;
        tokens += (double)BT * o->accum;
        double elapsed = (cli_now_ms() - t_start) / 1e3, tok_s = tokens / elapsed;
        if (!isfinite(loss) || !isfinite(gnorm)) {
            say(lg, "\n");
            cli_error("train", 1,
                      "step %d: the loss (%g) or gradient norm (%g) is not finite; stopping without saving "
                      "(the last checkpoint, if any, is %s, from an earlier step)",
                      step, loss, gnorm, o->out);
            goto done;
        }
        double val = NAN;
        int last = step == o->steps || step == o->stop_at || (o->time_limit > 0 && elapsed >= o->time_limit);
        if ((o->eval_every > 0 && step % o->eval_every == 0) || last) {
            if (evaluate(m, d, o, tok, tgt, &val)) goto fail;
            say(lg, "step %d: train loss %.4f, val loss %.4f, %.0f tok/s\n", step, loss, val, tok_s);
        }
        if (o->diag_every > 0 && (step % o->diag_every == 0 || last) && diagnose(m, lg, step)) goto fail;
        char vs[32] = "";
        if (!isnan(val)) snprintf(vs, sizeof vs, "%.6f", val);
        fprintf(lg->csv, "%d,%.6g,%.6f,%.6f,%s,%.1f,%.3f\n", step, opt.lr, loss, gnorm, vs, tok_s, elapsed);
        fflush(lg->csv);
        progress(lg, o, step, (float)loss, tok_s, elapsed);
        if (o->out[0] && ((o->save_every > 0 && step % o->save_every == 0) || last) && save(m, o, step, rng)) goto done;
        if (last) break;
    }
    say(lg, "trained to step %d%s%s\n", step, o->out[0] ? "; checkpoint " : "", o->out);
    rc = 0;
    goto done;
fail:
    say(lg, "\n");
    cli_error("train", 1, "%s", model_error(m));
done:
    free(tok), free(tgt);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    train_opts o;
    ckpt_meta md = {0};
    int rc = train_opts_parse(argc, argv, &o, &md);
    if (rc >= 0) return rc;

    char err[1200];
    text_data *d = NULL;
    if (text_data_load(o.data, o.val_fraction, o.seq, 0, &d, err, sizeof err)) return cli_error("train", 1, "%s", err);

    dytcl_ctx *ctx = NULL;
    model *m = NULL;
    logs lg = {0};
    rc = 1;
    if (dytcl_ctx_create(&ctx, NULL)) {
        cli_error("train", 1, "%s", dytcl_last_error(NULL));
        goto done;
    }
    int step0 = 0;
    uint64_t rng = o.seed;
    if (o.resume[0]) {
        int has_opt = 0;
        if (ckpt_load(ctx, o.resume, &m, NULL, &has_opt, err, sizeof err)) {
            cli_error("train", 1, "%s", err);
            goto done;
        }
        const char *s = ckpt_meta_get(&md, "step"), *r = ckpt_meta_get(&md, "data_rng");
        if (!has_opt || !s || !r) {
            cli_error("train", 1, "%s: not a training checkpoint (no optimiser state, step or data_rng)", o.resume);
            goto done;
        }
        step0 = atoi(s);
        rng = strtoull(r, NULL, 10);
    } else if (model_create(ctx, &o.model, o.seed, &m, err, sizeof err)) {
        cli_error("train", 1, "%s", err);
        goto done;
    }
    if (model_set_batch(m, o.batch, o.seq)) {
        cli_error("train", 1, "%s", model_error(m));
        goto done;
    }
    lg.tty = isatty(2);
    lg.csv = fopen(o.log, step0 ? "a" : "w");
    if (!lg.csv) {
        cli_error("train", 1, "cannot write the log %s", o.log);
        goto done;
    }
    if (!step0) fprintf(lg.csv, "step,lr,loss,grad_norm,val_loss,tokens_per_s,elapsed_s\n");
    if (o.diag_every > 0) {
        char path[1100];
        snprintf(path, sizeof path, "%s.diag.csv", o.log);
        lg.diag = fopen(path, step0 ? "a" : "w");
        if (lg.diag && !step0) fprintf(lg.diag, "step,norm,alpha,saturated_fraction\n");
    }
    dytcl_device_info info;
    dytcl_ctx_device(ctx, &info);
    const model_config *c = model_cfg(m);
    say(&lg, "%s-%s: %d layers, d_model %d, %d heads, d_ff %d, %zu parameters; %s; %zu train / %zu val bytes%s\n",
        model_arch_name(c->arch), model_norm_name(c->norm), c->n_layer, c->d_model, c->n_head, c->d_ff,
        model_param_count(c), info.name, text_data_size(d, 0), text_data_size(d, 1), step0 ? "; resumed" : "");
    rc = train(m, d, &o, step0, rng, &lg);
done:
    if (lg.csv) fclose(lg.csv);
    if (lg.diag) fclose(lg.diag);
    model_free(m);
    dytcl_ctx_free(ctx);
    text_data_free(d);
    return rc;
}
