/* cmd_classify.c -- `dytcl classify --model CKPT IMAGES LABELS`: a
 * train-image checkpoint's prediction for every image, and its accuracy;
 * and the evaluation loop that train-image shares. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "idx.h"
#include "image_eval.h"
#include "opts.h"

int cli_image_eval(dytcl_model *m, const image_set *s, const image_aug *norm, int *pred, double *loss, double *acc)
{
    int B = 0;
    dytcl_model_batch(m, &B, NULL);
    if (!B && dytcl_model_set_batch(m, s->n < 256 ? s->n : 256, 0)) return -1;
    dytcl_model_batch(m, &B, NULL);
    float *x = malloc((size_t)B * s->H * s->W * sizeof *x);
    int32_t *y = malloc((size_t)B * sizeof *y), *best = malloc((size_t)B * sizeof *best);
    double sum = 0;
    long right = 0;
    int rc = !x || !y || !best;
    for (int start = 0; !rc && start < s->n; start += B) {
        float l = 0;
        dy_image_set_batch(s, NULL, start, B, norm, NULL, x, y);
        if (dytcl_model_forward_images(m, x, y) || dytcl_model_read_loss(m, &l) ||
            dytcl_model_read_predictions(m, best)) {
            rc = -1;
            break;
        }
        const int rows = s->n - start < B ? s->n - start : B;
        sum += (double)l * rows;
        for (int b = 0; b < rows; b++) {
            right += best[b] == y[b];
            if (pred) pred[start + b] = best[b];
        }
    }
    free(x), free(y), free(best);
    if (rc) return -1;
    *loss = sum / s->n, *acc = (double)right / s->n;
    return 0;
}

typedef struct {
    const char *model;
    int limit, batch;
} classify_args;

static const opt_spec specs[] = {
#define F(f) offsetof(classify_args, f)
    {"model", OPT_STR, F(model), "CKPT", .help = "a checkpoint of dytcl train-image (required)"},
    {"limit", OPT_INT, F(limit), "N", 0, 1 << 24, .help = "the first N images (0: all)"},
    {"batch", OPT_INT, F(batch), "B", 1, 65536, .help = "images per forward pass"},
#undef F
};
static const opt_cmd classify_cmd = {
    "classify", "--model CKPT [options] IMAGES LABELS",
    "Prints the predicted class of every image in the IDX file IMAGES (one line:\n"
    "index, prediction, label), then the accuracy against LABELS.\n",
    NULL, specs, (int)(sizeof specs / sizeof specs[0]), 2, NULL};

int cmd_classify(int argc, char **argv)
{
    classify_args a = {NULL, 0, 256};
    opt_seen seen;
    int rc = opt_parse(&classify_cmd, argc, argv, &a, &seen);
    if (rc >= 0) return rc;
    if (!a.model) return cli_error("classify", 2, "--model: required (a checkpoint of dytcl train-image)");
    if (seen.npos != 2) return cli_error("classify", 2, "IMAGES and LABELS: required (%d given)", seen.npos);
    const char *model = a.model, *files[2] = {seen.pos[0], seen.pos[1]};
    const long limit = a.limit, batch = a.batch;
    char err[1400];
    image_set s = {0};
    dytcl_ctx *ctx = NULL;
    dytcl_model *v = NULL;
    dytcl_meta md = {0};
    int *pred = NULL;
    rc = 1;
    if (dy_image_set_load(files[0], files[1], (int)limit, 0, &s, err, sizeof err)) {
        cli_error("classify", 1, "%s", err);
        goto done;
    }
    if (dytcl_ctx_create(NULL, &ctx)) {
        cli_error("classify", 1, "%s", dytcl_last_error(NULL));
        goto done;
    }
    if (dytcl_model_load(ctx, model, &md, NULL, &v)) {
        cli_error("classify", 1, "%s", dytcl_last_error(ctx));
        goto done;
    }
    const dytcl_model_config *c = dytcl_model_get_config(v);
    if (c->arch != DYTCL_ARCH_VIT || c->image_height != s.H || c->image_width != s.W || c->image_channels != 1 ||
        s.classes > c->classes) {
        cli_error("classify", 1, "%s takes %d x %d images of %d classes; %s has %d x %d images, labels up to %d", model,
                  c->image_height, c->image_width, c->classes, files[0], s.H, s.W, s.classes - 1);
        goto done;
    }
    /* the normalisation the model was trained with */
    const char *mean = dytcl_meta_get(&md, "train.mean"), *std = dytcl_meta_get(&md, "train.std");
    image_aug norm = {0, 0, mean ? strtof(mean, NULL) : 0.0f, std ? strtof(std, NULL) : 1.0f};
    if (!(norm.std > 0)) norm.std = 1.0f;
    double loss = 0, acc = 0;
    pred = malloc((size_t)s.n * sizeof *pred);
    if (!pred || dytcl_model_set_batch(v, (int)(batch < s.n ? batch : s.n), 0) ||
        cli_image_eval(v, &s, &norm, pred, &loss, &acc)) {
        cli_error("classify", 1, "%s", pred ? dytcl_last_error(ctx) : "out of memory");
        goto done;
    }
    printf("index,prediction,label\n");
    for (int i = 0; i < s.n; i++) printf("%d,%d,%d\n", i, pred[i], s.labels[i]);
    printf("accuracy %.2f%% (%ld of %d), mean loss %.4f\n", 100 * acc, lround(acc * s.n), s.n, loss);
    rc = 0;
done:
    free(pred);
    dy_image_set_free(&s);
    dytcl_meta_clear(&md);
    dytcl_model_free(v);
    dytcl_ctx_free(ctx);
    return rc;
}
