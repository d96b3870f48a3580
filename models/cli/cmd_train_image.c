/* cmd_train_image.c -- `dytcl train-image`: a ViT classifier on IDX images
 * (Fashion-MNIST by default).
 *
 * Each epoch: a seeded shuffle of the training set, batches with seeded
 * augmentations (random crop with padding, horizontal flip), forward,
 * backward (with --drop-path and --label-smoothing: stochastic depth and
 * smoothed labels, training only), global-norm clipping and AdamW with
 * warm-up then cosine decay;
 * then the test set's loss and accuracy, a CSV row, a checkpoint. A
 * checkpoint holds the AdamW state, the options and the augmentation RNG, so
 * --resume continues bit-exactly from the end of its epoch. */
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
    {"out", OPT_BUF, F(out), "FILE", .help = "checkpoint file, written every epoch"},
    {"log", OPT_BUF, F(log), "FILE", .help = "CSV log, one row per epoch"},
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
    NULL, opts, NOPTS, 0};

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

static int save(dytcl_model *m, const image_opts *o, int epoch, long step, uint64_t aug_rng, double acc)
{
    dytcl_meta md = {0};
    char key[64], val[1100];
    int bad = 0;
    for (int i = 0; i < NOPTS; i++) {
        if (!opts[i].tag) continue;
        opt_format(&opts[i], o, val, sizeof val);
        snprintf(key, sizeof key, "train.%s", opts[i].name);
        bad |= dytcl_meta_set(&md, key, val);
    }
    snprintf(val, sizeof val, "%d", epoch), bad |= dytcl_meta_set(&md, "train.epoch_done", val);
    snprintf(val, sizeof val, "%ld", step), bad |= dytcl_meta_set(&md, "train.step", val);
    snprintf(val, sizeof val, "%llu", (unsigned long long)aug_rng), bad |= dytcl_meta_set(&md, "train.aug_rng", val);
    snprintf(val, sizeof val, "%.6f", acc), bad |= dytcl_meta_set(&md, "train.test_accuracy", val);
    dytcl_status s = bad ? DYTCL_ERR_HOST_MEMORY : dytcl_model_save(m, o->out, 1, &md);
    dytcl_meta_clear(&md);
    if (bad) return cli_error("train-image", 1, "out of memory");
    return s ? cli_error("train-image", 1, "%s", dytcl_last_error(dytcl_model_ctx(m))) : 0;
}

/* Before any work: the inputs are regular files (a FIFO would block), and
 * --out and --log are no input however spelled, hold nothing of another
 * kind, lie in writable directories, and are locked against a second run. */
static int claim_files(const image_opts *o, output_lock locks[2])
{
    char err[1400];
    const char *const ins[] = {o->train_images, o->train_labels, o->test_images, o->test_labels, o->resume};
    for (int i = 0; i < 5; i++)
        if (ins[i][0] && input_check("an input", ins[i], err, sizeof err)) return cli_error("train-image", 1, "%s", err);
    const char *const ins_out[] = {ins[0], ins[1], ins[2], ins[3], o->log};
    const char *const ins_log[] = {ins[0], ins[1], ins[2], ins[3], o->resume, o->out};
    if (output_check("--out", o->out, output_is_checkpoint, "a checkpoint", ins_out, 5, o->force, err, sizeof err) ||
        (o->log[0] &&
         output_check("--log", o->log, output_is_image_log, "a train-image log", ins_log, 6, o->force, err, sizeof err)) ||
        output_lock_take(&locks[0], o->out, err, sizeof err) ||
        (o->log[0] && output_lock_take(&locks[1], o->log, err, sizeof err)))
        return cli_error("train-image", 1, "%s", err);
    return 0;
}

int cmd_train_image(int argc, char **argv)
{
    image_opts o;
    defaults(&o);
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return rc;
    char err[1400];
    dytcl_ctx *ctx = NULL;
    dytcl_model *v = NULL;
    dytcl_meta md = {0};
    image_set train = {0}, test = {0};
    float *x = NULL;
    int32_t *y = NULL;
    uint32_t *order = NULL;
    FILE *csv = NULL;
    int epoch0 = 0;
    long step = 0;
    uint64_t aug_rng = 0;
    output_lock locks[2] = {{.fd = -1}, {.fd = -1}};
    rc = 1;
    if (claim_files(&o, locks)) goto done;
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
        const char *e = dytcl_meta_get(&md, "train.epoch_done"), *s = dytcl_meta_get(&md, "train.step");
        const char *r = dytcl_meta_get(&md, "train.aug_rng");
        if (!has_opt || !e || !s || !r) {
            cli_error("train-image", 1, "%s: not a train-image checkpoint (no optimiser state or epoch)", o.resume);
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
        epoch0 = atoi(e), step = atol(s), aug_rng = strtoull(r, NULL, 10);
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
    if (!v) {
        int classes = train.classes > test.classes ? train.classes : test.classes;
        dytcl_model_config c = model_config(&o.model, train.H, train.W, classes < 2 ? 2 : classes);
        aug_rng = o.seed ^ 0xA5A5A5A5A5A5A5A5ull;
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
    }
    if (dytcl_model_set_batch(v, o.batch, 0)) {
        cli_error("train-image", 1, "%s", dytcl_last_error(ctx));
        goto done;
    }
    const int B = o.batch, per_epoch = (train.n + B - 1) / B;
    const long total = (long)per_epoch * o.epochs;
    if (total > INT32_MAX) {
        cli_error("train-image", 1, "%ld steps: more than the optimiser counts (2^31 - 1)", total);
        goto done;
    }
    x = malloc((size_t)B * train.H * train.W * sizeof *x), y = malloc((size_t)B * sizeof *y);
    order = malloc((size_t)train.n * sizeof *order);
    if (!x || !y || !order) {
        cli_error("train-image", 1, "out of memory");
        goto done;
    }
    if (o.log[0] && !(csv = fopen(o.log, epoch0 ? "a" : "w"))) {
        cli_error("train-image", 1, "%s: cannot write the log", o.log);
        goto done;
    }
    if (csv && !epoch0) fprintf(csv, "epoch,step,lr,train_loss,test_loss,test_accuracy,images_per_s,seconds\n");
    dytcl_device_info info;
    dytcl_ctx_device(ctx, &info);
    printf("train-image: ViT-%s (%s pooling), %d layers, dim %d, %d heads, patch %d: %zu parameters, on %s\n"
           "  %d training images (%d steps of %d per epoch), %d test images, %d epochs%s\n",
           dytcl_norm_kind_name(o.model.norm), o.model.pool == DYTCL_POOL_CLS ? "cls" : "mean", o.model.layers,
           o.model.dim, o.model.heads, o.model.patch, dytcl_model_param_count(dytcl_model_get_config(v)), info.name, train.n, per_epoch, B, test.n, o.epochs,
           epoch0 ? " (resumed)" : "");
    fflush(stdout);
    const image_aug aug = {o.pad, o.flip, o.mean, o.std}, plain = {0, 0, o.mean, o.std};
    /* warm-up, then cosine to lr * min_lr_frac at the last step; decay on the matrices only (and the norms
     * with --decay-norm) */
    const dytcl_model_optim optim = {o.lr, o.min_lr_frac, o.warmup, (int)total, 0.9f, o.beta2, 1e-8f,
                                     o.weight_decay, o.clip, o.decay_norm};
    const int tty = isatty(2);
    for (int epoch = epoch0; epoch < o.epochs; epoch++) {
        uint64_t shuffle = epoch_seed(&o, epoch);
        dy_image_set_shuffle(order, train.n, &shuffle);
        double t0 = dytcl_now_ms(), loss_sum = 0;
        int counted = 0;
        for (int i = 0; i < per_epoch; i++) {
            dy_image_set_batch(&train, order, i * B, B, &aug, &aug_rng, x, y);
            float loss = 0, grad_norm = 0;
            ++step;
            /* drop-path masks from the seed and the step: a resumed run draws the same */
            const dytcl_model_regularization reg = {o.drop_path, o.label_smoothing,
                                                    o.seed * 0xA24BAED4963EE407ull ^ (uint64_t)step};
            if (dytcl_model_zero_grad(v) || dytcl_model_regularize(v, &reg) || dytcl_model_forward_images(v, x, y) ||
                dytcl_model_backward(v, 1.0f) ||
                dytcl_model_step(v, &optim, (int)step) || dytcl_model_step_stats(v, &loss, 1, &grad_norm)) {
                cli_error("train-image", 1, "epoch %d step %ld: %s", epoch + 1, step, dytcl_last_error(ctx));
                goto done;
            }
            if (!isfinite(loss)) {
                cli_error("train-image", 1, "epoch %d step %ld: the loss is %g", epoch + 1, step, (double)loss);
                goto done;
            }
            loss_sum += loss, counted++;
            if (tty) {
                double s = (dytcl_now_ms() - t0) / 1e3, ips = (double)(i + 1) * B / s;
                fprintf(stderr, "\r\033[Kepoch %d/%d  step %d/%d  loss %.4f  %.0f img/s  ETA %.0fs", epoch + 1,
                        o.epochs, i + 1, per_epoch, (double)loss, ips, (per_epoch - i - 1) * (double)B / ips);
                fflush(stderr);
            }
        }
        const double secs = (dytcl_now_ms() - t0) / 1e3, ips = (double)train.n / secs;
        double tloss = 0, acc = 0;
        if (cli_image_eval(v, &test, &plain, NULL, &tloss, &acc)) {
            cli_error("train-image", 1, "evaluation: %s", dytcl_last_error(ctx));
            goto done;
        }
        if (tty) fprintf(stderr, "\r\033[K");
        printf("epoch %d/%d  train loss %.4f  test loss %.4f  test accuracy %.2f%%  %.0f img/s  %.1fs\n", epoch + 1,
               o.epochs, loss_sum / counted, tloss, 100 * acc, ips, secs);
        fflush(stdout);
        if (csv)
            fprintf(csv, "%d,%ld,%.6g,%.6f,%.6f,%.6f,%.1f,%.2f\n", epoch + 1, step, (double)dytcl_lr_at(&optim, (int)step),
                    loss_sum / counted, tloss, acc, ips, secs), fflush(csv);
        if (save(v, &o, epoch + 1, step, aug_rng, acc)) goto done;
        if (o.stop_after && epoch + 1 >= o.stop_after && epoch + 1 < o.epochs) {
            printf("stopped after epoch %d (--stop-after); continue with --resume %s\n", epoch + 1, o.out);
            break;
        }
    }
    rc = 0;
done:
    output_lock_release(&locks[0]), output_lock_release(&locks[1]);
    if (csv) fclose(csv);
    free(x), free(y), free(order);
    dy_image_set_free(&train), dy_image_set_free(&test);
    dytcl_meta_clear(&md);
    dytcl_model_free(v);
    dytcl_ctx_free(ctx);
    return rc;
}
