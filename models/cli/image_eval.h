/* image_eval.h -- the evaluation loop that train-image and classify share
 * (cmd_classify.c). */
#ifndef DYTCL_IMAGE_EVAL_H
#define DYTCL_IMAGE_EVAL_H

#include "idx.h"
#include "dytcl_model.h"

/* Mean loss and accuracy of v over every image of s, at the model's batch
 * size (256 when none is set), each image's predicted class into pred (may
 * be NULL); pixels normalised by norm (no augmentation). 0, or -1 with the
 * reason in dytcl_last_error of the model's context. */
int cli_image_eval(dytcl_model *m, const image_set *s, const image_aug *norm, int *pred, double *loss, double *acc);

#endif
