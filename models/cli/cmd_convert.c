/* cmd_convert.c -- `dytcl convert`: a trained RMSNorm or LayerNorm language
 * model made a DyT (or Derf) one (dytcl_model.h, "converting the norms"),
 * optionally fine-tuned, written as a new checkpoint.
 *
 *   --schedule all        every norm fitted from the calibration batches
 *                         (--calib sequential: each on the inputs the
 *                         converted norms before it give; independent: all
 *                         on the original's), then --finetune-steps steps
 *   --schedule layerwise  one norm at a time, in order, each fitted on the
 *                         model as fine-tuned so far, with
 *                         finetune-steps / (2L + 1) steps after each (the
 *                         norms above still run as the original)
 *   --to keep             no conversion: the original fine-tuned the same
 *                         way (the baseline a conversion compares with)
 *   --distill W           fine-tuning against the original's logits: the
 *                         loss (1 - W) cross-entropy + W KL(original || model)
 *                         (dytcl_model_distill); 0: the cross-entropy only
 *
 * Validation loss (nats per byte, the last --val-fraction of the text, as
 * dytcl train splits it) of the original, after the conversion and after
 * fine-tuning on stdout; a CSV row per fine-tuning step in --log. Text as
 * bytes only (checkpoints trained with --tokenizer are refused). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "data.h"
#include "dytcl_model.h"
#include "opts.h"
#include "outputs.h"

static const char *const to_names[] = {"dyt", "derf", "keep", NULL};
static const char *const schedule_names[] = {"all", "layerwise", NULL};
static const char *const calib_names[] = {"sequential", "independent", NULL};
enum { TO_DYT, TO_DERF, TO_KEEP };

typedef struct {
    char model[OPT_BUF_LEN], data[OPT_BUF_LEN], out[OPT_BUF_LEN], log[OPT_BUF_LEN];
    int to, schedule, calib, calib_batches, steps, batch, seq, warmup, eval_batches, eval_every, force;
    float lr, weight_decay, clip, val_fraction, distill;
    unsigned long long seed;
} convert_args;

static const opt_spec specs[] = {
#define F(f) offsetof(convert_args, f)
    {"model", OPT_BUF, F(model), "FILE", .help = "the trained RMSNorm or LayerNorm checkpoint (required)", .def = ""},
    {"data", OPT_BUF, F(data), "FILE", .help = "text: calibration batches, fine-tuning, validation (required)", .def = ""},
    {"to", OPT_ENUM, F(to), .names = to_names, .help = "the new norm; keep: none (fine-tuning only, a baseline)", .def = ""},
    {"out", OPT_BUF, F(out), "FILE", .help = "the converted checkpoint to write (required)", .def = "", .output = 1},
    {"log", OPT_BUF, F(log), "FILE", .help = "CSV log, a row per fine-tuning step", .def = "", .output = 1},
    {"force", OPT_SWITCH, F(force), .help = "replace an existing --out or --log that is not a checkpoint / log"},
    {"schedule", OPT_ENUM, F(schedule), .names = schedule_names, .help = "all norms at once, or one at a time with fine-tuning between"},
    {"calib", OPT_ENUM, F(calib), .names = calib_names, .help = "--schedule all: fit each norm after the ones before it, or all on the original"},
    {"calib-batches", OPT_INT, F(calib_batches), "N", 1, 1024, .help = "calibration batches of B x T from the training split"},
    {"finetune-steps", OPT_INT, F(steps), "N", 0, 1 << 30, .help = "AdamW steps after (layerwise: between) the conversions"},
    {"batch", OPT_INT, F(batch), "B", 1, 1 << 16, .help = "sequences per batch (calibration, fine-tuning, validation)"},
    {"seq", OPT_INT, F(seq), "T", 0, 1 << 20, .help = "tokens per sequence (0: the model's max_seq, at most 128)"},
    {"distill", OPT_FLOAT, F(distill), "W", 0, 1, .help = "fine-tune on (1 - W) cross-entropy + W KL to the original's logits"},
    {"lr", OPT_FLOAT, F(lr), "X", 0, 1e38, 1, .help = "peak fine-tuning learning rate (warm-up, cosine to lr / 10)"},
    {"warmup", OPT_INT, F(warmup), "N", -1, 1 << 30, .help = "warm-up steps (-1: steps / 10)"},
    {"wd", OPT_FLOAT, F(weight_decay), "X", 0, 1e38, .help = "AdamW weight decay (matrices and embeddings)"},
    {"clip", OPT_FLOAT, F(clip), "X", 0, 1e38, .help = "gradient-norm clipping (0: off)"},
    {"val-fraction", OPT_FLOAT, F(val_fraction), "X", 0, 0.5, 1, .help = "the last X of the text is validation (as dytcl train's)"},
    {"eval-batches", OPT_INT, F(eval_batches), "N", 0, 1 << 30, .help = "at most N validation batches (0: all)"},
    {"eval-every", OPT_INT, F(eval_every), "N", 0, 1 << 30, .help = "validation every N fine-tuning steps (0: at the end)"},
    {"seed", OPT_U64, F(seed), "N", .help = "calibration and fine-tuning batches"},
#undef F
};
static const opt_cmd convert_cmd = {
    "convert", "--model CKPT --data TEXT --to dyt|derf|keep --out OUT [options]",
    "Turns the RMSNorm or LayerNorm layers of a trained language model into DyT\n"
    "(or Derf): everything else is copied, and each norm's alpha, weight and bias\n"
    "are fitted so that w tanh(alpha x) + b matches the norm's output on\n"
    "calibration batches (least squares per channel, alpha by a 1-D search);\n"
    "then optionally fine-tunes. Prints the validation loss of the original, of\n"
    "the converted model and after fine-tuning (docs/conversion.md).\n",
    NULL, specs, (int)(sizeof specs / sizeof specs[0]), 0, NULL};

/* The mean validation loss over (at most eval_batches of) the val split. */
static int evaluate(dytcl_model *m, const text_data *d, const convert_args *a, int32_t *tok, int32_t *tgt, double *out)
{
    int nb = text_data_val_batches(d, a->batch, a->seq);
    if (a->eval_batches > 0 && nb > a->eval_batches) nb = a->eval_batches;
    double sum = 0, count = 0;
    for (int i = 0; i < nb; i++) {
        text_data_val_batch(d, i, a->batch, a->seq, tok, tgt);
        int valid = 0;
        for (int j = 0; j < a->batch * a->seq; j++) valid += tgt[j] != -1;
        float loss;
        if (!valid) continue;
        if (dytcl_model_forward(m, tok, tgt) || dytcl_model_read_loss(m, &loss)) return -1;
        sum += (double)loss * valid, count += valid;
    }
    *out = count ? sum / count : NAN;
    return 0;
}

typedef struct {
    const text_data *d;
    const convert_args *a;
    dytcl_model_optim opt;
    dytcl_model *teacher;   /* the original, with --distill; else NULL */
    int32_t *tok, *tgt;
    uint64_t rng;
    out_file *csv;          /* the log, or NULL */
    int step, converted; /* steps done; norms converted so far */
} tuner;

/* n more fine-tuning steps of m (numbered on from t->step). */
static int finetune(dytcl_model *m, tuner *t, int n)
{
    const convert_args *a = t->a;
    for (int k = 0; k < n; k++) {
        int step = ++t->step;
        float loss, gnorm, kl = NAN;
        text_data_train_batch(t->d, a->batch, a->seq, &t->rng, t->tok, t->tgt);
        if (dytcl_model_zero_grad(m) ||
            (t->teacher ? dytcl_model_distill(m, t->teacher, t->tok, t->tgt, a->distill, &kl)
                        : dytcl_model_forward(m, t->tok, t->tgt) || dytcl_model_backward(m, 1.0f)) ||
            dytcl_model_step(m, &t->opt, step) || dytcl_model_step_stats(m, &loss, 1, &gnorm))
            return cli_error("convert", 1, "%s", dytcl_last_error(dytcl_model_ctx(m))), -1;
        if (!isfinite(loss) || !isfinite(gnorm))
            return cli_error("convert", 1, "fine-tuning step %d: the loss (%g) or gradient norm (%g) is not finite",
                             step, loss, gnorm), -1;
        double val = NAN;
        if (a->eval_every > 0 && step % a->eval_every == 0) {
            if (evaluate(m, t->d, a, t->tok, t->tgt, &val))
                return cli_error("convert", 1, "%s", dytcl_last_error(dytcl_model_ctx(m))), -1;
            printf("step %d: train loss %.4f, val loss %.4f\n", step, loss, val);
            fflush(stdout);
        }
        if (t->csv) {
            char vs[32] = "", ks[32] = "";
            if (!isnan(val)) snprintf(vs, sizeof vs, "%.6f", val);
            if (!isnan(kl)) snprintf(ks, sizeof ks, "%.6f", kl);
            if (out_printf(t->csv, "%d,%.6g,%.6f,%.6f,%s,%d,%s\n", step, dytcl_lr_at(&t->opt, step), loss, gnorm, vs,
                           t->converted, ks))
                return -1;
        }
    }
    return 0;
}

static void norm_name(int i, int L, char *buf, size_t cap)
{
    if (i == 2 * L) snprintf(buf, cap, "normf");
    else snprintf(buf, cap, "h.%d.norm%d", i / 2, i % 2 + 1);
}

int cmd_convert(int argc, char **argv)
{
    convert_args a = {.to = -1, .calib_batches = 4, .batch = 8, .warmup = -1, .eval_batches = 16,
                      .lr = 3e-4f, .clip = 1.0f, .val_fraction = 0.1f, .seed = 1};
    int rc = opt_parse(&convert_cmd, argc, argv, &a, NULL);
    if (rc >= 0) return rc;
    if (!a.model[0]) return cli_error("convert", 2, "--model: required (a trained RMSNorm or LayerNorm checkpoint)");
    if (!a.data[0]) return cli_error("convert", 2, "--data: required (a text: calibration, fine-tuning, validation)");
    if (a.to < 0) return cli_error("convert", 2, "--to: required (dyt, derf or keep)");
    if (!a.out[0]) return cli_error("convert", 2, "--out: required (the checkpoint to write)");
    if (a.to == TO_KEEP && a.schedule != 0) return cli_error("convert", 2, "--schedule layerwise: nothing to convert with --to keep");
    if (a.to == TO_KEEP && a.distill > 0) return cli_error("convert", 2, "--distill: --to keep fine-tunes the original itself, it has no teacher");

    char err[1400];
    outs files;
    outs_init(&files, "convert", a.force);
    outs_input(&files, "--model", a.model, NULL);
    outs_input(&files, "--data", a.data, NULL);
    out_file *of = outs_add(&files, "--out", a.out, output_is_checkpoint, "a checkpoint");
    out_file *olog = outs_add(&files, "--log", a.log, output_is_train_log, "a training log");
    if (outs_claim(&files)) return 1;
    dytcl_model_config c;
    dytcl_meta md = {0};
    dytcl_ctx *ctx = NULL;
    dytcl_model *src = NULL, *m = NULL;
    text_data *d = NULL;
    tuner t = {0};
    int32_t *calib = NULL;
    rc = 1;
    /* what the checkpoint is, before any data is read */
    if (dytcl_model_read_config(a.model, &c, &md)) {
        cli_error("convert", 1, "%s", dytcl_last_error(NULL));
        goto done;
    }
    if (c.arch == DYTCL_ARCH_VIT) {
        cli_error("convert", 1, "%s: a vit; convert takes the language models (gpt, llama)", a.model);
        goto done;
    }
    if (a.to != TO_KEEP && c.norm != DYTCL_NORM_RMSNORM && c.norm != DYTCL_NORM_LAYERNORM) {
        cli_error("convert", 1, "%s: its norm is %s already; convert takes RMSNorm and LayerNorm models", a.model,
                  dytcl_norm_kind_name(c.norm));
        goto done;
    }
    if (dytcl_meta_get(&md, "tokenizer") || c.vocab != 256) {
        cli_error("convert", 1, "%s: a model of %d subword tokens; convert reads text as bytes (vocabulary 256) only",
                  a.model, c.vocab);
        goto done;
    }
    if (a.seq == 0) a.seq = c.max_seq < 128 ? c.max_seq : 128;
    if (a.seq > c.max_seq) {
        cli_error("convert", 2, "--seq %d: longer than the model's max_seq %d", a.seq, c.max_seq);
        rc = 2;
        goto done;
    }
    if (text_data_load(a.data, a.val_fraction, a.seq, 0, &d, err, sizeof err)) {
        cli_error("convert", 1, "%s", err);
        goto done;
    }
    const size_t BT = (size_t)a.batch * a.seq;
    t.tok = malloc(BT * sizeof *t.tok), t.tgt = malloc(BT * sizeof *t.tgt);
    calib = malloc(BT * (size_t)a.calib_batches * sizeof *calib);
    if (!t.tok || !t.tgt || !calib) {
        cli_error("convert", 1, "out of host memory (%d calibration batches of %d x %d)", a.calib_batches, a.batch, a.seq);
        goto done;
    }
    if (dytcl_ctx_create(NULL, &ctx) || dytcl_model_load(ctx, a.model, NULL, NULL, &src) ||
        dytcl_model_set_batch(src, a.batch, a.seq)) {
        cli_error("convert", 1, "%s", dytcl_last_error(ctx));
        goto done;
    }
    const int L = c.n_layer, nn = 2 * L + 1;
    double val0, val1 = NAN, val2 = NAN;
    if (evaluate(src, d, &a, t.tok, t.tgt, &val0)) goto fail_src;
    printf("original (%s-%s, %d layers, d_model %d): val loss %.4f\n", dytcl_arch_name(c.arch),
           dytcl_norm_kind_name(c.norm), L, c.d_model, val0);
    fflush(stdout);
    /* the calibration batches, from the training split; then the fine-tuning ones */
    t.rng = a.seed;
    for (int i = 0; i < a.calib_batches; i++) text_data_train_batch(d, a.batch, a.seq, &t.rng, calib + BT * i, t.tgt);
    if (a.to == TO_KEEP) {
        m = src, src = NULL;
    } else if (dytcl_model_convert_begin(src, a.to == TO_DERF ? DYTCL_NORM_DERF : DYTCL_NORM_DYT, &m) ||
               dytcl_model_set_batch(m, a.batch, a.seq)) {
        goto fail_src;
    } else if (a.distill > 0) {
        t.teacher = src; /* freed as src, at the end */
    } else {
        dytcl_model_free(src), src = NULL;
    }
    t.d = d, t.a = &a;
    t.opt = (dytcl_model_optim){.lr = a.lr, .min_lr_frac = 0.1f, .warmup = a.warmup >= 0 ? a.warmup : a.steps / 10,
                                .steps = a.steps, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f,
                                .weight_decay = a.weight_decay, .clip = a.clip};
    if (olog) {
        if (out_open_log(olog, 0, "step,lr,loss,grad_norm,val_loss,converted_norms,kl\n")) goto done;
        t.csv = olog;
    }
    dytcl_convert_fit fit[1];
    char name[32];
    const char *to = a.to == TO_KEEP ? dytcl_norm_kind_name(c.norm) : a.to == TO_DERF ? "derf" : "dyt";
    if (a.to != TO_KEEP && a.schedule == 0) { /* all at once, then fine-tuning */
        dytcl_convert_fit *fits = malloc((size_t)nn * sizeof *fits);
        int bad = !fits;
        if (a.calib == 0)
            for (int i = 0; !bad && i < nn; i++) bad = dytcl_model_convert_fit(m, i, 1, calib, a.calib_batches, fits + i) != 0;
        else if (!bad) bad = dytcl_model_convert_fit(m, 0, nn, calib, a.calib_batches, fits) != 0;
        for (int i = 0; !bad && i < nn; i++) {
            norm_name(i, L, name, sizeof name);
            printf("%s: alpha %.4g, relative error %.4f\n", name, fits[i].alpha, fits[i].rel_err);
        }
        free(fits);
        if (bad) goto fail;
        t.converted = nn;
        if (evaluate(m, d, &a, t.tok, t.tgt, &val1)) goto fail;
        printf("converted (%s, %s calibration, %d batches of %d x %d): val loss %.4f\n", to, calib_names[a.calib],
               a.calib_batches, a.batch, a.seq, val1);
        fflush(stdout);
        if (finetune(m, &t, a.steps)) goto done;
    } else if (a.to != TO_KEEP) { /* one norm at a time, fine-tuning between */
        int gap = a.steps / nn;
        for (int i = 0; i < nn; i++) {
            if (dytcl_model_convert_fit(m, i, 1, calib, a.calib_batches, fit)) goto fail;
            t.converted = i + 1;
            double v;
            if (evaluate(m, d, &a, t.tok, t.tgt, &v)) goto fail;
            norm_name(i, L, name, sizeof name);
            printf("%s: alpha %.4g, relative error %.4f; val loss %.4f\n", name, fit[0].alpha, fit[0].rel_err, v);
            fflush(stdout);
            if (i == nn - 1) val1 = v;
            if (finetune(m, &t, gap)) goto done;
            if (gap) {
                if (evaluate(m, d, &a, t.tok, t.tgt, &v)) goto fail;
                printf("%s: after %d steps, val loss %.4f\n", name, gap, v);
                fflush(stdout);
            }
        }
        printf("converted (%s, layerwise, %d steps after each norm): val loss %.4f when the last norm converted\n", to,
               gap, val1);
        if (finetune(m, &t, a.steps - gap * nn)) goto done;
    } else {
        if (finetune(m, &t, a.steps)) goto done;
    }
    if (evaluate(m, d, &a, t.tok, t.tgt, &val2)) goto fail;
    printf("fine-tuned (%s, %d steps, lr %g, distill %g): val loss %.4f\n", to, a.steps, (double)a.lr,
           (double)a.distill, val2);
    printf("result: original %.4f converted %.4f finetuned %.4f\n", val0, val1, val2);
    fflush(stdout);
    char v[64];
    dytcl_meta_set(&md, "converted_from", dytcl_norm_kind_name(c.norm));
    dytcl_meta_set(&md, "convert_schedule", a.to == TO_KEEP ? "none" : schedule_names[a.schedule]);
    snprintf(v, sizeof v, "%d", a.steps);
    dytcl_meta_set(&md, "convert_finetune_steps", v);
    snprintf(v, sizeof v, "%g", (double)a.distill);
    dytcl_meta_set(&md, "convert_distill", v);
    const char *staged = out_stage(of);
    if (!staged) goto done;
    if (dytcl_model_save(m, staged, 0, &md)) goto fail;
    if (out_commit(of)) goto done;
    if (olog && out_close(olog)) goto done;
    printf("wrote %s\n", a.out);
    rc = 0;
    goto done;
fail_src:
    cli_error("convert", 1, "%s", dytcl_last_error(ctx));
    goto done;
fail:
    cli_error("convert", 1, "%s", dytcl_last_error(ctx));
done:
    outs_release(&files);
    free(t.tok), free(t.tgt), free(calib);
    dytcl_model_free(src), dytcl_model_free(m);
    dytcl_ctx_free(ctx);
    text_data_free(d);
    dytcl_meta_clear(&md);
    return rc;
}
