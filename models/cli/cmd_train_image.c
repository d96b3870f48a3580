/* cmd_train_image.c -- `dytcl train-image`: a ViT classifier on IDX images
 * (Fashion-MNIST by default).
 *
 * Each epoch: a seeded shuffle of the training set, batches with seeded
 * augmentations (random crop with padding, horizontal flip); then the test
 * set's loss and accuracy, a CSV row, a checkpoint. The steps themselves
 * (forward, backward, clipping, AdamW with warm-up then cosine decay,
 * checkpoints, SIGINT/SIGTERM) are the trainer's (trainer.h), the same as
 * dytcl train's; this file is the data source and the evaluation. A
 * checkpoint holds the AdamW state, the options, the step and the
 * augmentation RNG (and, when a signal stopped the run inside an epoch, that
 * epoch's losses so far), so --resume continues bit-exactly from its step. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "idx.h"
#include "image_eval.h"
#include "opts.h"
#include "outputs.h"
#include "resume.h"
#include "trainer.h"

#define FMNIST "/usr/share/datasets/fashion-mnist/"

/* The ViT's settings the flags set (dytcl_model_config's, under the flags' names). */
typedef struct {
    dytcl_norm_kind norm;
    dytcl_pool pool;
    int patch, dim, heads, layers, mlp;
    float alpha0;
} image_model;

typedef struct {
    image_model model;
    char train_images[1024], train_labels[1024], test_images[1024], test_labels[1024];
    char out[1024], log[1024], resume[1024];
    int epochs, batch, warmup, train_limit, test_limit, pad, flip, stop_after, force, decay_norm;
    float lr, min_lr_frac, weight_decay, clip, beta2, mean, std, drop_path, label_smoothing;
    unsigned long long seed;
} image_opts;

static const char *const norm_names[] = {"dyt", "derf", "rmsnorm", "layernorm", NULL}; /* dytcl_norm_kind order */
static const char *const pool_names[] = {"cls", "mean", NULL};                      /* dytcl_pool order */
enum { SAVED = 1 }; /* tag: a checkpoint keeps it (the model's own settings travel in its config) */

static const opt_spec opts[] = {
#define F(f) offsetof(image_opts, f)
    {"train-images", OPT_BUF, F(train_images), "FILE", .help = "IDX images to train on (.gz or plain)", .tag = SAVED},
    {"train-labels", OPT_BUF, F(train_labels), "FILE", .help = "their labels", .tag = SAVED},
    {"test-images", OPT_BUF, F(test_images), "FILE", .help = "IDX images to evaluate on every epoch", .tag = SAVED},
    {"test-labels", OPT_BUF, F(test_labels), "FILE", .help = "their labels", .tag = SAVED},
    {"train-limit", OPT_INT, F(train_limit), "N", 0, 1 << 30, .help = "use the first N training images (0: all)", .tag = SAVED},
    {"test-limit", OPT_INT, F(test_limit), "N", 0, 1 << 30, .help = "use the first N test images (0: all)", .tag = SAVED},
    {"norm", OPT_ENUM, F(model.norm), .names = norm_names, .help = "the norm layers"},
    {"pool", OPT_ENUM, F(model.pool), .names = pool_names, .help = "a class token, or the mean of all tokens"},
    {"patch", OPT_INT, F(model.patch), "P", 1, 1024, .help = "patch side (divides the image side)"},
    {"dim", OPT_INT, F(model.dim), "C", 1, 1 << 16, .help = "width"},
    {"heads", OPT_INT, F(model.heads), "N", 1, 1024, .help = "attention heads"},
    {"layers", OPT_INT, F(model.layers), "N", 1, 1024, .help = "encoder blocks"},
    {"mlp", OPT_INT, F(model.mlp), "N", 1, 1 << 20, .help = "MLP width"},
    {"alpha0", OPT_FLOAT, F(model.alpha0), "A", .help = "DyT/Derf's initial alpha"},
    {"epochs", OPT_INT, F(epochs), "N", 1, 1e6, .help = "passes over the training set", .tag = SAVED},
    {"batch", OPT_INT, F(batch), "B", 1, 65536, .help = "images per step", .tag = SAVED},
    {"lr", OPT_FLOAT, F(lr), "X", 0, 1e38, 1, .help = "peak learning rate", .tag = SAVED},
    {"min-lr-frac", OPT_FLOAT, F(min_lr_frac), "X", 0, 1, .help = "the cosine ends at lr times this", .tag = SAVED},
    {"warmup", OPT_INT, F(warmup), "N", 0, 1e9, .help = "warm-up steps", .tag = SAVED},
    {"weight-decay", OPT_FLOAT, F(weight_decay), "X", 0, 1e38, .help = "AdamW weight decay (matrices only)", .tag = SAVED},
    {"decay-norm", OPT_SWITCH, F(decay_norm), .help = "also decay the norms' alpha, shift, weight, bias", .tag = SAVED},
    {"beta2", OPT_FLOAT, F(beta2), "X", 0, 1, 1, 1, .help = "AdamW beta2", .tag = SAVED},
    {"clip", OPT_FLOAT, F(clip), "X", 0, 1e38, .help = "global gradient-norm clip (0: none)", .tag = SAVED},
    {"drop-path", OPT_FLOAT, F(drop_path), "P", 0, 1, 0, 1,
     .help = "stochastic depth: the last block's drop rate, linear from 0 in the first", .tag = SAVED},
    {"label-smoothing", OPT_FLOAT, F(label_smoothing), "E", 0, 1, .help = "train against (1 - E) onehot + E / classes",
     .tag = SAVED},
    {"pad", OPT_INT, F(pad), "N", 0, 64, .help = "random crop with this much padding (0: none)", .tag = SAVED},
    {"flip", OPT_INT, F(flip), "0|1", 0, 1, .help = "1: random horizontal flips", .tag = SAVED},
    {"mean", OPT_FLOAT, F(mean), "X", .help = "pixels become (p/255 - mean) / std", .tag = SAVED},
    {"std", OPT_FLOAT, F(std), "X", 0, 1e6, 1, .help = "see mean", .tag = SAVED},
    {"seed", OPT_U64, F(seed), "N", .help = "weights, shuffles and augmentations", .tag = SAVED},
    {"out", OPT_BUF, F(out), "FILE", .help = "checkpoint file, written every epoch", .output = 1},
    {"log", OPT_BUF, F(log), "FILE", .help = "CSV log, one row per epoch", .output = 1},
    {"resume", OPT_BUF, F(resume), "FILE", .help = "continue from a checkpoint of this command"},
    {"stop-after", OPT_INT, F(stop_after), "N", 0, 1e6, .help = "stop after this epoch, as if interrupted (0: no)"},
    {"force", OPT_SWITCH, F(force), .help = "replace an existing --out or --log that is not of its kind"},
#undef F
};
#define NOPTS ((int)(sizeof opts / sizeof opts[0]))

static const opt_cmd image_cmd = {
    "train-image", "[options]",
    "Trains a vision transformer on IDX images (default: Fashion-MNIST from the\n"
    "dataset-fashion-mnist package), evaluating test accuracy every epoch.\n",
    NULL, opts, NOPTS, 0, NULL};

static void defaults(image_opts *o)
{
    memset(o, 0, sizeof *o);
    o->model = (image_model){DYTCL_NORM_DYT, DYTCL_POOL_CLS, 7, 64, 4, 4, 128, 0.5f};
    snprintf(o->train_images, sizeof o->train_images, FMNIST "train-images-idx3-ubyte.gz");
    snprintf(o->train_labels, sizeof o->train_labels, FMNIST "train-labels-idx1-ubyte.gz");
    snprintf(o->test_images, sizeof o->test_images, FMNIST "t10k-images-idx3-ubyte.gz");
    snprintf(o->test_labels, sizeof o->test_labels, FMNIST "t10k-labels-idx1-ubyte.gz");
    snprintf(o->out, sizeof o->out, "vit.safetensors");
    o->epochs = 10, o->batch = 128, o->warmup = 200, o->pad = 2, o->flip = 1;
    o->lr = 2e-3f, o->min_lr_frac = 0.05f, o->weight_decay = 0.05f, o->clip = 1.0f, o->beta2 = 0.99f;
    o->mean = 0.2860f, o->std = 0.3530f, o->seed = 1;
}

/* -1: go on; else the exit status. */
static int parse(int argc, char **argv, image_opts *o)
{
    return opt_parse(&image_cmd, argc, argv, o, NULL);
}

/* The model's config: the flags' settings, images of H x W, `classes` outputs. */
static dytcl_model_config model_config(const image_model *im, int H, int W, int classes)
{
    dytcl_model_config c = {.arch = DYTCL_ARCH_VIT, .norm = im->norm, .n_layer = im->layers, .n_head = im->heads,
                            .d_model = im->dim, .d_ff = im->mlp, .alpha_attn = im->alpha0, .alpha_ffn = im->alpha0,
                            .alpha_final = im->alpha0, .image_height = H, .image_width = W, .image_channels = 1,
                            .patch = im->patch, .classes = classes, .pool = im->pool};
    dytcl_model_config_defaults(&c);
    return c;
}

/* The flags' settings of a model's config (a resumed checkpoint's). */
static image_model model_settings(const dytcl_model_config *c)
{
    return (image_model){c->norm, c->pool, c->patch, c->d_model, c->n_head, c->n_layer, c->d_ff, c->alpha_attn};
}

/* The seed of epoch e's shuffle: any epoch's order without replaying the others. */
static uint64_t epoch_seed(const image_opts *o, int e)
{
    return o->seed * 0x9E3779B97F4A7C15ull ^ (uint64_t)(e + 1) * 0xD1B54A32D192ED03ull;
}

/* ------------------------------------------------- the trainer's source */

/* A run of dytcl train-image as the trainer's data source (trainer.h):
 * step s (1-based) is batch (s - 1) % per_epoch of epoch (s - 1) / per_epoch,
 * whose order is the seeded shuffle of that epoch; the test set is
 * evaluated after the last step of every epoch. */
typedef struct {
    const image_opts *o;
    const image_set *train, *test;
    image_aug aug, plain;
    float *x;
    int32_t *y;
    uint32_t *order;
    int order_epoch;       /* the epoch `order` is the shuffle of (-1: none) */
    uint64_t aug_rng;      /* the augmentations' generator */
    int per_epoch;
    double loss_sum;       /* this epoch's training losses so far */
    double t0, secs;       /* when this epoch (or run) began; the epoch's training time */
    double tloss, acc;     /* the last evaluation's */
    out_file *csv;
    int tty;
} image_run;

static int image_forward(void *self, dytcl_model *m, int step, int micro)
{
    image_run *r = self;
    const int e = (step - 1) / r->per_epoch, i = (step - 1) % r->per_epoch, B = r->o->batch;
    (void)micro;
    if (r->order_epoch != e) {
        uint64_t shuffle = epoch_seed(r->o, e);
        dy_image_set_shuffle(r->order, r->train->n, &shuffle);
        r->order_epoch = e;
    }
    if (i == 0) r->loss_sum = 0, r->t0 = dytcl_now_ms();
    dy_image_set_batch(r->train, r->order, i * B, B, &r->aug, &r->aug_rng, r->x, r->y);
    /* drop-path masks from the seed and the step: a resumed run draws the same */
    const dytcl_model_regularization reg = {r->o->drop_path, r->o->label_smoothing,
                                            r->o->seed * 0xA24BAED4963EE407ull ^ (uint64_t)step};
    return dytcl_model_regularize(m, &reg) || dytcl_model_forward_images(m, r->x, r->y) ? -1 : 0;
}

static int image_evaluate(void *self, dytcl_model *m, const trainer_step *st)
{
    image_run *r = self;
    (void)st;
    r->secs = (dytcl_now_ms() - r->t0) / 1e3;
    return cli_image_eval(m, r->test, &r->plain, NULL, &r->tloss, &r->acc) ? -1 : 0;
}

static int image_after_step(void *self, dytcl_model *m, const trainer_step *st)
{
    image_run *r = self;
    const image_opts *o = r->o;
    const int B = o->batch, e = (st->step - 1) / r->per_epoch, i = (st->step - 1) % r->per_epoch;
    (void)m;
    r->loss_sum += st->loss;
    if (r->tty) {
        double s = (dytcl_now_ms() - r->t0) / 1e3, ips = (double)(i + 1) * B / s;
        fprintf(stderr, "\r\033[Kepoch %d/%d  step %d/%d  loss %.4f  %.0f img/s  ETA %.0fs", e + 1, o->epochs, i + 1,
                r->per_epoch, st->loss, ips, (r->per_epoch - i - 1) * (double)B / ips);
        fflush(stderr);
    }
    if (!st->evaluated) return 0;
    const double ips = (double)r->train->n / r->secs, mean = r->loss_sum / (i + 1);
    if (r->tty) fprintf(stderr, "\r\033[K");
    printf("epoch %d/%d  train loss %.4f  test loss %.4f  test accuracy %.2f%%  %.0f img/s  %.1fs\n", e + 1, o->epochs,
           mean, r->tloss, 100 * r->acc, ips, r->secs);
    fflush(stdout);
    return r->csv && out_printf(r->csv, "%d,%d,%.6g,%.6f,%.6f,%.6f,%.1f,%.2f\n", e + 1, st->step, (double)st->lr, mean,
                                r->tloss, r->acc, ips, r->secs) ? 1 : 0;
}

static int image_to_meta(void *self, dytcl_meta *md, int step)
{
    image_run *r = self;
    const image_opts *o = r->o;
    char key[64], val[1100];
    int bad = 0;
    for (int i = 0; i < NOPTS; i++) {
        if (!opts[i].tag) continue;
        opt_format(&opts[i], o, val, sizeof val);
        snprintf(key, sizeof key, "train.%s", opts[i].name);
        bad |= dytcl_meta_set(md, key, val);
    }
    snprintf(val, sizeof val, "%d", step / r->per_epoch), bad |= dytcl_meta_set(md, "train.epoch_done", val);
    snprintf(val, sizeof val, "%d", step), bad |= dytcl_meta_set(md, "train.step", val);
    snprintf(val, sizeof val, "%llu", (unsigned long long)r->aug_rng), bad |= dytcl_meta_set(md, "train.aug_rng", val);
    snprintf(val, sizeof val, "%.6f", r->acc), bad |= dytcl_meta_set(md, "train.test_accuracy", val);
    /* stopped inside an epoch (a signal): its losses so far, for its row */
    snprintf(val, sizeof val, "%.17g", step % r->per_epoch ? r->loss_sum : 0.0);
    bad |= dytcl_meta_set(md, "train.epoch_loss_sum", val);
    return bad ? -1 : 0;
}

static int image_finish(void *self, dytcl_model *m, int step, const trainer_timing *t)
{
    image_run *r = self;
    (void)m, (void)t;
    if (step < r->per_epoch * r->o->epochs)
        printf("stopped after epoch %d (--stop-after); continue with --resume %s\n", step / r->per_epoch, r->o->out);
    return 0;
}

/* The resumed checkpoint's training state, each value checked strictly
 * and against the run (resume.h): 0, or 1 (reported). */
static int resume_image(const dytcl_meta *md, const image_opts *o, int per_epoch, int *step0, image_run *r)
{
    char err[1600], limit[96];
    long long epoch_done;
    double loss_sum = 0;
    snprintf(limit, sizeof limit, "%d epochs of %d steps (give --epochs to train further)", o->epochs, per_epoch);
    if (resume_position(md, o->resume, "train.step", "train.aug_rng", (long long)per_epoch * o->epochs, limit, step0,
                        &r->aug_rng, err, sizeof err) ||
        resume_get_int(md, o->resume, "train.epoch_done", 0, INT32_MAX, &epoch_done, err, sizeof err) ||
        (dytcl_meta_get(md, "train.epoch_loss_sum") &&
         resume_get_double(md, o->resume, "train.epoch_loss_sum", &loss_sum, err, sizeof err)))
        return cli_error("train-image", 1, "%s", err);
    if (epoch_done != *step0 / per_epoch)
        return cli_error("train-image", 1, "%s: the checkpoint's train.step %d is in epoch %d of %d steps, but its "
                         "train.epoch_done is %lld: a damaged checkpoint", o->resume, *step0, *step0 / per_epoch + 1,
                         per_epoch, epoch_done);
    r->loss_sum = loss_sum;
    return 0;
}

int cmd_train_image(int argc, char **argv)
{
    image_opts o;
    defaults(&o);
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return rc;
    dytcl_ctx *ctx = NULL;
    dytcl_model *v = NULL;
    dytcl_meta md = {0};
    image_set train = {0}, test = {0};
    char err[1400];
    image_run r = {.order_epoch = -1};
    int step0 = 0;
    trainer_files files;
    r.o = &o;
    rc = 1;
    /* before any work: the inputs are regular files (a FIFO would block), and
     * --out and --log are claimed (outputs.h) */
    const char *in_opt[] = {"--train-images", "--train-labels", "--test-images", "--test-labels"};
    const char *in[] = {o.train_images, o.train_labels, o.test_images, o.test_labels};
    int claimed = trainer_claim(&files, "train-image", o.force, o.out, o.log, output_is_image_log,
                                "a train-image log", 0, o.resume, in_opt, in, 4);
    out_file *out = files.out;
    r.csv = files.log;
    if (claimed) goto done;
    if (dytcl_ctx_create(NULL, &ctx)) {
        cli_error("train-image", 1, "%s", dytcl_last_error(NULL));
        goto done;
    }
    if (o.resume[0]) { /* the checkpoint's options, then the flags again over them */
        int has_opt = 0;
        if (dytcl_model_load(ctx, o.resume, &md, &has_opt, &v)) {
            cli_error("train-image", 1, "%s", dytcl_last_error(ctx));
            goto done;
        }
        if (dytcl_model_get_config(v)->arch != DYTCL_ARCH_VIT) {
            cli_error("train-image", 1, "%s: a %s model, not a vit", o.resume,
                      dytcl_arch_name(dytcl_model_get_config(v)->arch));
            goto done;
        }
        if (!has_opt) {
            cli_error("train-image", 1, "%s: not a train-image checkpoint (no optimiser state)", o.resume);
            goto done;
        }
        for (int i = 0; i < NOPTS; i++) {
            char key[64];
            snprintf(key, sizeof key, "train.%s", opts[i].name);
            const char *val = opts[i].tag ? dytcl_meta_get(&md, key) : NULL;
            char why[512];
            if (val && opt_set(&opts[i], &o, val, why, sizeof why)) {
                cli_error("train-image", 1, "%s: the checkpoint's %s is malformed: %s", o.resume, key, why);
                goto done;
            }
        }
        if ((rc = parse(argc, argv, &o)) >= 0) goto done;
        rc = 1;
        o.model = model_settings(dytcl_model_get_config(v));
    }
    if (dy_image_set_load(o.train_images, o.train_labels, o.train_limit, 0, &train, err, sizeof err) ||
        dy_image_set_load(o.test_images, o.test_labels, o.test_limit, 0, &test, err, sizeof err)) {
        cli_error("train-image", 1, "%s", err);
        goto done;
    }
    if (test.H != train.H || test.W != train.W) {
        cli_error("train-image", 1, "training images are %d x %d, test images %d x %d", train.H, train.W, test.H,
                  test.W);
        goto done;
    }
    const int B = o.batch, per_epoch = (train.n + B - 1) / B;
    const long total = (long)per_epoch * o.epochs;
    if (total > INT32_MAX) {
        cli_error("train-image", 1, "%ld steps: more than the optimiser counts (2^31 - 1)", total);
        goto done;
    }
    r.per_epoch = per_epoch;
    if (!v) {
        int classes = train.classes > test.classes ? train.classes : test.classes;
        dytcl_model_config c = model_config(&o.model, train.H, train.W, classes < 2 ? 2 : classes);
        r.aug_rng = o.seed ^ 0xA5A5A5A5A5A5A5A5ull;
        if (dytcl_model_create(ctx, &c, o.seed, &v)) {
            cli_error("train-image", 1, "%s", dytcl_last_error(ctx));
            goto done;
        }
    } else {
        const dytcl_model_config *c = dytcl_model_get_config(v);
        if (c->image_height != train.H || c->image_width != train.W || train.classes > c->classes) {
            cli_error("train-image", 1, "%s: the model takes %d x %d images of %d classes; the data do not fit",
                      o.resume, c->image_height, c->image_width, c->classes);
            goto done;
        }
        if (resume_image(&md, &o, per_epoch, &step0, &r)) goto done;
    }
    if (dytcl_model_set_batch(v, o.batch, 0)) {
        cli_error("train-image", 1, "%s", dytcl_last_error(ctx));
        goto done;
    }
    r.x = malloc((size_t)B * train.H * train.W * sizeof *r.x), r.y = malloc((size_t)B * sizeof *r.y);
    r.order = malloc((size_t)train.n * sizeof *r.order);
    if (!r.x || !r.y || !r.order) {
        cli_error("train-image", 1, "out of memory");
        goto done;
    }
    /* a resumed run keeps the log's rows up to its checkpoint and appends */
    if (trainer_open_log(r.csv, step0 != 0, step0 / per_epoch,
                         "epoch,step,lr,train_loss,test_loss,test_accuracy,images_per_s,seconds\n"))
        goto done;
    dytcl_device_info info;
    dytcl_ctx_device(ctx, &info);
    printf("train-image: ViT-%s (%s pooling), %d layers, dim %d, %d heads, patch %d: %zu parameters, on %s\n"
           "  %d training images (%d steps of %d per epoch), %d test images, %d epochs%s\n",
           dytcl_norm_kind_name(o.model.norm), o.model.pool == DYTCL_POOL_CLS ? "cls" : "mean", o.model.layers,
           o.model.dim, o.model.heads, o.model.patch, dytcl_model_param_count(dytcl_model_get_config(v)), info.name,
           train.n, per_epoch, B, test.n, o.epochs, step0 ? " (resumed)" : "");
    fflush(stdout);
    r.train = &train, r.test = &test;
    r.aug = (image_aug){o.pad, o.flip, o.mean, o.std}, r.plain = (image_aug){0, 0, o.mean, o.std};
    r.tty = isatty(2), r.t0 = dytcl_now_ms();
    /* warm-up, then cosine to lr * min_lr_frac at the last step; decay on the matrices only (and the norms
     * with --decay-norm) */
    trainer_config c = {.who = "train-image",
                        .optim = {o.lr, o.min_lr_frac, o.warmup, (int)total, 0.9f, o.beta2, 1e-8f, o.weight_decay,
                                  o.clip, o.decay_norm},
                        .step0 = step0, .accum = 1, .eval_every = per_epoch, .eval_last = 0,
                        .save_every = per_epoch, .saves = o.out[0] != '\0', .out = out,
                        .out_is_resume = o.resume[0] && output_same_file(o.resume, o.out),
                        .stop_at = o.stop_after && o.stop_after < o.epochs ? o.stop_after * per_epoch : 0,
                        .items_per_step = B};
    trainer_source src = {&r, image_forward, image_evaluate, image_after_step, image_to_meta, image_finish};
    rc = trainer_run(v, &c, &src);
    if (out_close(r.csv) && !rc) rc = 1; /* a log that did not reach the disk */
done:
    outs_release(&files.set);
    free(r.x), free(r.y), free(r.order);
    dy_image_set_free(&train), dy_image_set_free(&test);
    dytcl_meta_clear(&md);
    dytcl_model_free(v);
    dytcl_ctx_free(ctx);
    return rc;
}
